// The dashboard extension: the Users list (search), refusals shown as flash
// messages (no consent, rate limit), and the Impersonate action of the
// dashboard's own records view, which must go through the plugin's route.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser, expectBannerActing, STAFF_RULE } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

// plugin/builtin record which impersonation routes the browser called.
function watchRoutes(ctx) {
    const seen = { plugin: 0, builtin: 0 };
    ctx.on("request", (req) => {
        const u = new URL(req.url());
        if (req.method() === "POST" && u.pathname === "/api/impersonation/sessions") seen.plugin++;
        if (/^\/api\/collections\/[^/]+\/impersonate\//.test(u.pathname)) seen.builtin++;
    });
    return seen;
}

test("Users list: consent and live state per row, search", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const dash = await r.page();
        await r.loginDashboard(dash);
        await r.openImpersonation(dash, "users");
        const rows = dash.locator('[data-testid="users-row"]');
        await rows.first().waitFor();
        // every user of the collection, sorted by email
        const emails = await rows.evaluateAll((els) => els.map((el) => el.querySelector("small")?.textContent));
        assert.deepEqual(
            emails,
            Object.values(s.users)
                .map((u) => u.email)
                .sort(),
        );
        await r.usersRow(dash, s.users.alice).locator('[data-testid="consent-active"]').waitFor();
        await r.usersRow(dash, s.users.carol).locator('[data-testid="consent-none"]').waitFor();

        await dash.locator('[data-testid="users-search"]').fill("car");
        await dash.waitForFunction(() => document.querySelectorAll('[data-testid="users-row"]').length === 1);
        assert.match(await rows.first().innerText(), /carol@example\.com/);
    })(t),
);

test("records view: the Impersonate action goes through the plugin route", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const ctx = await r.context();
        const routes = watchRoutes(ctx);
        const dash = await ctx.newPage();
        await r.loginDashboard(dash);
        await dash.goto(`${r.url}/_/#/collections?collection=users`);
        const { alice } = s.users;

        // the edit panel's own "Impersonate" menu item opens the plugin's dialog
        await dash.locator(`[data-testid="records-impersonate"][data-id="${alice.id}"]`).waitFor();
        await dash.locator("tbody tr td").filter({ hasText: alice.email }).click();
        const menu = dash.locator(".modal-header-dropdown");
        await dash.locator('button[popovertarget$="modal-header-dropdown"]').click();
        await menu.getByRole("button", { name: "Impersonate" }).click();
        const dlg = dash.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        assert.match(await dlg.locator('[data-testid="imp-confirm"]').innerText(), /act as Alice/);
        await dlg.locator('[data-testid="imp-cancel"]').click();
        await dlg.waitFor({ state: "detached" });
        await dash.goto(`${r.url}/_/#/collections?collection=users`);
        await dash.locator(".record-upsert-modal").waitFor({ state: "hidden" });

        // the row's Impersonate button starts a session through the plugin
        const btn = dash.locator(`[data-testid="records-impersonate"][data-id="${alice.id}"]`);
        await btn.click();
        const imp = await r.submitImpersonateDialog(dash, { reason: "records view check" });
        await imp.waitForURL(`${r.url}/`);
        await expectBannerActing(imp, alice);
        await expectProductUser(imp, alice);
        assert.equal(routes.plugin, 1, "one start through POST /api/impersonation/sessions");
        assert.equal(routes.builtin, 0, "the built-in impersonate route is never called");
        const sessions = await h.server.ok(
            "GET",
            `/api/collections/impersonation_sessions/records?filter=${encodeURIComponent('reason = "records view check"')}`,
            { token: s.superToken },
        );
        assert.equal(sessions.items.length, 1);

        // the records view opened directly (a reload, a bookmark) has the action too
        await dash.bringToFront();
        await dash.reload();
        await dash.locator("tbody tr td").filter({ hasText: alice.email }).waitFor();
        await dash
            .locator(`[data-testid="records-impersonate"][data-id="${alice.id}"]`)
            .waitFor({ timeout: 5000 })
            .catch((err) => {
                throw new Error(
                    `after a reload of the records view its rows have no Impersonate action: ${err.message}`,
                );
            });
    })(t),
);

test(
    "Audit: chain status, filter by event, export; Policies: the server's validation messages",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            r.allowStatus(400);
            const dash = await r.page({ acceptDownloads: true });
            await r.loginDashboard(dash);
            await r.openImpersonation(dash, "audit");

            // the chain is verified on open
            const verified = await h.server.ok("GET", "/api/impersonation/audit/verify", { token: s.superToken });
            assert.equal(verified.ok, true);
            await dash.locator('[data-testid="audit-chain"]').filter({ hasText: "Audit chain intact" }).waitFor();

            // the date and time filters show their whole value
            for (const name of ["from", "to"]) {
                const input = dash.locator(`[data-testid="audit-filter-${name}"]`);
                await input.fill("2026-01-31T23:59");
                const m = await input.evaluate((el) => ({
                    scroll: el.scrollWidth,
                    client: el.clientWidth,
                    width: el.getBoundingClientRect().width,
                }));
                assert.ok(m.scroll <= m.client, `the ${name} input is clipped: ${JSON.stringify(m)}`);
                assert.ok(m.width >= 220, `the ${name} input is wide enough for a date and time: ${m.width}px`);
                await input.fill("");
            }

            // filter by event
            const granted = await h.server.ok(
                "GET",
                `/api/collections/impersonation_audit/records?filter=${encodeURIComponent('event = "consent.granted"')}`,
                { token: s.superToken },
            );
            assert.ok(granted.totalItems >= 1);
            await dash.locator('[data-testid="audit-filter-event"]').selectOption("consent.granted");
            await dash.locator('[data-testid="audit-apply"]').click();
            await dash.waitForFunction((n) => {
                const rows = [...document.querySelectorAll('[data-testid="audit-row"]')];
                return rows.length === n && rows.every((row) => row.dataset.event === "consent.granted");
            }, granted.totalItems);

            // export what the filter shows, as JSON lines
            const download = dash.waitForEvent("download");
            await dash.locator('[data-testid="audit-export-jsonl"]').click();
            const file = await (await download).path();
            const lines = (await import("node:fs"))
                .readFileSync(file, "utf8")
                .trim()
                .split("\n")
                .map((l) => JSON.parse(l));
            assert.deepEqual(lines.map((e) => e.id).sort(), granted.items.map((e) => e.id).sort());

            // Policies: a bad route rule is refused with the server's message, a good one saved
            await dash.locator('[data-testid="imp-tab-policies"]').click();
            const row = dash.locator('[data-testid="policies-row"]').filter({ hasText: "users" });
            await row.locator('[data-testid="policies-edit"]').click();
            const dlg = dash.locator('[data-testid="policy-dialog"]');
            await dlg.waitFor();
            await dlg.locator('[data-testid="policy-deniedRoutes"]').fill("billing");
            await dlg.locator('[data-testid="policy-save"]').click();
            const err = dlg.locator('[data-testid="policy-error-deniedRoutes"]');
            await err.filter({ hasText: 'want "METHOD /path"' }).waitFor();
            await dlg.locator('[data-testid="policy-deniedRoutes"]').fill("POST /api/billing/*");
            await dlg.locator('[data-testid="policy-save"]').click();
            await r.dashboardToast(dash, "The policy of users has been saved.");
            await dlg.waitFor({ state: "detached" });
            const saved = await h.server.ok("GET", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
                token: s.superToken,
            });
            assert.deepEqual(saved.deniedRoutes, ["POST /api/billing/*"]);
            assert.equal(saved.impersonatorRule, STAFF_RULE, "the other fields are kept");
        })(t),
);

test("Spanish from the browser language, dates included; the switch flips to English", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const consent = await h.server.ok("GET", "/api/impersonation/consent", { token: s.users.alice.token });
        const fmt = (lang) =>
            new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(
                new Date(consent.expires.replace(" ", "T")),
            );
        const dash = await r.page({ locale: "es-ES" });
        await r.loginDashboard(dash);
        assert.equal(await dash.locator('.app-header a[href="#/impersonation"]').innerText(), "Suplantación");
        await r.openImpersonation(dash, "users");
        assert.equal(await dash.locator('[data-testid="imp-tab-sessions"]').innerText(), "Sesiones");
        const consentCell = r.usersRow(dash, s.users.alice).locator('[data-testid="users-consent"]');
        await consentCell.locator('[data-testid="consent-active"]').filter({ hasText: "Dado" }).waitFor();
        const es = await consentCell.innerText();
        assert.ok(es.includes(`hasta ${fmt("es")}`), `Spanish date ${fmt("es")}: ${es}`);
        assert.match(es, /quedan \d+ h/);
        await r.screenshot(dash, "dashboard-users-es.png");

        // the Audit tab in Spanish: the export buttons and an entry's details
        await dash.locator('[data-testid="imp-tab-audit"]').click();
        assert.equal(await dash.locator('[data-testid="audit-export-jsonl"]').innerText(), "Exportar en líneas JSON");
        await dash.locator('[data-testid="audit-row"]').first().waitFor();
        await dash.locator('[data-testid="audit-details-toggle"]').first().click();
        const details = dash.locator('[data-testid="entry-details"]').first();
        await details.waitFor();
        const labels = await details.locator("dt").allInnerTexts();
        assert.ok(labels.includes("Número de secuencia"), `Spanish labels: ${labels}`);
        for (const key of ["id", "seq", "event", "created", "hash"]) {
            assert.ok(!labels.includes(key), `no raw key ${key}: ${labels}`);
        }
        await dash.locator('[data-testid="imp-tab-users"]').click();

        await dash.locator('[data-testid="imp-lang"]').selectOption("en");
        await consentCell.locator('[data-testid="consent-active"]').filter({ hasText: "Given" }).waitFor();
        assert.ok((await consentCell.innerText()).includes(`until ${fmt("en")}`));
        assert.equal(await dash.locator('.app-header a[href="#/impersonation"]').innerText(), "Impersonation");
    })(t),
);

// last: it lowers the policy's attempts per minute
test("refusals show as flash messages: no consent, rate limit", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        r.allowStatus(403, 429);
        const ctx = await r.context();
        const dash = await ctx.newPage();
        await r.loginDashboard(dash);
        await r.openImpersonation(dash, "users");
        const carol = r.usersRow(dash, s.users.carol);

        // no consent: the refusal's own message; the new tab is closed again
        await carol.locator('[data-testid="users-impersonate"]').click();
        const tab = await r.submitImpersonateDialog(dash);
        const toast = await r.dashboardToast(dash, "The user has not consented to be impersonated.");
        assert.match(await toast.getAttribute("class"), /\berror\b/);
        if (!tab.isClosed()) await tab.waitForEvent("close");
        assert.equal(ctx.pages().length, 1, "only the dashboard is left open");
        const denied = await h.server.ok(
            "GET",
            `/api/collections/impersonation_audit/records?filter=${encodeURIComponent(`event = "session.denied" && target = "${s.users.carol.id}"`)}`,
            { token: s.superToken },
        );
        assert.equal(denied.items.length, 1);
        assert.equal(denied.items[0].data.code, "consent_required");
        // the dialog stays open for another try; cancel it
        await dash.locator('[data-testid="imp-cancel"]').click();
        await dash.locator('[data-testid="imp-dialog"]').waitFor({ state: "detached" });

        // rate limited: one attempt a minute, and one was just made
        await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
            token: s.superToken,
            body: { attemptsPerMinute: 1 },
        });
        await dash.locator(".toasts-container .toast-remove").first().click();
        await r.usersRow(dash, s.users.alice).locator('[data-testid="users-impersonate"]').click();
        const tab2 = await r.submitImpersonateDialog(dash);
        const toast2 = await r.dashboardToast(dash, "Too many impersonation attempts; try again in a minute.");
        assert.match(await toast2.getAttribute("class"), /\berror\b/);
        if (!tab2.isClosed()) await tab2.waitForEvent("close");
        await r.screenshot(dash, "refusal-flash.png", { keepToasts: true });
    })(t),
);
