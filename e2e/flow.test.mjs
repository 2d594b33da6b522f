// The main flow: a user consents on their page, a superuser impersonates
// them from the dashboard, the product opens in a new tab as the user with
// the banner, the other tabs keep their own logins, Exit ends the session,
// and the dashboard sees it end and lists its requests.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser, expectBannerActing, SUPERUSER } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server);
});
after(() => h?.close());

// claims decodes a JWT's payload.
function claims(token) {
    return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
}

// tabToken is the impersonation token a tab holds in its sessionStorage.
async function tabToken(page) {
    const raw = await page.evaluate(() => sessionStorage.getItem("pocketbase_impersonation"));
    assert.ok(raw, "the impersonation tab keeps the hand-off in its sessionStorage");
    const { token } = JSON.parse(raw);
    assert.ok(token && token.split(".").length === 3, "a JWT");
    return token;
}

// history is the tab's real navigation history (what the back button and
// the browser's history hold).
async function history(page) {
    const cdp = await page.context().newCDPSession(page);
    const { entries } = await cdp.send("Page.getNavigationHistory");
    await cdp.detach();
    return entries.map((e) => e.url);
}

async function productState(page) {
    return page.evaluate(() => ({
        banner: !!document.querySelector("#pb-impersonation-banner:not([hidden])"),
        session: sessionStorage.getItem("pocketbase_impersonation"),
    }));
}

test(
    "consent, impersonate from the dashboard, per-tab hand-off, Exit and End, live session list and timeline",
    { timeout: 120000 },
    (t) =>
        h.test(async (r) => {
            const { alice, bob } = s.users;

            // 1. Alice logs into the product and consents for 24 hours on her page.
            {
                const page = await r.page({ label: "alice" });
                await r.loginProduct(page, alice);
                await page.locator("#account-settings").click();
                await page.waitForURL(/\/impersonation\/$/);
                const status = page.locator('[data-testid="consent-status"]');
                await status.waitFor();
                assert.equal(await status.getAttribute("data-state"), "none");
                await page.locator('[data-testid="consent-preset"][data-hours="24"]').click();
                await page.locator('[data-testid="consent-status"][data-state="active"]').waitFor();
                const consent = await h.server.ok("GET", "/api/impersonation/consent", { token: alice.token });
                assert.equal(consent.active, true);
                const hours = (Date.parse(consent.expires.replace(" ", "T")) - Date.now()) / 3600e3;
                assert.ok(hours > 23.9 && hours <= 24, `consent for 24 h, got ${hours}`);
                await page.context().close();
            }

            // 2. The support person's browser: a product tab logged in as Bob, and
            //    the dashboard as the superuser.
            const ctx = await r.context({ label: "staff-browser" });
            const bobTab = await ctx.newPage();
            await r.loginProduct(bobTab, bob);
            const dash = await ctx.newPage();
            await r.loginDashboard(dash);
            await r.openImpersonation(dash, "users");
            const row = r.usersRow(dash, alice);
            await row.waitFor();
            await row.locator('[data-testid="consent-active"]').waitFor();
            assert.equal(await row.locator('[data-testid="users-name"]').textContent(), alice.name);
            await r.screenshot(dash, "dashboard-users.png");

            // 3. Impersonate Alice with a reason: the dialog says what it does.
            await row.locator('[data-testid="users-impersonate"]').click();
            const dlg = dash.locator('[data-testid="imp-dialog"]');
            await dlg.waitFor();
            assert.match(
                await dlg.locator('[data-testid="imp-confirm"]').innerText(),
                /You will temporarily act as Alice and have their permissions/,
            );
            await dlg.locator('[data-testid="imp-reason"]').fill("ticket 42: cannot see invoices");
            await dlg.locator('[data-testid="imp-minutes"]').fill("30");
            await r.screenshot(dash, "impersonate-dialog.png");
            const popup = ctx.waitForEvent("page");
            await dlg.locator('[data-testid="imp-submit"]').click();
            const imp = await popup;
            await imp.waitForURL(`${r.url}/`);
            await r.dashboardToast(dash, "Alice");

            // 4. The new tab is the product as Alice, with the banner and its countdown.
            const banner = await expectBannerActing(imp, alice);
            await expectProductUser(imp, alice);
            const countdown = banner.locator('[data-testid="impersonation-countdown"]');
            const left1 = await countdown.textContent();
            assert.match(left1, /^(29|30) min left$/);
            await r.screenshot(imp, "banner.png");

            const token = await tabToken(imp);
            const c = claims(token);
            assert.equal(c.id, alice.id);
            assert.equal(
                c.act.sub,
                (
                    await h.server.ok("POST", "/api/collections/_superusers/auth-with-password", {
                        body: { identity: SUPERUSER.email, password: SUPERUSER.password },
                    })
                ).record.id,
            );
            const sid1 = c.sid;

            // 5. Bob's tab of the same product still shows Bob, also after a reload.
            await bobTab.bringToFront();
            await expectProductUser(bobTab, bob);
            assert.deepEqual(await productState(bobTab), { banner: false, session: null });
            await bobTab.reload();
            await expectProductUser(bobTab, bob);
            assert.deepEqual(await productState(bobTab), { banner: false, session: null });

            // ...and the shared login is Bob's; the token is nowhere in localStorage.
            const shared = await bobTab.evaluate(() =>
                Object.fromEntries(Object.keys(localStorage).map((k) => [k, localStorage.getItem(k)])),
            );
            assert.equal(JSON.parse(shared.pocketbase_auth).record.email, bob.email);
            for (const [k, v] of Object.entries(shared))
                assert.ok(!v.includes(token), `localStorage ${k} holds the impersonation token`);

            // Bob logs out and in again in his tab: the storage events do not switch
            // the impersonation tab, not even after a reload of it.
            await bobTab.locator("#logout").click();
            await bobTab.locator("#login-email").waitFor();
            await r.login(bobTab, bob);
            await expectProductUser(bobTab, bob);
            await imp.bringToFront();
            await expectBannerActing(imp, alice);
            await expectProductUser(imp, alice);
            await imp.reload();
            await expectBannerActing(imp, alice);
            await expectProductUser(imp, alice);
            assert.equal(await tabToken(imp), token);

            // 6. The dashboard still works as the superuser.
            await dash.bringToFront();
            const who = await dash.evaluate(() => ({
                email: app.pb.authStore.record?.email,
                coll: app.pb.authStore.record?.collectionName,
                valid: app.pb.authStore.isValid,
            }));
            assert.deepEqual(who, { email: SUPERUSER.email, coll: "_superusers", valid: true });
            await dash.locator('[data-testid="imp-tab-sessions"]').click();
            const row1 = dash.locator(`[data-testid="sessions-row"][data-id="${sid1}"]`);
            await row1.locator('[data-testid="sessions-live"]').waitFor();
            assert.equal(
                await row1.locator('[data-testid="sessions-reason"]').textContent(),
                "ticket 42: cannot see invoices",
            );

            // 7. The token never was in a URL or in the history of any tab.
            const sig = token.split(".")[2];
            for (const u of r.urls) assert.ok(!u.includes(sig), `a URL holds the token: ${u}`);
            for (const p of ctx.pages()) {
                for (const u of await history(p)) {
                    assert.ok(!u.includes(sig), `history holds the token: ${u}`);
                    assert.ok(!u.includes("handoff"), `the hand-off page stays out of the history: ${u}`);
                }
            }

            // 8. Closing the impersonation tab leaves nothing behind: a new tab of
            //    the product is Bob's.
            await imp.close();
            const fresh = await ctx.newPage();
            await fresh.goto(`${r.url}/`);
            await expectProductUser(fresh, bob);
            assert.deepEqual(await productState(fresh), { banner: false, session: null });
            await fresh.close();

            // 9. A second session; Exit in its banner ends it.
            await dash.locator('[data-testid="imp-tab-users"]').click();
            await r.usersRow(dash, alice).locator('[data-testid="live-yes"]').waitFor();
            await r.usersRow(dash, alice).locator('[data-testid="users-impersonate"]').click();
            const imp2 = await r.submitImpersonateDialog(dash, { reason: "ticket 43: follow-up" });
            await imp2.waitForURL(`${r.url}/`);
            await expectBannerActing(imp2, alice);
            await expectProductUser(imp2, alice);
            const token2 = await tabToken(imp2);
            const sid2 = claims(token2).sid;
            assert.notEqual(sid2, sid1);

            await dash.bringToFront();
            await dash.locator('[data-testid="imp-tab-sessions"]').click();
            const row2 = dash.locator(`[data-testid="sessions-row"][data-id="${sid2}"]`);
            await row2.locator('[data-testid="sessions-live"]').waitFor();

            // Exit (the dashboard tab stays where it is: what follows is realtime).
            await imp2.locator("#pb-impersonation-exit").click();
            await imp2.locator('#pb-impersonation-banner[data-state="ended"]').waitFor();
            assert.match(
                await imp2.locator("#pb-impersonation-banner").innerText(),
                /You have left the impersonation session/,
            );
            assert.equal(await imp2.evaluate(() => sessionStorage.getItem("pocketbase_impersonation")), null);
            // the tab's auth is gone: the product asks to sign in, it does not fall back to Bob
            await imp2.locator("#login-email").waitFor();
            const ended = await h.server.ok("GET", `/api/collections/impersonation_sessions/records/${sid2}`, {
                token: s.superToken,
            });
            assert.equal(ended.endCause, "stopped");

            // 10. The dashboard's Sessions tab shows it ended without a reload.
            await row2.locator('[data-testid="sessions-cause"]').waitFor({ timeout: 15000 });
            assert.equal(await row2.locator('[data-testid="sessions-live"]').count(), 0);
            assert.equal(await row2.locator('[data-testid="sessions-end"]').count(), 0);
            await r.screenshot(dash, "sessions.png");

            // ...and its timeline lists every request the tab made as Alice.
            const audit = await h.server.ok(
                "GET",
                `/api/collections/impersonation_audit/records?perPage=200&filter=${encodeURIComponent(`session = "${sid2}" && event = "request"`)}`,
                { token: s.superToken },
            );
            const paths = audit.items.map((e) => `${e.method} ${e.path}`);
            assert.ok(paths.includes(`GET /api/collections/users/records/${alice.id}`), `audited: ${paths}`);
            assert.ok(paths.includes(`POST /api/impersonation/sessions/${sid2}/end`), `audited: ${paths}`);
            await row2.locator('[data-testid="sessions-timeline"]').click();
            const tl = dash.locator('[data-testid="timeline-dialog"]');
            await tl
                .locator('[data-testid="timeline-row"]')
                .nth(audit.items.length - 1)
                .waitFor();
            const shown = await tl
                .locator('[data-testid="timeline-row"]')
                .evaluateAll((rows) =>
                    rows.map(
                        (row) =>
                            `${row.querySelector('[data-testid="timeline-method"]')?.textContent} ${row.querySelector('[data-testid="timeline-path"]')?.textContent}`,
                    ),
                );
            for (const p of paths) assert.ok(shown.includes(p), `timeline lists ${p}: ${shown}`);
            // the session's end comes after its last request (the Exit that ended it
            // is written to the chain once answered, after the end it caused)
            const events = await tl
                .locator('[data-testid="timeline-row"]')
                .evaluateAll((rows) => rows.map((row) => row.dataset.event));
            assert.equal(events.at(-1), "session.ended", `the end is last: ${events}`);
            assert.equal(events.filter((e) => e === "session.ended").length, 1);
            assert.equal(await tl.locator('[data-testid="timeline-reason"]').textContent(), "ticket 43: follow-up");
            await r.screenshot(dash, "timeline.png");
            await tl.locator('[data-testid="timeline-close"]').click();
            await tl.waitFor({ state: "detached" });

            // 11. The first session, whose tab was closed, is still live: End it from the list.
            await row1.locator('[data-testid="sessions-end"]').click();
            const confirm = dash.locator(".modal.popup").filter({ hasText: "Alice" }).last();
            await confirm.locator(".modal-footer button.warning").click();
            await row1.locator('[data-testid="sessions-cause"]').waitFor();
            assert.equal(await row1.locator('[data-testid="sessions-end"]').count(), 0);
            const first = await h.server.ok("GET", `/api/collections/impersonation_sessions/records/${sid1}`, {
                token: s.superToken,
            });
            assert.ok(first.ended, "ended");
            assert.equal(first.endCause, "stopped");

            // neither token was ever in a URL the browser loaded
            for (const tk of [token, token2]) {
                const sg = tk.split(".")[2];
                for (const u of r.urls) assert.ok(!u.includes(sg), `a URL holds a token: ${u}`);
            }
        })(t),
);
