// The Impersonation page's Sinks tab: a webhook sink added in the dashboard
// gets the audit (a receiver started here takes its batches), its secret is
// never shown again, the server's field errors are shown in the chosen
// language, a disabled sink says so, and a sink's name is text.
import { test, before, after } from "node:test";
import http from "node:http";
import { Harness, seed, assert, XSS_NAME } from "./harness.mjs";

let h;
let s;
before(async () => {
    h = await Harness.start();
    s = await seed(h.server, { consent: ["alice"] });
});
after(() => h?.close());

const byTestId = (page, id) => page.locator(`[data-testid="${id}"]`);

const SECRET = "sink-secret-never-shown";

// receiver takes NDJSON batches and keeps their lines.
function receiver() {
    const lines = [];
    const srv = http.createServer((req, res) => {
        let body = "";
        req.on("data", (c) => (body += c));
        req.on("end", () => {
            lines.push(
                ...body
                    .split("\n")
                    .filter(Boolean)
                    .map((l) => JSON.parse(l)),
            );
            res.end();
        });
    });
    return new Promise((resolve) =>
        srv.listen(0, "127.0.0.1", () =>
            resolve({ url: `http://127.0.0.1:${srv.address().port}/ingest`, lines, close: () => srv.close() }),
        ),
    );
}

test("Sinks tab: a webhook added, fed, shown without its secret, then disabled", { timeout: 90000 }, (t) =>
    h.test(async (r) => {
        r.allowStatus(400);
        const rcv = await receiver();
        try {
            const dash = await r.page();
            await r.loginDashboard(dash);
            await r.openImpersonation(dash, "sinks");
            const tab = byTestId(dash, "sinks-tab");
            await byTestId(tab, "sinks-rows").filter({ hasText: "No sink yet" }).waitFor();

            // refused by the server: its field's text, in Spanish too
            await byTestId(tab, "sinks-new").click();
            await byTestId(tab, "sink-name").fill("bad");
            await byTestId(tab, "sink-url").fill("ftp://logs.example.com/");
            await byTestId(tab, "sink-save").click();
            const urlErr = byTestId(tab, "sink-error-url");
            await urlErr.filter({ hasText: "A webhook needs an http(s) URL." }).waitFor();
            await dash.locator('[data-testid="imp-lang"]').selectOption("es");
            await urlErr.filter({ hasText: "Un webhook necesita una URL http(s)." }).waitFor();
            await dash.locator('[data-testid="imp-lang"]').selectOption("en");

            // a valid webhook: saved, fed every entry
            await byTestId(tab, "sink-name").fill(XSS_NAME);
            await byTestId(tab, "sink-url").fill(rcv.url);
            await byTestId(tab, "sink-secret").fill(SECRET);
            await byTestId(tab, "sink-batchSeconds").fill("1");
            await byTestId(tab, "sink-save").click();
            const row = byTestId(tab, "sinks-row");
            await row.filter({ hasText: XSS_NAME }).waitFor();
            await h.server.ok("POST", "/api/impersonation/sessions", {
                token: s.superToken,
                body: { collection: "users", record: s.users.alice.id, reason: "sink check" },
            });
            for (let i = 0; i < 100 && !rcv.lines.some((l) => l.event == "session.started"); i++) {
                await new Promise((res) => setTimeout(res, 100));
            }
            assert.ok(
                rcv.lines.some((l) => l.event == "session.started" && l.hash && l.seq),
                "the receiver got the session.started entry",
            );
            const seqs = rcv.lines.filter((l) => l.type != "checkpoint").map((l) => l.seq);
            assert.deepEqual(
                seqs,
                [...seqs].sort((a, b) => a - b),
                "in seq order",
            );

            // the list: up to date, no secret anywhere
            await tab.getByRole("button", { name: "Refresh" }).click();
            await byTestId(row, "sinks-lag").filter({ hasText: "Up to date" }).waitFor();
            assert.equal((await dash.content()).includes(SECRET), false, "the secret is not on the page");
            assert.equal(await dash.locator("img[src=x]").count(), 0, "the name is text");
            await r.screenshot(dash, "sinks.png");

            // edited: the secret field is empty, the stored one kept; disabled
            await byTestId(row, "sinks-edit").click();
            assert.equal(await byTestId(tab, "sink-secret").inputValue(), "");
            await byTestId(tab, "sink-cancel").click();
            await byTestId(row, "sinks-toggle").click();
            await byTestId(row, "sinks-state").filter({ hasText: "Disabled" }).waitFor();
            const stored = await h.server.ok("GET", "/api/collections/impersonation_sinks/records", {
                token: s.superToken,
            });
            assert.equal(stored.items[0].enabled, false);
            assert.equal(JSON.stringify(stored).includes(SECRET), false, "the API answers no secret");
        } finally {
            rcv.close();
        }
    })(t),
);
