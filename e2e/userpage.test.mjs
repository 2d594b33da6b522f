// The user's page (/impersonation/): consent presets, custom hours, revoke,
// live sessions, history with "show actions"; Spanish; phone width.
import { test, before, after } from "node:test";
import { Harness, seed, assert } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server);
});
after(() => h?.close());

const parse = (d) => new Date(String(d).replace(" ", "T"));
const hoursLeft = (d) => (parse(d).getTime() - Date.now()) / 3600e3;
// how the pages format a date (lib/i18n.js formatDate) in a language; the
// browser contexts run in UTC
const fmt = (lang, d) =>
    new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: "UTC" }).format(parse(d));

async function consentOf(user) {
    return h.server.ok("GET", "/api/impersonation/consent", { token: user.token });
}

async function openUserPage(r, page, user) {
    await page.goto(`${r.url}/impersonation/`);
    await r.login(page, user);
    await page.locator('[data-testid="consent-status"]').waitFor();
}

async function noHorizontalScroll(page) {
    const m = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        client: document.documentElement.clientWidth,
    }));
    assert.ok(m.scroll <= m.client, `horizontal scroll at ${m.client}px: the page is ${m.scroll}px wide`);
}

test(
    "consent: presets, custom hours within the maximum, live sessions, history with actions, revoke",
    { timeout: 90000 },
    (t) =>
        h.test(async (r) => {
            r.allowStatus(400);
            const { alice } = s.users;
            const page = await r.page();
            await openUserPage(r, page, alice);
            const status = page.locator('[data-testid="consent-status"]');
            assert.equal(await status.getAttribute("data-state"), "none");
            assert.equal(await page.locator('[data-testid="history-empty"]').count(), 1);

            // presets: 1 h, then 72 h (a new consent replaces the old one)
            const put = () =>
                page.waitForResponse(
                    (res) => res.request().method() === "PUT" && res.url().endsWith("/api/impersonation/consent"),
                );
            let answered = put();
            await page.locator('[data-testid="consent-preset"][data-hours="1"]').click();
            let c = await (await answered).json();
            await page.locator('[data-testid="consent-status"][data-state="active"]').waitFor();
            assert.ok(hoursLeft(c.expires) > 0.95 && hoursLeft(c.expires) <= 1, `1 h: ${c.expires}`);
            await page
                .locator('[data-testid="flash"][data-type="success"]')
                .filter({ hasText: `Support may act as you until ${fmt("en", c.expires)}` })
                .waitFor();
            await status.filter({ hasText: fmt("en", c.expires) }).waitFor();

            answered = put();
            await page.locator('[data-testid="consent-preset"][data-hours="72"]').click();
            c = await (await answered).json();
            assert.ok(hoursLeft(c.expires) > 71.9 && hoursLeft(c.expires) <= 72, `72 h: ${c.expires}`);
            await status.filter({ hasText: fmt("en", c.expires) }).waitFor();
            assert.match(await status.innerText(), /in 3 days/);
            assert.equal((await consentOf(alice)).expires, c.expires);

            // custom hours beyond the policy's maximum (168) are refused with a message
            const custom = page.locator('[data-testid="consent-custom-hours"]');
            await custom.fill("500");
            await page.locator('[data-testid="consent-custom-submit"]').click();
            await page
                .locator("#consent-custom-error")
                .filter({ hasText: "Enter a whole number of hours from 1 to 168." })
                .waitFor();
            assert.equal((await consentOf(alice)).expires, c.expires, "refused: the consent is unchanged");
            // ...also when only the server knows the maximum went down
            await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
                token: s.superToken,
                body: { consentMaxHours: 48 },
            });
            await custom.fill("100");
            await page.locator('[data-testid="consent-custom-submit"]').click();
            // the server's field message, or the page's own once a live update told it the new maximum
            await page
                .locator("#consent-custom-error")
                .filter({ hasText: /^(Must be from 1 to 48 hours\.|Enter a whole number of hours from 1 to 48\.)$/ })
                .waitFor();
            assert.equal((await consentOf(alice)).expires, c.expires, "refused: the consent is unchanged");
            await h.server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
                token: s.superToken,
                body: { consentMaxHours: 168 },
            });
            await page.reload();
            await custom.fill("100");
            await page.locator('[data-testid="consent-custom-submit"]').click();
            await page.waitForFunction(() => !document.getElementById("consent-custom-error"));
            c = await consentOf(alice);
            assert.ok(hoursLeft(c.expires) > 99.9 && hoursLeft(c.expires) <= 100, `100 h: ${c.expires}`);

            // a session on Alice, with a few requests, then ended: the history shows it
            const started = await h.server.ok("POST", "/api/impersonation/sessions", {
                token: s.superToken,
                body: { collection: "users", record: alice.id, reason: "ticket 7: invoices", minutes: 20 },
            });
            await h.server.ok("GET", `/api/collections/users/records/${alice.id}`, { token: started.token });
            await h.server.ok("GET", "/api/impersonation/current", { token: started.token });
            await h.server.api("PATCH", `/api/collections/users/records/${alice.id}`, {
                token: started.token,
                body: { name: "Mallory" },
            }); // read-only: refused
            await h.server.api("POST", `/api/impersonation/sessions/${started.session.id}/end`, {
                token: started.token,
            });
            const item = page.locator(`[data-testid="session"][data-session-id="${started.session.id}"]`);
            await item.waitFor(); // realtime, no reload
            await item.locator('[data-testid="session-state"][data-state="ended"]').waitFor();
            assert.equal(await item.locator('[data-testid="session-reason"]').textContent(), "ticket 7: invoices");
            assert.match(await item.innerText(), /Ended: stopped/);
            await item.locator('[data-testid="show-actions"]').click();
            const actions = item.locator('[data-testid="action"]');
            await actions.nth(2).waitFor();
            const paths = await actions.evaluateAll((rows) =>
                rows.map((tr) => {
                    const td = tr.querySelectorAll("td");
                    return `${td[1].textContent} ${td[2].textContent} ${td[3].firstElementChild.textContent}`;
                }),
            );
            for (const want of [
                `GET /api/collections/users/records/${alice.id} 200`,
                "GET /api/impersonation/current 200",
                `PATCH /api/collections/users/records/${alice.id} 403`,
                `POST /api/impersonation/sessions/${started.session.id}/end 204`,
            ])
                assert.ok(paths.includes(want), `actions list ${want}: ${JSON.stringify(paths)}`);
            assert.equal(await item.locator('[data-testid="show-actions"]').getAttribute("aria-expanded"), "true");

            // a live session is shown as such; revoking ends it
            const live = await h.server.ok("POST", "/api/impersonation/sessions", {
                token: s.superToken,
                body: { collection: "users", record: alice.id, reason: "ticket 8: still broken", minutes: 30 },
            });
            await page.locator('[data-testid="live-sessions"]').filter({ hasText: "admin@example.com" }).waitFor();
            const liveItem = page.locator(`[data-testid="session"][data-session-id="${live.session.id}"]`);
            await liveItem.locator('[data-testid="session-state"][data-state="live"]').waitFor();
            await r.screenshot(page, "user-page.png", { fullPage: true });

            await page.locator('[data-testid="consent-revoke"]').click();
            await page.locator('[data-testid="consent-status"][data-state="revoked"]').waitFor();
            await liveItem.locator('[data-testid="session-state"][data-state="ended"]').waitFor();
            assert.match(await liveItem.innerText(), /Ended: consent withdrawn/);
            assert.equal(await page.locator('[data-testid="live-sessions"]').count(), 0);
            assert.equal((await consentOf(alice)).active, false);
            const after = await h.server.ok(
                "GET",
                `/api/collections/impersonation_sessions/records/${live.session.id}`,
                { token: s.superToken },
            );
            assert.equal(after.endCause, "consent_revoked");
            assert.equal((await h.server.api("GET", "/api/impersonation/current", { token: live.token })).status, 401);
        })(t),
);

test(
    "Spanish from the browser language, dates included; the switch flips to English and is remembered",
    { timeout: 60000 },
    (t) =>
        h.test(async (r) => {
            const { bob } = s.users;
            const c = await h.server.ok("PUT", "/api/impersonation/consent", { token: bob.token, body: { hours: 24 } });
            const page = await r.page({ locale: "es-ES" });
            await page.goto(`${r.url}/impersonation/`);
            assert.equal(await page.locator("#login-submit").textContent(), "Iniciar sesión");
            await r.login(page, bob);
            const status = page.locator('[data-testid="consent-status"]');
            await status.waitFor();
            assert.equal(await page.evaluate(() => document.documentElement.lang), "es");
            assert.equal(await page.locator("h1").textContent(), "Suplantación");
            assert.equal(
                await page.locator('[data-testid="consent-preset"][data-hours="24"]').textContent(),
                "24 horas",
            );
            const es = await status.innerText();
            assert.ok(es.includes("Permitido"), es);
            assert.ok(es.includes(fmt("es", c.expires)), `Spanish date ${fmt("es", c.expires)} in: ${es}`);
            assert.ok(!es.includes(fmt("en", c.expires)), es);
            assert.match(es, /dentro de (23 horas|1 día|24 horas)/);
            await r.screenshot(page, "user-page-es.png", { fullPage: true });

            await page.locator("#lang-switch").selectOption("en");
            await page.locator("h1").filter({ hasText: "Impersonation" }).waitFor();
            const en = await status.innerText();
            assert.ok(en.includes("Allowed") && en.includes(fmt("en", c.expires)), en);
            assert.equal(await page.evaluate(() => document.documentElement.lang), "en");
            await page.reload();
            await page.locator('[data-testid="consent-status"]').waitFor();
            assert.equal(await page.locator("h1").textContent(), "Impersonation");
        })(t),
);

test("phone width (375 px): the user page has no horizontal scroll", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        const { alice } = s.users;
        // a session with a few requests in the history, whatever the tests before left
        await h.server.ok("PUT", "/api/impersonation/consent", { token: alice.token, body: { hours: 2 } });
        const started = await h.server.ok("POST", "/api/impersonation/sessions", {
            token: s.superToken,
            body: {
                collection: "users",
                record: alice.id,
                reason: "a rather long reason to see how it wraps on a phone screen",
                minutes: 5,
            },
        });
        await h.server.ok("GET", `/api/collections/users/records/${alice.id}`, { token: started.token });
        await h.server.api("POST", `/api/impersonation/sessions/${started.session.id}/end`, { token: started.token });
        const page = await r.page({
            viewport: { width: 375, height: 740 },
            isMobile: true,
            hasTouch: true,
            deviceScaleFactor: 2,
        });
        await openUserPage(r, page, alice);
        const first = page.locator(`[data-testid="session"][data-session-id="${started.session.id}"]`);
        await first.locator('[data-testid="show-actions"]').click();
        await first.locator('[data-testid="action"]').first().waitFor();
        await noHorizontalScroll(page);
        await r.screenshot(page, "user-page-phone.png", { fullPage: true });
    })(t),
);

test("history names who acted, also for sessions that ended before the page was opened", { timeout: 30000 }, (t) =>
    h.test(async (r) => {
        const { carol } = s.users;
        await h.server.ok("PUT", "/api/impersonation/consent", { token: carol.token, body: { hours: 2 } });
        const started = await h.server.ok("POST", "/api/impersonation/sessions", {
            token: s.superToken,
            body: { collection: "users", record: carol.id, reason: "who was it?", minutes: 5 },
        });
        await h.server.api("POST", `/api/impersonation/sessions/${started.session.id}/end`, { token: started.token });
        const page = await r.page();
        await openUserPage(r, page, carol);
        await page.locator('[data-testid="session"]').first().waitFor();
        const who = await page.locator('[data-testid="session-actor"]').allTextContents();
        assert.equal(who.length, 1);
        for (const w of who) assert.match(w, /admin@example\.com/, `the history says who acted: "${w}"`);
    })(t),
);
