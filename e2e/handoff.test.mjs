// The hand-off page and the session's mode as the product sees it: the
// token is accepted only from the opener on the same origin; a read-only
// session cannot save, a write session can.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser, expectBannerActing, sleep } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

test("handoff.html opened directly says so and stores nothing", { timeout: 30000 }, (t) =>
    h.test(async (r) => {
        const page = await r.page();
        await page.goto(`${r.url}/impersonation/handoff.html`);
        await page.locator('#handoff-status[data-state="noOpener"]').waitFor();
        assert.equal(await page.evaluate(() => sessionStorage.length + localStorage.length), 0);
    })(t),
);

test("a page of another origin that opens handoff.html cannot hand it a token", { timeout: 30000 }, (t) =>
    h.test(async (r) => {
        const ctx = await r.context();
        const evil = await ctx.newPage();
        // another origin (localhost vs 127.0.0.1) opens the hand-off page and posts a token to it
        const other = r.url.replace("127.0.0.1", "localhost");
        await evil.goto(`${other}/`);
        const popup = ctx.waitForEvent("page");
        await evil.evaluate((url) => {
            const tab = window.open(url, "_blank");
            const token = "x.eyJhY3QiOnsic3ViIjoiZXZpbCJ9LCJzaWQiOiJldmlsIn0.x";
            const msg = { type: "impersonation:handoff", token, record: { id: "evil", name: "Evil" }, productURL: "/" };
            window.__posts = setInterval(() => {
                try {
                    tab.postMessage(msg, "*");
                } catch {
                    /* not yet */
                }
            }, 100);
        }, `${r.url}/impersonation/handoff.html`);
        const tab = await popup;
        await tab.locator("#handoff-status").waitFor();
        // Cross-Origin-Opener-Policy: same-origin cuts the tab off from a cross-origin opener
        assert.equal(await tab.evaluate(() => window.opener), null);
        await tab.locator('#handoff-status[data-state="noOpener"]').waitFor();
        await sleep(1000);
        assert.match(tab.url(), /\/impersonation\/handoff\.html$/);
        assert.equal(await tab.evaluate(() => sessionStorage.getItem("pocketbase_impersonation")), null);
    })(t),
);

// startFromConsole starts a session on Alice in the given mode from the
// support console, as the staff member, and returns the new tab.
async function startFromConsole(r, ctx, mode) {
    const page = await ctx.newPage();
    await page.goto(`${r.url}/impersonation/console/`);
    if (
        await page
            .locator("#login-email")
            .isVisible()
            .catch(() => false)
    )
        await r.login(page, s.users.staff);
    const row = page.locator(`[data-testid="target-row"][data-record-id="${s.users.alice.id}"]`);
    await row.locator('[data-testid="impersonate"]').click();
    const dlg = page.locator('[data-testid="imp-dialog"]');
    await dlg.locator('[data-testid="imp-reason"]').fill(`mode ${mode} check`);
    await dlg.locator(`[data-testid="imp-mode-${mode}"]`).check();
    const popup = ctx.waitForEvent("page");
    await dlg.locator('[data-testid="imp-submit"]').click();
    const imp = await popup;
    await imp.waitForURL(`${r.url}/`);
    await expectBannerActing(imp, s.users.alice);
    await expectProductUser(imp, s.users.alice);
    return imp;
}

test("read-only session: the product cannot save and says why; write session: it can", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        r.allowStatus(403);
        const ctx = await r.context();

        const ro = await startFromConsole(r, ctx, "read");
        assert.match(await ro.locator("#pb-impersonation-banner").innerText(), /read-only/);
        await ro.locator("#profile-name").fill("Changed by support");
        await ro.locator("#profile-save").click();
        await ro.locator('[data-testid="flash"][data-type="error"]').waitFor();
        assert.equal(
            (
                await h.server.ok("GET", `/api/collections/users/records/${s.users.alice.id}`, {
                    token: s.users.alice.token,
                })
            ).name,
            "Alice",
        );
        await ro.locator("#pb-impersonation-exit").click();
        await ro.locator('#pb-impersonation-banner[data-state="ended"]').waitFor();

        const rw = await startFromConsole(r, ctx, "write");
        assert.doesNotMatch(await rw.locator("#pb-impersonation-banner").innerText(), /read-only/);
        await rw.locator("#profile-name").fill("Alice A.");
        await rw.locator("#profile-save").click();
        await rw.locator('[data-testid="flash"][data-type="success"]').waitFor();
        assert.equal(
            (
                await h.server.ok("GET", `/api/collections/users/records/${s.users.alice.id}`, {
                    token: s.users.alice.token,
                })
            ).name,
            "Alice A.",
        );
    })(t),
);
