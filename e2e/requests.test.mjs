// Access by request: staff ask in the support console, the user answers on
// their page (approve, shortened and read-only; or decline), and an
// approved request starts exactly one session, which the user ends, and
// whose digest they then read.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectBannerActing } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server);
});
after(() => h?.close());

async function openConsole(r, page, user) {
    await page.goto(`${r.url}/impersonation/console/`);
    await r.login(page, user);
    await page.locator('[data-testid="target-row"]').first().waitFor();
}

async function openUserPage(r, page, user) {
    await page.goto(`${r.url}/impersonation/`);
    await r.login(page, user);
    await page.locator('[data-testid="consent-status"]').waitFor();
}

const rowOf = (page, user) => page.locator(`[data-testid="target-row"][data-record-id="${user.id}"]`);

test("ask → approve (shortened, read-only) → one session → the user ends it → its digest", { timeout: 90000 }, (t) =>
    h.test(async (r) => {
        const { staff, bob } = s.users;
        // Bob has his page open already: the request shows up there live
        const bobCtx = await r.context({ label: "bob" });
        const bobPage = await bobCtx.newPage();
        await openUserPage(r, bobPage, bob);
        assert.equal(await bobPage.locator('[data-testid="requests"]').count(), 0);

        const ctx = await r.context();
        const console_ = await ctx.newPage();
        await openConsole(r, console_, staff);

        // Bob has not consented: Ask is offered, Impersonate is not
        const row = rowOf(console_, bob);
        await row.locator('[data-testid="needs-consent"]').waitFor();
        assert.equal(await row.locator('[data-testid="impersonate"]').count(), 0);
        await row.locator('[data-testid="ask"]').click();
        const dlg = console_.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        assert.match(await dlg.innerText(), /Ask Bob for access/);
        await dlg.locator('[data-testid="imp-reason"]').fill("ticket 88: invoices missing");
        await dlg.locator('[data-testid="imp-minutes"]').fill("20");
        await dlg.locator('[data-testid="imp-mode-write"]').check();
        await dlg.locator('[data-testid="imp-submit"]').click();
        await console_.locator('[data-testid="flash"]').filter({ hasText: "Request sent to Bob" }).waitFor();
        await row.locator('[data-testid="request-state"][data-state="pending"]').waitFor();
        assert.equal(await row.locator('[data-testid="ask"]').count(), 0, "one pending request per user");

        // Bob sees it on his page, without reloading, and approves 10 minutes, read-only
        const request = bobPage.locator('[data-testid="requests"] [data-testid="request"]');
        await request.waitFor();
        assert.match(
            await request.innerText(),
            /Sam Staff \(staff@example\.com\) asks to act as you for up to 20 minutes/,
        );
        assert.match(await request.innerText(), /ticket 88: invoices missing/);
        await request.locator('[data-testid="request-minutes"]').fill("10");
        await request.locator('[data-testid="request-mode"]').selectOption("read");
        await r.screenshot(bobPage, "user-page-request.png");
        await request.locator('[data-testid="request-approve"]').click();
        await bobPage.locator('[data-testid="flash"]').filter({ hasText: "Approved." }).waitFor();
        await bobPage
            .locator('[data-testid="request"][data-status="approved"] [data-testid="request-withdraw"]')
            .waitFor();

        // staff: Impersonate is offered now, for at most 10 minutes, read-only
        await console_.reload();
        await row.locator('[data-testid="request-state"][data-state="approved"]').waitFor();
        await row.locator('[data-testid="impersonate"]').click();
        await dlg.waitFor();
        assert.equal(await dlg.locator('[data-testid="imp-mode-write"]').count(), 0);
        assert.equal(await dlg.locator('[data-testid="imp-minutes"]').getAttribute("max"), "10");
        await dlg.locator('[data-testid="imp-reason"]').fill("ticket 88: invoices missing");
        await dlg.locator('[data-testid="imp-minutes"]').fill("10");
        const popup = ctx.waitForEvent("page");
        await dlg.locator('[data-testid="imp-submit"]').click();
        const imp = await popup;
        await expectBannerActing(imp, bob);

        // exactly one session: the approval is used
        const again = await h.server.api("POST", "/api/impersonation/sessions", {
            token: staff.token,
            body: { collection: "users", record: bob.id, reason: "ticket 88: again" },
        });
        assert.equal(again.status, 403);

        // Bob sees the live session and ends it
        await bobPage.locator('[data-testid="live-sessions"]').waitFor();
        await bobPage.locator("#live-revoke").click();
        await bobPage.locator('[data-testid="live-sessions"]').waitFor({ state: "detached" });
        const sessions = await h.server.ok(
            "GET",
            `/api/collections/impersonation_sessions/records?filter=${encodeURIComponent(`target = "${bob.id}"`)}`,
            { token: s.superToken },
        );
        assert.equal(sessions.items.length, 1);
        assert.equal(sessions.items[0].endCause, "consent_revoked");

        // and, once it has ended, the digest of that one session
        const digest = bobPage.locator(
            `[data-testid="session"][data-session-id="${sessions.items[0].id}"] [data-testid="digest"]`,
        );
        await digest.waitFor(); // realtime, no reload
        assert.match(await digest.locator('[data-testid="digest-requests"]').textContent(), /users/);
    })(t),
);

test("ask → decline, in Spanish", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const { staff, alice } = s.users;
        const asked = await h.server.ok("POST", "/api/impersonation/requests", {
            token: staff.token,
            body: { collection: "users", record: alice.id, reason: "ticket 91: perfil", minutes: 15 },
        });
        const ctx = await r.context({ locale: "es-ES", label: "alice" });
        const page = await ctx.newPage();
        await openUserPage(r, page, alice);
        const request = page.locator(`[data-testid="request"][data-request-id="${asked.id}"]`);
        await request.waitFor();
        assert.match(await request.innerText(), /pide actuar como tú durante un máximo de 15 minutos/);
        await r.screenshot(page, "user-page-request-es.png");
        await request.locator('[data-testid="request-decline"]').click();
        await page.locator('[data-testid="flash"]').filter({ hasText: "Rechazada." }).waitFor();
        await request.waitFor({ state: "detached" });

        const list = await h.server.ok("GET", "/api/impersonation/requests", { token: staff.token });
        assert.equal(list.asked.find((x) => x.id === asked.id).status, "declined");
        const start = await h.server.api("POST", "/api/impersonation/sessions", {
            token: staff.token,
            body: { collection: "users", record: alice.id, reason: "ticket 91: perfil" },
        });
        assert.equal(start.status, 403);
    })(t),
);

test("the dashboard: Ask where consent is missing, the request's state, and break-glass", { timeout: 90000 }, (t) =>
    h.test(async (r) => {
        const { xss, carol } = s.users;
        const ctx = await r.context();
        const page = await ctx.newPage();
        await r.loginDashboard(page);
        await r.openImpersonation(page, "users");

        const row = r.usersRow(page, carol);
        await row.locator('[data-testid="users-ask"]').click();
        const dlg = page.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        assert.match(await dlg.innerText(), /Ask Carol for access/);
        await dlg.locator('[data-testid="imp-reason"]').fill("ticket 95: billing address");
        await dlg.locator('[data-testid="imp-submit"]').click();
        await r.dashboardToast(page, "Request sent to Carol");
        await row.locator('[data-testid="request-pending"]').waitFor();
        assert.equal(await row.locator('[data-testid="users-ask"]').count(), 0);
        assert.equal(
            await row.locator('[data-testid="users-break-glass"]').count(),
            0,
            "break-glass is off by default",
        );
        await r.screenshot(page, "dashboard-users-request.png");

        // break-glass, once the policy allows it: in the Policies tab
        await page.locator('[data-testid="imp-tab-policies"]').click();
        await page
            .locator('[data-testid="policies-row"]')
            .filter({ hasText: "users" })
            .locator('[data-testid="policies-edit"]')
            .click();
        const editor = page.locator('[data-testid="policy-dialog"]');
        await editor.locator('[data-testid="policy-breakGlass"]').check();
        await editor.locator('[data-testid="policy-oversightEmail"]').fill("oversight@example.com");
        await editor.locator('[data-testid="policy-breakGlassMinutes"]').fill("10");
        await r.screenshot(page, "policy-break-glass.png");
        await editor.locator('[data-testid="policy-save"]').click();
        await editor.waitFor({ state: "detached" });
        const saved = await h.server.ok("GET", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
            token: s.superToken,
        });
        assert.equal(saved.breakGlass, true);
        assert.equal(saved.oversightEmail, "oversight@example.com");
        assert.equal(saved.breakGlassMinutes, 10);
        assert.deepEqual(saved.breakGlassModes, ["read"]);
        assert.equal(saved.approval, "user");
        await page.locator('[data-testid="imp-tab-users"]').click();
        await page.locator('[data-testid="users-tab"]').waitFor();
        const xssRow = r.usersRow(page, xss);
        await xssRow.locator('[data-testid="users-break-glass"]').click();
        await dlg.waitFor();
        assert.equal(await dlg.locator('[data-testid="imp-mode-write"]').count(), 0, "read-only by default");
        await dlg.locator('[data-testid="imp-reason"]').fill("too short");
        await dlg.locator('[data-testid="imp-submit"]').click();
        await dlg.locator('[data-testid="imp-error-reason"]').filter({ hasText: "At least 20 characters" }).waitFor();
        const imp = await r.submitImpersonateDialog(page, { reason: "outage INC-7: the user's orders fail" });
        await expectBannerActing(imp, xss);
        const sessions = await h.server.ok(
            "GET",
            `/api/collections/impersonation_sessions/records?filter=${encodeURIComponent("breakGlass = true")}`,
            { token: s.superToken },
        );
        assert.equal(sessions.items.length, 1);
        assert.equal(sessions.items[0].target, xss.id);

        // one filter of the Audit tab lists the break-glass session's entries
        const flagged = await h.server.ok(
            "GET",
            `/api/collections/impersonation_audit/records?filter=${encodeURIComponent("data.breakGlass = true")}`,
            { token: s.superToken },
        );
        assert.ok(flagged.totalItems >= 3, "session.started and the session's requests");
        assert.ok(flagged.items.every((e) => e.session === sessions.items[0].id || e.event === "session.denied"));
        await page.locator('[data-testid="imp-tab-audit"]').click();
        await page.locator('[data-testid="audit-filter-breakGlass"]').check();
        await page.locator('[data-testid="audit-apply"]').click();
        await page.waitForFunction(
            (ids) => {
                const rows = [...document.querySelectorAll('[data-testid="audit-row"]')].map((r) => r.dataset.id);
                return rows.length === ids.length && rows.every((id) => ids.includes(id));
            },
            flagged.items.map((e) => e.id),
        );
        await r.screenshot(page, "audit-break-glass.png");

        // the user sees it flagged in their history, and ends it from their page
        const userPage = await r.page({ label: "xss" });
        await openUserPage(r, userPage, xss);
        await userPage.locator('[data-testid="session"] [data-testid="session-break-glass"]').waitFor();
        await userPage.locator("#live-revoke").click();
        await userPage.locator('[data-testid="live-sessions"]').waitFor({ state: "detached" });
        const ended = await h.server.ok(
            "GET",
            `/api/collections/impersonation_sessions/records/${sessions.items[0].id}`,
            {
                token: s.superToken,
            },
        );
        assert.equal(ended.endCause, "consent_revoked");
    })(t),
);

test("an approver answers on their own page; the user is told who approved", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const { staff, carol, xss } = s.users;
        await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
            token: s.superToken,
            // the earlier tests spent the staff member's attempts of this minute
            body: {
                approval: "approver",
                approverRule: '@request.auth.email = "carol@example.com"',
                attemptsPerMinute: 100,
            },
        });
        const asked = await h.server.ok("POST", "/api/impersonation/requests", {
            token: staff.token,
            body: { collection: "users", record: xss.id, reason: "ticket 99: settings", minutes: 30 },
        });
        try {
            const carolPage = await r.page({ label: "carol" });
            await openUserPage(r, carolPage, carol);
            const mine = carolPage.locator(`[data-testid="approver-requests"] [data-request-id="${asked.id}"]`);
            await mine.waitFor();
            // the user's name is rendered as text, never as HTML
            assert.match(await mine.innerText(), /asks to act as <img src=x onerror=alert\(1\)> \(xss@example\.com\)/);
            await r.screenshot(carolPage, "approver-page.png");
            await mine.locator('[data-testid="request-approve"]').click();
            await carolPage.locator('[data-testid="flash"]').filter({ hasText: "Approved." }).waitFor();
            await mine.waitFor({ state: "detached" });

            // the user sees who approved, and may withdraw it
            const userPage = await r.page({ label: "xss" });
            await openUserPage(r, userPage, xss);
            const theirs = userPage.locator(`[data-testid="requests"] [data-request-id="${asked.id}"]`);
            await theirs.filter({ hasText: "Approved by Carol (carol@example.com)" }).waitFor();
            await theirs.locator('[data-testid="request-withdraw"]').click();
            await userPage.locator('[data-testid="flash"]').filter({ hasText: "Approval withdrawn." }).waitFor();
            const list = await h.server.ok("GET", "/api/impersonation/requests", { token: staff.token });
            assert.equal(list.asked.find((x) => x.id === asked.id).status, "withdrawn");
        } finally {
            await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
                token: s.superToken,
                body: { approval: "user", approverRule: "", attemptsPerMinute: s.policy.attemptsPerMinute },
            });
        }
    })(t),
);
