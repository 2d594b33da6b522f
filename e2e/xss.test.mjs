// Every user-provided string renders as text: a user named
// <img src=x onerror=alert(1)>, and a reason full of markup, in the
// dashboard (Users, dialog, Sessions, timeline, Audit), the console, the
// banner, the product and the user's own history. Any dialog fails the test
// (the harness), and no element the strings describe may exist.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectBannerActing, XSS_NAME } from "./harness.mjs";

const XSS_REASON = `<script>alert("reason")</script><img src=y onerror=alert(2)> "quoted" & 'single'`;

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["xss"] });
});
after(() => h?.close());

// injected reports any element the strings would have created.
async function assertNoInjection(page, where) {
    const found = await page.evaluate(() =>
        [...document.querySelectorAll('img[src="x"], img[src="y"], script:not([src]):not([type])')]
            .filter((el) => !(el.tagName === "SCRIPT" && el.textContent.trim() === ""))
            .map((el) => el.outerHTML),
    );
    assert.deepEqual(found, [], `${where}: markup from user strings became elements`);
}

test(
    "a hostile name and reason render as text in the dashboard, the banner, the product and the sessions list",
    { timeout: 90000 },
    (t) =>
        h.test(async (r) => {
            const { xss } = s.users;
            const ctx = await r.context();
            const dash = await ctx.newPage();
            await r.loginDashboard(dash);
            await r.openImpersonation(dash, "users");

            // the Users list
            const row = r.usersRow(dash, xss);
            await row.waitFor();
            assert.equal(await row.locator('[data-testid="users-name"]').textContent(), XSS_NAME);
            await assertNoInjection(dash, "dashboard Users");

            // the dialog names them as text; the reason goes in as typed
            await row.locator('[data-testid="users-impersonate"]').click();
            const dlg = dash.locator('[data-testid="imp-dialog"]');
            await dlg.waitFor();
            assert.ok(
                (await dlg.locator('[data-testid="imp-confirm"]').innerText()).includes(`act as ${XSS_NAME} and`),
            );
            await assertNoInjection(dash, "Impersonate dialog");
            const imp = await r.submitImpersonateDialog(dash, { reason: XSS_REASON });
            await imp.waitForURL(`${r.url}/`);

            // the banner and the product
            await expectBannerActing(imp, xss);
            assert.equal(await imp.locator('[data-testid="user-name"]').textContent(), XSS_NAME);
            assert.equal(await imp.locator("h1").textContent(), `Hello, ${XSS_NAME}`);
            await assertNoInjection(imp, "banner and product");
            await r.screenshot(imp, "banner-xss.png", { clip: { x: 0, y: 0, width: 1280, height: 300 } });

            // the Sessions list and the timeline
            await dash.bringToFront();
            await dash.locator('[data-testid="imp-tab-sessions"]').click();
            const srow = dash.locator('[data-testid="sessions-row"]').first();
            await srow.locator('[data-testid="sessions-live"]').waitFor();
            await srow.locator('[data-testid="sessions-target"]').filter({ hasText: XSS_NAME }).waitFor();
            assert.equal(await srow.locator('[data-testid="sessions-reason"]').textContent(), XSS_REASON);
            await assertNoInjection(dash, "dashboard Sessions");
            await srow.locator('[data-testid="sessions-timeline"]').click();
            const tl = dash.locator('[data-testid="timeline-dialog"]');
            await tl.locator('[data-testid="timeline-reason"]').waitFor();
            assert.equal(await tl.locator('[data-testid="timeline-reason"]').textContent(), XSS_REASON);
            assert.ok((await tl.locator('[data-testid="timeline-summary"]').innerText()).includes(XSS_NAME));
            await assertNoInjection(dash, "timeline");
            await tl.locator('[data-testid="timeline-close"]').click();

            // the Audit log
            await dash.locator('[data-testid="imp-tab-audit"]').click();
            await dash.locator('[data-testid="audit-row"]').first().waitFor();
            const audit = await dash.locator('[data-testid="audit-tab"]').innerText();
            assert.ok(audit.includes(XSS_NAME), "the audit names the user");
            await assertNoInjection(dash, "dashboard Audit");

            // the user's own history, as the user
            const own = await r.page();
            await own.goto(`${r.url}/impersonation/`);
            await r.login(own, xss);
            const item = own.locator('[data-testid="session"]').first();
            await item.waitFor();
            assert.equal(await item.locator('[data-testid="session-reason"]').textContent(), XSS_REASON);
            await assertNoInjection(own, "the user's page");
        })(t),
);

test("a hostile name renders as text in the support console and its dialog", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const { xss, staff } = s.users;
        const page = await r.page();
        await page.goto(`${r.url}/impersonation/console/`);
        await r.login(page, staff);
        const row = page.locator(`[data-testid="target-row"][data-record-id="${xss.id}"]`);
        await row.waitFor();
        assert.equal(await row.locator('[data-testid="target-name"]').textContent(), XSS_NAME);
        await assertNoInjection(page, "console list");
        await row.locator('[data-testid="impersonate"]').click();
        const dlg = page.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        assert.equal(await dlg.locator("h2").textContent(), `Impersonate ${XSS_NAME}`);
        assert.ok((await dlg.locator('[data-testid="imp-confirm"]').innerText()).includes(XSS_NAME));
        await assertNoInjection(page, "console dialog");
        // the session started from the dashboard test shows as live, by the superuser
        await row.locator('[data-testid="live-session"][data-state="live"]').waitFor();
    })(t),
);
