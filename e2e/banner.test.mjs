// The drop-in banner (/impersonation/banner.js) on its own: a session that
// ends elsewhere is noticed (on focus and by the 30 s poll), an expired
// session too, the countdown runs, and it speaks Spanish.
import { test, before, after } from "node:test";
import { Harness, seed, assert, expectProductUser, expectBannerActing } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice", "bob"] });
});
after(() => h?.close());

// impersonationTab starts a session as the superuser and opens the product
// in a new tab that holds it the way handoff.html leaves it: in the tab's
// sessionStorage (the hand-off itself is tested in flow.test.mjs).
async function impersonationTab(r, ctx, user, { minutes = 30, reason = "banner test" } = {}) {
    const started = await h.server.ok("POST", "/api/impersonation/sessions", {
        token: s.superToken,
        body: { collection: "users", record: user.id, reason, minutes },
    });
    const page = await ctx.newPage();
    await page.goto(`${r.url}/impersonation/lib/style.css`);
    await page.evaluate(
        (v) => sessionStorage.setItem("pocketbase_impersonation", v),
        JSON.stringify({ token: started.token, record: started.record }),
    );
    await page.goto(`${r.url}/`);
    await expectBannerActing(page, user);
    await expectProductUser(page, user);
    return { page, started };
}

async function expectEnded(page, text) {
    const banner = page.locator('#pb-impersonation-banner[data-state="ended"]');
    await banner.waitFor();
    assert.match(await banner.innerText(), text);
    assert.equal(await banner.locator("#pb-impersonation-exit").isVisible(), false, "no Exit once ended");
    assert.equal(
        await page.evaluate(() => sessionStorage.getItem("pocketbase_impersonation")),
        null,
        "the tab forgot the token",
    );
    // the product no longer acts as the user (and does not fall back to another login)
    await page.locator("#login-email").waitFor();
}

test("a session ended elsewhere is noticed when the tab gets focus (401 -> ended)", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        r.allowStatus(401);
        const ctx = await r.context();
        const { page, started } = await impersonationTab(r, ctx, s.users.alice);
        await h.server.ok("POST", `/api/impersonation/sessions/${started.session.id}/end`, { token: s.superToken });
        assert.equal(
            await page.locator("#pb-impersonation-banner").getAttribute("data-state"),
            "active",
            "not noticed before it checks",
        );
        await page.evaluate(() => window.dispatchEvent(new Event("focus")));
        await expectEnded(page, /This impersonation session has ended\./);
        await r.screenshot(page, "banner-ended.png", { clip: { x: 0, y: 0, width: 1280, height: 200 } });
    })(t),
);

test(
    "the banner polls: consent withdrawn by the user ends the tab within 30 s; the countdown runs",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            r.allowStatus(401);
            const ctx = await r.context();
            await ctx.clock.install();
            const { page } = await impersonationTab(r, ctx, s.users.bob, { minutes: 10 });
            const countdown = page.locator('[data-testid="impersonation-countdown"]');
            assert.match(await countdown.textContent(), /^(9|10) min left$/);
            const current = (status) =>
                page.waitForResponse(
                    (res) => res.url().endsWith("/api/impersonation/current") && res.status() === status,
                );
            let polled = current(200);
            await page.clock.runFor(2 * 60 * 1000 + 1000);
            await polled; // the poll saw the session live
            assert.match(await countdown.textContent(), /^(7|8) min left$/);

            const res = await h.server.api("DELETE", "/api/impersonation/consent", { token: s.users.bob.token });
            assert.equal(res.status, 204);
            polled = current(401);
            await page.clock.runFor(31 * 1000);
            await polled;
            await expectEnded(page, /This impersonation session has ended\./);
        })(t),
);

test("an expired session is noticed by the tab itself", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        r.allowStatus(401);
        const ctx = await r.context();
        await ctx.clock.install();
        const { page } = await impersonationTab(r, ctx, s.users.alice, { minutes: 1 });
        assert.match(
            await page.locator('[data-testid="impersonation-countdown"]').textContent(),
            /^(1 min|\d+ sec) left$/,
        );
        await page.clock.runFor(61 * 1000);
        await expectEnded(page, /This impersonation session has expired\./);
    })(t),
);

test("Spanish banner from the browser language; the page switch flips it to English", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const ctx = await r.context({ locale: "es-ES" });
        const page = await ctx.newPage();
        const started = await h.server.ok("POST", "/api/impersonation/sessions", {
            token: s.superToken,
            body: { collection: "users", record: s.users.alice.id, reason: "Spanish banner", minutes: 45 },
        });
        await page.goto(`${r.url}/impersonation/lib/style.css`);
        await page.evaluate(
            (v) => sessionStorage.setItem("pocketbase_impersonation", v),
            JSON.stringify({ token: started.token, record: started.record }),
        );
        await page.goto(`${r.url}/`);
        const banner = page.locator('#pb-impersonation-banner[data-state="active"]');
        await banner.filter({ hasText: "Estás actuando como" }).waitFor();
        await banner.filter({ hasText: "solo lectura" }).waitFor();
        const text = await banner.innerText();
        assert.match(text, /Estás actuando como Alice \(alice@example\.com\)/);
        assert.match(text, /Quedan (44|45) min/);
        assert.equal(await page.locator("#pb-impersonation-exit").textContent(), "Salir");
        await r.screenshot(page, "banner-es.png", { clip: { x: 0, y: 0, width: 1280, height: 400 } });

        await page.locator("#lang-switch").selectOption("en");
        await banner.filter({ hasText: "You are acting as Alice" }).waitFor();
        assert.equal(await page.locator("#pb-impersonation-exit").textContent(), "Exit");
        // the impersonation tab keeps its language choice to itself
        const other = await ctx.newPage();
        await other.goto(`${r.url}/impersonation/lib/style.css`);
        assert.equal(await other.evaluate(() => localStorage.getItem("pb_impersonation_lang")), null);
    })(t),
);

test(
    "phone width (375 px): the banner wraps, keeps Exit on screen, and the product has no horizontal scroll",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            const ctx = await r.context({
                viewport: { width: 375, height: 740 },
                isMobile: true,
                hasTouch: true,
                deviceScaleFactor: 2,
            });
            const { page } = await impersonationTab(r, ctx, s.users.alice, { minutes: 20 });
            const m = await page.evaluate(() => {
                const exit = document.getElementById("pb-impersonation-exit").getBoundingClientRect();
                const first = document.querySelector("main")?.getBoundingClientRect();
                const bar = document.getElementById("pb-impersonation-banner").getBoundingClientRect();
                return {
                    scroll: document.documentElement.scrollWidth,
                    client: document.documentElement.clientWidth,
                    exitRight: exit.right,
                    exitBottom: exit.bottom,
                    barBottom: bar.bottom,
                    mainTop: first?.top ?? 0,
                };
            });
            assert.ok(m.scroll <= m.client, `horizontal scroll: ${JSON.stringify(m)}`);
            assert.ok(m.exitRight <= m.client && m.exitBottom <= m.barBottom, `Exit on screen: ${JSON.stringify(m)}`);
            assert.ok(m.mainTop >= m.barBottom, `the bar covers no content: ${JSON.stringify(m)}`);
            await r.screenshot(page, "banner-phone.png", { clip: { x: 0, y: 0, width: 375, height: 300 } });
        })(t),
);
