// Browser-test harness: builds the app once (cached by a hash of its
// sources), starts it on a free loopback port with a fresh data directory,
// seeds a superuser and users, and drives Debian's chromium through
// playwright-core. Every page opened through it fails its test on an
// uncaught error, an unexpected console error or any dialog (an alert is
// how an XSS would show itself).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// SHOTS is where screenshots go: a temporary folder, so that a test run
// leaves the tree as it was; SCREENSHOTS_DIR=docs refreshes the README's.
export const SHOTS = process.env.SCREENSHOTS_DIR
    ? path.resolve(ROOT, process.env.SCREENSHOTS_DIR)
    : path.join(os.tmpdir(), "pbi-e2e-screenshots");
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export const SUPERUSER = { email: "admin@example.com", password: "Admin12345!" };
export const XSS_NAME = "<img src=x onerror=alert(1)>";
export const USERS = {
    alice: { email: "alice@example.com", password: "Alice12345!", name: "Alice" },
    bob: { email: "bob@example.com", password: "Bob12345678!", name: "Bob" },
    xss: { email: "xss@example.com", password: "Xss12345678!", name: XSS_NAME },
    staff: { email: "staff@example.com", password: "Staff12345!", name: "Sam Staff" },
    carol: { email: "carol@example.com", password: "Carol12345!", name: "Carol" },
};
// The console's staff may impersonate everyone in users except Carol (and
// themselves, which the plugin always refuses).
export const STAFF_RULE = '@request.auth.email = "staff@example.com" && email != "carol@example.com"';

// ---------------------------------------------------------------------------
// Build (once per source state; the test files run in separate processes)

function sourceFiles(dir, out = []) {
    for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
        if (["node_modules", ".git", "e2e", "docs", "pb_data", ".ci"].includes(ent.name)) continue;
        const p = path.join(dir, ent.name);
        if (ent.isDirectory()) sourceFiles(p, out);
        else if (ent.isFile()) {
            const rel = path.relative(ROOT, p);
            if (
                rel.endsWith(".go") ||
                rel === "go.mod" ||
                rel === "go.sum" ||
                rel.startsWith("pb_public" + path.sep) ||
                rel.startsWith("demo" + path.sep)
            ) {
                out.push(rel);
            }
        }
    }
    return out;
}

export function buildApp() {
    const hash = createHash("sha256");
    for (const rel of sourceFiles(ROOT).sort()) {
        hash.update(rel + "\0");
        hash.update(fs.readFileSync(path.join(ROOT, rel)));
        hash.update("\0");
    }
    const key = hash.digest("hex").slice(0, 16);
    const cache = path.join(os.tmpdir(), "pbi-e2e-bin");
    const bin = path.join(cache, key, "app");
    if (fs.existsSync(bin)) return bin;

    fs.mkdirSync(path.dirname(bin), { recursive: true });
    const tmp = `${bin}.${process.pid}.tmp`;
    const res = spawnSync("go", ["build", "-o", tmp, "."], {
        cwd: ROOT,
        env: { ...process.env, GOTOOLCHAIN: "auto" },
        encoding: "utf8",
    });
    if (res.status !== 0) {
        throw new Error(`go build failed:\n${res.stdout}\n${res.stderr}`);
    }
    fs.renameSync(tmp, bin);
    // Keep the cache small: drop the binaries of older source states (not
    // the ones another run may have just built).
    for (const d of fs.readdirSync(cache)) {
        const dir = path.join(cache, d);
        if (d !== key && Date.now() - fs.statSync(dir).mtimeMs > 10 * 60 * 1000)
            fs.rmSync(dir, { recursive: true, force: true });
    }
    return bin;
}

function freePort() {
    return new Promise((resolve, reject) => {
        const srv = net.createServer();
        srv.unref();
        srv.on("error", reject);
        srv.listen(0, "127.0.0.1", () => {
            const { port } = srv.address();
            srv.close(() => resolve(port));
        });
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------
// Server

export class Server {
    constructor(bin) {
        this.bin = bin;
        this.log = "";
    }

    async start() {
        this.dir = fs.mkdtempSync(path.join(os.tmpdir(), "pbi-e2e-data-"));
        const up = spawnSync(
            this.bin,
            ["superuser", "upsert", "--dir", this.dir, SUPERUSER.email, SUPERUSER.password],
            {
                encoding: "utf8",
            },
        );
        if (up.status !== 0) throw new Error(`superuser upsert failed: ${up.stdout}${up.stderr}`);

        this.port = await freePort();
        this.url = `http://127.0.0.1:${this.port}`;
        this.proc = spawn(this.bin, ["serve", "--dir", this.dir, "--http", `127.0.0.1:${this.port}`], {
            stdio: ["ignore", "pipe", "pipe"],
        });
        const collect = (b) => {
            this.log += b.toString();
            if (this.log.length > 200000) this.log = this.log.slice(-100000);
        };
        this.proc.stdout.on("data", collect);
        this.proc.stderr.on("data", collect);
        this.exited = new Promise((resolve) => this.proc.on("exit", resolve));

        for (let i = 0; i < 200; i++) {
            if (this.proc.exitCode !== null) throw new Error(`server exited:\n${this.log}`);
            try {
                const r = await fetch(`${this.url}/api/health`);
                if (r.ok) return this;
            } catch {
                // not listening yet
            }
            await sleep(50);
        }
        throw new Error(`server did not start:\n${this.log}`);
    }

    async stop() {
        if (this.proc && this.proc.exitCode === null) {
            this.proc.kill("SIGTERM");
            const t = setTimeout(() => this.proc.kill("SIGKILL"), 5000);
            await this.exited;
            clearTimeout(t);
        }
        if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    }

    // api sends a JSON request and returns {status, body}.
    async api(method, p, { token, body, headers = {} } = {}) {
        const h = { ...headers };
        if (token) h.Authorization = token;
        if (body !== undefined) h["Content-Type"] = "application/json";
        const r = await fetch(this.url + p, {
            method,
            headers: h,
            body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await r.text();
        let json;
        try {
            json = text ? JSON.parse(text) : null;
        } catch {
            json = text;
        }
        return { status: r.status, body: json };
    }

    // ok is api() that asserts a 2xx answer and returns its body.
    async ok(method, p, opts) {
        const r = await this.api(method, p, opts);
        assert.ok(r.status >= 200 && r.status < 300, `${method} ${p} -> ${r.status} ${JSON.stringify(r.body)}`);
        return r.body;
    }
}

// ---------------------------------------------------------------------------
// Seed data

export async function seed(server, { consent = [] } = {}) {
    const s = { users: {} };
    const su = await server.ok("POST", "/api/collections/_superusers/auth-with-password", {
        body: { identity: SUPERUSER.email, password: SUPERUSER.password },
    });
    s.superToken = su.token;

    for (const [key, u] of Object.entries(USERS)) {
        const rec = await server.ok("POST", "/api/collections/users/records", {
            body: {
                email: u.email,
                password: u.password,
                passwordConfirm: u.password,
                name: u.name,
                emailVisibility: true,
            },
        });
        const auth = await server.ok("POST", "/api/collections/users/auth-with-password", {
            body: { identity: u.email, password: u.password },
        });
        s.users[key] = { ...u, id: rec.id, token: auth.token };
    }

    s.policy = await policyRecord(server, s.superToken);
    await server.ok("PATCH", `/api/collections/impersonation_policies/records/${s.policy.id}`, {
        token: s.superToken,
        body: { impersonatorRule: STAFF_RULE },
    });

    for (const key of consent) {
        await server.ok("PUT", "/api/impersonation/consent", { token: s.users[key].token, body: { hours: 24 } });
    }
    return s;
}

export async function policyRecord(server, superToken, collection = "users") {
    const list = await server.ok(
        "GET",
        `/api/collections/impersonation_policies/records?filter=${encodeURIComponent(`collection = "${collection}"`)}`,
        { token: superToken },
    );
    assert.equal(list.items.length, 1, `one policy for ${collection}`);
    return list.items[0];
}

// ---------------------------------------------------------------------------
// Browser

export const CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
];

// Chromium reports every non-2xx fetch as a console error; a test that
// expects a refusal says which statuses it expects.
const failedLoad = /^Failed to load resource: the server responded with a status of (\d+)/;

export class Harness {
    static async start() {
        const h = new Harness();
        h.server = await new Server(buildApp()).start();
        h.browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
        return h;
    }

    get url() {
        return this.server.url;
    }

    async close() {
        await this.browser?.close().catch(() => {});
        await this.server?.stop();
    }

    // test wraps a node:test body: it gets fresh problem tracking and a
    // helper to open contexts; afterwards every context is closed and the
    // test fails on any page error, unexpected console error or dialog.
    test(fn) {
        return async (t) => {
            const run = new Run(this, t);
            let failed = null;
            try {
                await fn(run, t);
            } catch (err) {
                failed = err;
                await run.failureShots(t.name);
            } finally {
                await run.closeAll();
            }
            if (failed) {
                if (run.problems.length) failed.message += `\nalso, in the browser:\n  ${run.problems.join("\n  ")}`;
                throw failed;
            }
            assert.deepEqual(run.problems, [], "browser problems (page errors, console errors, dialogs)");
        };
    }
}

export class Run {
    constructor(h, t) {
        this.h = h;
        this.t = t;
        this.server = h.server;
        this.url = h.url;
        this.problems = [];
        this.allowedStatuses = new Set();
        this.allowedConsole = [];
        this.contexts = [];
        this.urls = []; // every URL any page requested or navigated to
    }

    // allowStatus accepts "Failed to load resource" console errors of these
    // HTTP statuses (a test that provokes refusals).
    allowStatus(...codes) {
        for (const c of codes) this.allowedStatuses.add(String(c));
    }

    allowConsole(re) {
        this.allowedConsole.push(re);
    }

    async context(opts = {}) {
        const { label = `ctx${this.contexts.length + 1}`, ...rest } = opts;
        const ctx = await this.h.browser.newContext({
            locale: "en-US",
            timezoneId: "UTC",
            viewport: { width: 1280, height: 800 },
            ...rest,
        });
        ctx.setDefaultTimeout(10000);
        ctx._label = label;
        this.contexts.push(ctx);
        ctx.on("page", (p) => this.watch(p, label));
        ctx.on("request", (r) => this.urls.push(r.url()));
        return ctx;
    }

    async page(ctxOrOpts = {}) {
        const ctx = typeof ctxOrOpts.newPage === "function" ? ctxOrOpts : await this.context(ctxOrOpts);
        return ctx.newPage();
    }

    watch(page, label) {
        page.on("pageerror", (err) => this.problems.push(`[${label}] page error: ${err.message}`));
        page.on("console", (msg) => {
            if (msg.type() !== "error") return;
            const text = msg.text();
            const where = msg.location()?.url || "";
            const m = failedLoad.exec(text);
            if (m && this.allowedStatuses.has(m[1])) return;
            // Chromium asks every origin for /favicon.ico; the pages name none.
            if (m && m[1] === "404" && /\/favicon\.ico$/.test(where)) return;
            if (this.allowedConsole.some((re) => re.test(text))) return;
            this.problems.push(`[${label}] console error: ${text} (${where || page.url()})`);
        });
        page.on("dialog", (d) => {
            this.problems.push(`[${label}] ${d.type()} dialog: ${d.message()}`);
            d.dismiss().catch(() => {});
        });
        page.on("framenavigated", (f) => this.urls.push(f.url()));
    }

    async failureShots(name) {
        const dir = path.join(os.tmpdir(), "pbi-e2e-failures");
        fs.mkdirSync(dir, { recursive: true });
        let i = 0;
        for (const ctx of this.contexts) {
            for (const p of ctx.pages()) {
                const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, "_")}-${++i}.png`);
                await p.screenshot({ path: file, fullPage: true, timeout: 3000 }).catch(() => {});
                console.error(`failure screenshot: ${file} (${p.url()})`);
            }
        }
    }

    async closeAll() {
        for (const ctx of this.contexts) await ctx.close().catch(() => {});
        this.contexts = [];
    }

    // ---- flows shared by the tests --------------------------------------

    // login fills the shared sign-in form of the product, the user's page and
    // the console (lib/auth.js) at the page's current URL.
    async login(page, user) {
        await page.locator("#login-email").fill(user.email);
        await page.locator("#login-password").fill(user.password);
        await page.locator("#login-submit").click();
    }

    // loginProduct logs a user in through the product page's form and waits
    // for the product to show their data.
    async loginProduct(page, user) {
        await page.goto(this.url + "/");
        await this.login(page, user);
        await expectProductUser(page, user);
    }

    // loginDashboard logs the superuser in through the dashboard's own form.
    async loginDashboard(page) {
        await page.goto(this.url + "/_/");
        await page.locator("#login_identity").fill(SUPERUSER.email);
        await page.locator("#login_pass").fill(SUPERUSER.password);
        await page.locator('form.auth-with-password-form button:not([type="button"])').click();
        await page.locator(".app-header").getByText(SUPERUSER.email).waitFor();
    }

    // openImpersonation opens the dashboard's Impersonation entry (the header
    // link the extension adds) and a tab of it.
    async openImpersonation(page, tab = "users") {
        await page.locator('.app-header a[href="#/impersonation"]').click();
        await page.locator('[data-testid="imp-page"]').waitFor();
        await page.locator(`[data-testid="imp-tab-${tab}"]`).click();
        await page.locator(`[data-testid="${tab}-tab"]`).waitFor();
    }

    // usersRow is the dashboard Users row of a user (by email).
    usersRow(page, user) {
        return page.locator('[data-testid="users-row"]').filter({ hasText: user.email });
    }

    // impersonateFromDashboard fills the dashboard's Impersonate dialog (open)
    // and submits it; returns the new tab's page, or null when no tab stays
    // open (a refusal closes it).
    async submitImpersonateDialog(page, { reason = "ticket 42: cannot see invoices", minutes, mode } = {}) {
        const dlg = page.locator('[data-testid="imp-dialog"]');
        await dlg.waitFor();
        await dlg.locator('[data-testid="imp-reason"]').fill(reason);
        if (minutes !== undefined) await dlg.locator('[data-testid="imp-minutes"]').fill(String(minutes));
        if (mode) await dlg.locator(`[data-testid="imp-mode-${mode}"]`).check();
        const popup = page.context().waitForEvent("page");
        await dlg.locator('[data-testid="imp-submit"]').click();
        return popup;
    }

    // screenshot writes SHOTS/NAME.png, once the page's animations (a modal
    // sliding in) have finished and without the dashboard's passing toasts.
    async screenshot(page, name, { keepToasts = false, ...opts } = {}) {
        fs.mkdirSync(SHOTS, { recursive: true });
        await page.evaluate(async (keep) => {
            if (!keep) window.app?.toasts?.removeAll?.(false);
            const finite = document
                .getAnimations()
                .filter((a) => Number.isFinite(a.effect?.getComputedTiming().endTime));
            await Promise.race([
                Promise.all(finite.map((a) => a.finished.catch(() => {}))),
                new Promise((r) => setTimeout(r, 2000)),
            ]);
        }, keepToasts);
        await page.screenshot({ path: path.join(SHOTS, name), animations: "disabled", ...opts });
    }

    // toast waits for a dashboard flash message containing text.
    async dashboardToast(page, text) {
        const toast = page.locator(".toasts-container .toast").filter({ hasText: text });
        await toast.first().waitFor();
        return toast.first();
    }
}

// expectProductUser waits until the product page shows user's own data.
export async function expectProductUser(page, user) {
    await page.locator('[data-testid="user-email"]').filter({ hasText: user.email }).waitFor();
    assert.equal(await page.locator('[data-testid="user-name"]').textContent(), user.name);
    assert.equal(await page.locator('[data-testid="user-id"]').textContent(), user.id);
}

// expectBanner waits for the impersonation banner to say "acting as".
export async function expectBannerActing(page, user) {
    const banner = page.locator("#pb-impersonation-banner");
    await banner.waitFor({ state: "visible" });
    await page.waitForFunction(() => document.getElementById("pb-impersonation-banner")?.dataset.state === "active");
    assert.equal(await banner.locator('[data-testid="impersonation-name"]').textContent(), user.name);
    const text = await banner.innerText();
    assert.ok(text.includes(`(${user.email})`), `banner names the email: ${text}`);
    return banner;
}

export { assert, sleep };
