// The digest of an ended session on the user's page (/impersonation/): a
// session started on ordinary consent, a few requests and a write, ended;
// the page shows, live, the requests per collection and every write (method,
// path, status), never the query or the body; in English and in Spanish.
import { test, before, after } from "node:test";
import { Harness, seed, assert } from "./harness.mjs";

let h;
let s;
let session; // the ended session, started by the first test
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

const SECRET = "query-secret-0123456789";
const BODY_SECRET = "body-secret-9876543210";

test("ended: the user's page shows the digest, live", { timeout: 90000 }, (t) =>
    h.test(async (r) => {
        const { alice } = s.users;
        const page = await r.page();
        // the page's realtime subscription to the sessions is in place before the session starts
        const subscribed = page.waitForResponse(
            (res) =>
                res.request().method() === "POST" &&
                res.url().endsWith("/api/realtime") &&
                (res.request().postData() || "").includes("impersonation_sessions") &&
                res.ok(),
        );
        await page.goto(`${r.url}/impersonation/`);
        await r.login(page, alice);
        await page.locator('[data-testid="consent-status"]').waitFor();
        await subscribed;

        const started = await h.server.ok("POST", "/api/impersonation/sessions", {
            token: s.superToken,
            body: {
                collection: "users",
                record: alice.id,
                reason: "ticket 12: wrong address",
                minutes: 20,
                mode: "write",
            },
        });
        session = started.session;
        await h.server.ok("GET", `/api/collections/users/records/${alice.id}`, { token: started.token });
        await h.server.ok("GET", "/api/impersonation/current", { token: started.token });
        await h.server.ok("PATCH", `/api/collections/users/records/${alice.id}?token=${SECRET}`, {
            token: started.token,
            body: { name: "Alice B.", note: BODY_SECRET },
        });
        // ended by the actor's own login: not a request of the session
        await h.server.api("POST", `/api/impersonation/sessions/${session.id}/end`, { token: s.superToken });

        const item = page.locator(`[data-testid="session"][data-session-id="${session.id}"]`);
        const digest = item.locator('[data-testid="digest"]');
        await digest.waitFor(); // realtime, no reload
        assert.equal(await digest.locator("h3").textContent(), "Summary");
        assert.equal(
            await digest.locator('[data-testid="digest-requests"]').textContent(),
            "3 requests · users: 2 · other: 1",
        );
        const writes = await digest.locator('[data-testid="digest-write"]').evaluateAll((rows) =>
            rows.map((tr) => {
                const td = tr.querySelectorAll("td");
                return `${td[1].textContent} ${td[2].textContent} ${td[3].firstElementChild.textContent}`;
            }),
        );
        assert.deepEqual(writes, [`PATCH /api/collections/users/records/${alice.id} 200`]);
        // who, why, the mode and how long are the session's own lines
        assert.match(await item.innerText(), /ticket 12: wrong address/);
        assert.match(await item.innerText(), /Read and write/);
        const text = await page.locator("body").innerText();
        for (const secret of [SECRET, BODY_SECRET, "?token"])
            assert.ok(!text.includes(secret), `the page shows ${secret}`);

        // the route the page reads answers the user only
        const mine = await h.server.ok("GET", "/api/impersonation/digests", { token: alice.token });
        assert.equal(mine.items[0].session, session.id);
        const bobs = await h.server.ok("GET", "/api/impersonation/digests", { token: s.users.bob.token });
        assert.equal(bobs.totalItems, 0);

        await digest.scrollIntoViewIfNeeded();
        await r.screenshot(page, "digest.png", { fullPage: true });
    })(t),
);

test("Spanish: the digest's words", { timeout: 60000 }, (t) =>
    h.test(async (r) => {
        assert.ok(session, "the first test ended a session");
        const page = await r.page({ locale: "es-ES" });
        await page.goto(`${r.url}/impersonation/`);
        await r.login(page, s.users.alice);
        const digest = page.locator(`[data-testid="session"][data-session-id="${session.id}"] [data-testid="digest"]`);
        await digest.waitFor();
        assert.equal(await digest.locator("h3").textContent(), "Resumen");
        assert.equal(
            await digest.locator('[data-testid="digest-requests"]').textContent(),
            "3 peticiones · users: 2 · otras: 1",
        );
        assert.equal(await digest.locator("caption").textContent(), "Cambios solicitados en esta sesión");
        await r.screenshot(page, "digest-es.png", { fullPage: true });
    })(t),
);
