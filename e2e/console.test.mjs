// The support console (/impersonation/console/): staff who are not
// superusers sign in with their own account, see only the users their
// policy's impersonatorRule allows, and impersonate them in a new tab.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser, expectBannerActing } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

async function openConsole(r, page, user) {
    await page.goto(`${r.url}/impersonation/console/`);
    await r.login(page, user);
    await page.locator('[data-testid="targets-table"]').waitFor();
    await page.locator('[data-testid="target-row"]').first().waitFor();
}

test("staff see only the users their rule allows and impersonate one in a new tab", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const { staff, alice, bob } = s.users;
        const ctx = await r.context();
        // the staff member's own product login in another tab
        const productTab = await ctx.newPage();
        await r.loginProduct(productTab, staff);

        const page = await ctx.newPage();
        await openConsole(r, page, staff);
        // the rule: staff@example.com acts as anyone but Carol; never as themselves
        const ids = await page
            .locator('[data-testid="target-row"]')
            .evaluateAll((rows) => rows.map((row) => row.dataset.recordId));
        assert.deepEqual(ids.sort(), [alice.id, bob.id, s.users.xss.id].sort());
        const aliceRow = page.locator(`[data-testid="target-row"][data-record-id="${alice.id}"]`);
        await aliceRow.locator('[data-testid="consent-state"][data-state="active"]').waitFor();
        await page
            .locator(
                `[data-testid="target-row"][data-record-id="${bob.id}"] [data-testid="consent-state"][data-state="none"]`,
            )
            .waitFor();
        // a start without consent is not offered: it would only be refused and
        // count toward the limit
        const bobRow = page.locator(`[data-testid="target-row"][data-record-id="${bob.id}"]`);
        await bobRow
            .locator('[data-testid="needs-consent"]')
            .filter({ hasText: "Waiting for their consent" })
            .waitFor();
        assert.equal(await bobRow.locator('[data-testid="impersonate"]').count(), 0);
        assert.equal(await aliceRow.locator('[data-testid="impersonate"]').count(), 1);
        await r.screenshot(page, "console.png");

        // search narrows the list
        await page.locator('[data-testid="targets-search"]').fill("ali");
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="target-row"]').length === 1);
        await page.locator('[data-testid="targets-search"]').fill("");
        await page.waitForFunction(() => document.querySelectorAll('[data-testid="target-row"]').length === 3);

        // impersonate Alice: reason required, the dialog says what happens
        await aliceRow.locator('[data-testid="impersonate"]').click();
        const dlg = page.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        assert.match(
            await dlg.locator('[data-testid="imp-confirm"]').innerText(),
            /You will temporarily act as Alice and have their permissions/,
        );
        // the dashboard dialog's defaults: 30 minutes (under the policy's 60), the policy's default mode
        assert.equal(await dlg.locator('[data-testid="imp-minutes"]').inputValue(), "30");
        assert.equal(await dlg.locator('[data-testid="imp-mode-read"]').isChecked(), true);
        await dlg.locator('[data-testid="imp-submit"]').click();
        await dlg.locator("#imp-reason-error").waitFor();
        assert.equal(ctx.pages().length, 2, "no tab opened without a reason");
        await dlg.locator('[data-testid="imp-reason"]').fill("chat 99: profile question");
        await dlg.locator('[data-testid="imp-minutes"]').fill("15");
        const popup = ctx.waitForEvent("page");
        await dlg.locator('[data-testid="imp-submit"]').click();
        const imp = await popup;
        await imp.waitForURL(`${r.url}/`);
        await expectBannerActing(imp, alice);
        await expectProductUser(imp, alice);
        assert.match(await imp.locator('[data-testid="impersonation-countdown"]').textContent(), /^1[45] min left$/);
        await page.locator('[data-testid="flash"][data-type="success"]').filter({ hasText: "Alice" }).waitFor();

        // the session is the staff member's
        const token = JSON.parse(await imp.evaluate(() => sessionStorage.getItem("pocketbase_impersonation"))).token;
        const current = await h.server.ok("GET", "/api/impersonation/current", { token });
        assert.equal(current.actor.id, staff.id);
        assert.equal(current.mode, "read");
        // the console's live column follows
        await aliceRow.locator('[data-testid="live-session"][data-state="live"]').waitFor();

        // the staff member's own product tab is untouched
        await productTab.reload();
        await expectProductUser(productTab, staff);
    })(t),
);

test("a user the rule does not allow is not listed, and starting on them is refused", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        // Bob is no impersonator: the console says so
        const page = await r.page();
        r.allowStatus(403);
        await page.goto(`${r.url}/impersonation/console/`);
        await r.login(page, s.users.bob);
        await page.locator('[data-testid="console-error"]').waitFor();
        assert.equal(await page.locator('[data-testid="target-row"]').count(), 0);
        // and the API agrees for Carol under the staff member
        const res = await h.server.api("POST", "/api/impersonation/sessions", {
            token: s.users.staff.token,
            body: { collection: "users", record: s.users.carol.id, reason: "not allowed" },
        });
        assert.equal(res.status, 403);
    })(t),
);

test(
    "keyboard: sign in, reach Impersonate, open the dialog, Escape closes it and gives the focus back",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            const { staff, alice } = s.users;
            const page = await r.page();
            await page.goto(`${r.url}/impersonation/console/`);
            // the sign-in form has the focus; type, Tab, type, Enter
            await page.locator("#login-email").waitFor();
            assert.equal(await page.evaluate(() => document.activeElement?.id), "login-email");
            await page.keyboard.type(staff.email);
            await page.keyboard.press("Tab");
            await page.keyboard.type(staff.password);
            await page.keyboard.press("Enter");
            await page.locator('[data-testid="target-row"]').first().waitFor();

            // Tab from the search box to Alice's Impersonate button
            await page.locator('[data-testid="targets-search"]').focus();
            let reached = false;
            for (let i = 0; i < 30 && !reached; i++) {
                await page.keyboard.press("Tab");
                reached = await page.evaluate(
                    (id) => document.activeElement?.matches(`[data-testid="impersonate"][data-record-id="${id}"]`),
                    alice.id,
                );
            }
            assert.ok(reached, "Alice's Impersonate button is reachable with Tab");
            await page.keyboard.press("Enter");
            const dlg = page.locator('[data-testid="imp-dialog"]');
            await dlg.waitFor();
            assert.equal(
                await page.evaluate(() => document.activeElement?.id),
                "imp-reason",
                "the focus moves into the dialog",
            );
            // Tab stays inside the dialog
            for (let i = 0; i < 12; i++) {
                await page.keyboard.press("Tab");
                assert.ok(
                    await page.evaluate(() => !!document.activeElement?.closest('[data-testid="imp-dialog"]')),
                    "the focus stays in the dialog",
                );
            }
            await page.keyboard.press("Escape");
            await dlg.waitFor({ state: "detached" });
            assert.ok(
                await page.evaluate(
                    (id) => document.activeElement?.matches(`[data-testid="impersonate"][data-record-id="${id}"]`),
                    alice.id,
                ),
                "the focus is back on the button",
            );
        })(t),
);

test("phone width (375 px): the console has no horizontal scroll", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const page = await r.page({
            viewport: { width: 375, height: 740 },
            isMobile: true,
            hasTouch: true,
            deviceScaleFactor: 2,
        });
        await openConsole(r, page, s.users.staff);
        const m = await page.evaluate(() => ({
            scroll: document.documentElement.scrollWidth,
            client: document.documentElement.clientWidth,
        }));
        assert.ok(m.scroll <= m.client, `horizontal scroll at ${m.client}px: the page is ${m.scroll}px wide`);
        await page.locator('[data-testid="impersonate"]').first().click();
        await page.locator('[data-testid="imp-dialog"]').waitFor();
        const d = await page.evaluate(() => {
            const box = document.querySelector('[data-testid="imp-dialog"]').getBoundingClientRect();
            return {
                left: box.left,
                right: box.right,
                width: window.innerWidth,
                scroll: document.documentElement.scrollWidth,
            };
        });
        assert.ok(d.left >= 0 && d.right <= d.width && d.scroll <= d.width, `the dialog fits: ${JSON.stringify(d)}`);
        await r.screenshot(page, "console-phone.png");
    })(t),
);

test("emails and ids do not break mid-word at 1280 px", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        // a user with a long email and name (the staff rule lets staff act as them)
        const long = {
            email: "maximiliana.fernandez-delacroix@customer-accounts.example.com",
            password: "Long12345678!",
        };
        const rec = await h.server.ok("POST", "/api/collections/users/records", {
            body: {
                ...long,
                passwordConfirm: long.password,
                name: "Maximiliana Fernández-Delacroix",
                emailVisibility: true,
            },
        });
        await h.server.ok("PUT", "/api/impersonation/consent", {
            token: (
                await h.server.ok("POST", "/api/collections/users/auth-with-password", {
                    body: { identity: long.email, password: long.password },
                })
            ).token,
            body: { hours: 1 },
        });
        const page = await r.page({ viewport: { width: 1280, height: 800 } });
        await openConsole(r, page, s.users.staff);
        const row = page.locator(`[data-testid="target-row"][data-record-id="${rec.id}"]`);
        await row.waitFor();
        // each email and id sits on one line, whole
        const lines = (els) =>
            els.map((el) => {
                const range = document.createRange();
                range.selectNodeContents(el);
                return {
                    text: el.textContent,
                    lines: new Set([...range.getClientRects()].map((b) => Math.round(b.top))).size,
                    whole: el.scrollWidth <= el.clientWidth,
                    wrap: getComputedStyle(el).whiteSpace,
                };
            });
        const check = (cells) => {
            for (const c of cells) {
                assert.equal(c.lines, 1, `${c.text} is on one line: ${JSON.stringify(c)}`);
                assert.ok(c.whole, `${c.text} is shown whole: ${JSON.stringify(c)}`);
                assert.equal(c.wrap, "nowrap", `${c.text}: ${JSON.stringify(c)}`);
            }
        };
        const cells = await page.locator('[data-testid="target-row"] .user-cell .cell-sub').evaluateAll(lines);
        assert.ok(cells.some((c) => c.text === long.email) && cells.some((c) => c.text === rec.id));
        check(cells);
        const m = await page.evaluate(() => [
            document.documentElement.scrollWidth,
            document.documentElement.clientWidth,
        ]);
        assert.ok(m[0] <= m[1], `no horizontal scroll: ${m}`);
        // the dialog's email too
        await row.locator('[data-testid="impersonate"]').click();
        const dlg = page.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        check(await dlg.locator('[data-testid="imp-confirm"] .cell-sub').evaluateAll(lines));
        await dlg.locator('[data-testid="imp-cancel"]').click();
    })(t),
);

test(
    "sign-in lists the collections staff can sign in to; a staff member of another one signs in there",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            // a second auth collection, with a staff member the policy's rule admits
            await h.server.ok("POST", "/api/collections", {
                token: s.superToken,
                body: { name: "agents", type: "auth" },
            });
            const agent = { email: "staff@example.com", password: "Agent12345!" };
            const rec = await h.server.ok("POST", "/api/collections/agents/records", {
                token: s.superToken,
                body: { ...agent, passwordConfirm: agent.password },
            });
            const page = await r.page();
            await page.goto(`${r.url}/impersonation/console/`);
            const choice = page.locator('[data-testid="login-collection"]');
            await choice.waitFor();
            assert.deepEqual(await choice.locator("option").evaluateAll((o) => o.map((x) => x.value)), [
                "agents",
                "users",
            ]);
            assert.equal(await choice.inputValue(), "users", "the users collection first");
            await r.screenshot(page, "console-sign-in.png");
            // a wrong password says the same as an unknown email: nothing about who exists where
            r.allowStatus(400);
            await choice.selectOption("agents");
            await page.locator("#login-email").fill(agent.email);
            await page.locator("#login-password").fill("wrong-password");
            await page.locator("#login-submit").click();
            await page.locator("#login-error").filter({ hasText: "Invalid email or password." }).waitFor();
            await page.locator("#login-password").fill(agent.password);
            await page.locator("#login-submit").click();
            await page.locator('[data-testid="target-row"]').first().waitFor();
            const signedIn = await page.evaluate(() =>
                JSON.parse(localStorage.getItem("pb_impersonation_console_auth")),
            );
            assert.equal(signedIn.record.id, rec.id);
            assert.equal(signedIn.record.collectionName, "agents");
        })(t),
);
