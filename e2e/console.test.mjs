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
