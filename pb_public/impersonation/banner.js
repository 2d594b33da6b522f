/*!
 * PocketBase impersonation banner (drop-in, classic script).
 *
 *   <script src="/impersonation/banner.js"></script>          <- before the page creates its PocketBase client
 *   <script type="module" src="/your/app.js"></script>
 *
 * 1. Per-tab auth. When this tab was opened by the impersonation hand-off
 *    (sessionStorage "pocketbase_impersonation"), reads and writes of the
 *    localStorage key "pocketbase_auth" (or data-auth-key="...") in THIS tab
 *    go to that sessionStorage copy, so the JS SDK's default LocalAuthStore
 *    acts as the impersonated user here, while the login kept in
 *    localStorage for the other tabs is never read, replaced or removed, and
 *    "storage" events from other tabs cannot switch this tab's user.
 * 2. Banner. While the tab's token is an impersonation token (an "act"
 *    claim) a bar is fixed at the top: "You are acting as NAME (email) ·
 *    42 min left · Exit". It checks the session every 30 s and on focus;
 *    when it has ended the bar says so. Exit ends the session and clears
 *    the tab's auth. Styled with the --pbi-* custom properties (banner.css).
 * 3. window.PocketBaseImpersonation = {active, token, record, actor, mode,
 *    masked, expires, session, ended, exit(), onChange(fn)}; masked names,
 *    by collection, the fields the policy hides from the session (the bar
 *    then says "some data hidden").
 *
 * Nothing is ever written to localStorage by this script, and no token is
 * logged. Every string from a record is set as text.
 */
"use strict";

// A block, not a function: its declarations (let, const and, in strict
// mode, functions) stay inside it, and the script included twice keeps the
// first one.
if (!window.PocketBaseImpersonation) {
    const TAB_KEY = "pocketbase_impersonation";
    const POLL_MS = 30000;

    const script = document.currentScript;
    const authKey = (script && script.getAttribute("data-auth-key")) || "pocketbase_auth";
    const scriptURL = script && script.src ? script.src : location.origin + "/impersonation/banner.js";
    const apiBase = new URL("/", scriptURL).href.replace(/\/$/, "");

    const proto = window.Storage && Storage.prototype;
    const orig = proto
        ? {
              getItem: proto.getItem,
              setItem: proto.setItem,
              removeItem: proto.removeItem,
              clear: proto.clear,
          }
        : null;

    const LS = storageOf("localStorage");
    const SS = storageOf("sessionStorage");

    // storageOf returns window[name], or null where storage is refused.
    function storageOf(name) {
        try {
            return window[name];
        } catch (e) {
            return null;
        }
    }

    function rawGet(store, key) {
        if (!store || !orig) return null;
        try {
            return orig.getItem.call(store, key);
        } catch (e) {
            return null;
        }
    }

    // ---------------------------------------------------------------------
    // 1. Per-tab auth

    const perTab = rawGet(SS, TAB_KEY) !== null;
    let listeners = [];

    if (perTab && LS && orig) redirectAuthKey();

    // redirectAuthKey sends this tab's reads and writes of the auth key in
    // localStorage to the tab's own copy in sessionStorage.
    function redirectAuthKey() {
        proto.getItem = function (key) {
            if (this === LS && String(key) === authKey) return orig.getItem.call(SS, TAB_KEY);
            return orig.getItem.apply(this, arguments);
        };
        proto.setItem = function (key, value) {
            if (this === LS && String(key) === authKey) {
                orig.setItem.call(SS, TAB_KEY, String(value));
                pageChanged();
                return;
            }
            return orig.setItem.apply(this, arguments);
        };
        proto.removeItem = function (key) {
            if (this === LS && String(key) === authKey) {
                orig.removeItem.call(SS, TAB_KEY);
                pageChanged();
                return;
            }
            return orig.removeItem.apply(this, arguments);
        };
        // localStorage.clear() in this tab clears the tab's auth, not the login
        // the other tabs share
        proto.clear = function () {
            if (this === LS) {
                const kept = orig.getItem.call(LS, authKey);
                orig.clear.call(LS);
                if (kept !== null) orig.setItem.call(LS, authKey, kept);
                orig.removeItem.call(SS, TAB_KEY);
                pageChanged();
                return;
            }
            return orig.clear.apply(this, arguments);
        };
    }

    // ---------------------------------------------------------------------
    // State

    function parse(raw) {
        if (!raw) return null;
        try {
            const v = JSON.parse(raw);
            return v && typeof v === "object" ? v : null;
        } catch (e) {
            return null;
        }
    }

    function claimsOf(token) {
        try {
            const part = String(token || "").split(".")[1];
            if (!part) return null;
            let b64 = part.replace(/-/g, "+").replace(/_/g, "/");
            while (b64.length % 4) b64 += "=";
            const bin = atob(b64);
            const bytes = new Uint8Array(bin.length);
            for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
            const c = JSON.parse(new TextDecoder().decode(bytes));
            return c && typeof c === "object" ? c : null;
        } catch (e) {
            return null;
        }
    }

    // read returns the tab's effective auth: the per-tab copy, else the
    // shared localStorage login.
    function read() {
        const raw = perTab ? rawGet(SS, TAB_KEY) : rawGet(LS, authKey);
        const data = parse(raw) || {};
        const token = typeof data.token === "string" ? data.token : "";
        const claims = claimsOf(token);
        const record = data.record || data.model || null;
        return {
            token: token,
            record: record && typeof record === "object" ? record : null,
            claims: claims,
            impersonating: !!(claims && claims.act && claims.sid),
        };
    }

    const state = {
        cur: read(),
        ended: false, // the session has ended (here or elsewhere)
        endedCause: "", // "exit", "expired", "ended"
        actor: null, // from /current
        mode: "",
        masked: null, // from /current: the fields hidden from the session, by collection
        expires: null, // Date
        exiting: false,
        exitError: false,
    };
    state.expires = expiryOf(state.cur);

    function emit() {
        for (let i = 0; i < listeners.length; i++) {
            try {
                listeners[i](api);
            } catch (e) {
                /* a listener's error is its own */
            }
        }
        try {
            window.dispatchEvent(new CustomEvent("pocketbase-impersonation", { detail: api }));
        } catch (e) {
            /* old browser */
        }
    }

    // tellSDK makes the page's SDK client re-read its store (the
    // LocalAuthStore listens to "storage" events for its key).
    function tellSDK() {
        try {
            window.dispatchEvent(new StorageEvent("storage", { key: authKey, storageArea: LS }));
        } catch (e) {
            /* ignore */
        }
    }

    // clearTabAuth forgets the impersonation token in this tab only.
    function clearTabAuth() {
        if (perTab) {
            if (SS && orig) orig.removeItem.call(SS, TAB_KEY);
        } else if (LS && orig) {
            const now = parse(rawGet(LS, authKey));
            // only when the shared login still is this impersonation token
            if (now && now.token === state.cur.token) orig.removeItem.call(LS, authKey);
        }
        tellSDK();
    }

    // pageChanged: the page itself changed or removed the tab's auth (its own
    // logout, a new login): an impersonation token dropped this way ends its
    // session, so nothing stays live without a holder.
    function pageChanged() {
        const before = state.cur;
        const now = read();
        state.cur = now;
        if (now.token !== before.token) {
            const dropped = before.impersonating && !state.ended;
            if (dropped) endSession(before, true);
            following(now, dropped && !now.token); // the page logged out of an impersonation
            if (now.impersonating) {
                loadStrings();
                check();
            }
        }
        schedule();
        render();
        emit();
    }

    // following makes the state follow the tab's new auth now (ended when the
    // page logged out of an impersonation).
    function following(now, ended) {
        state.cur = now;
        state.ended = ended;
        state.endedCause = ended ? "exit" : "";
        state.actor = null;
        state.mode = "";
        state.masked = null;
        state.exitError = false;
        state.expires = expiryOf(now);
    }

    // expiryOf returns when the impersonation token of auth expires, or null.
    function expiryOf(auth) {
        return auth.impersonating && auth.claims.exp ? new Date(auth.claims.exp * 1000) : null;
    }

    function request(method, path, token, keepalive) {
        return fetch(apiBase + path, {
            method: method,
            headers: { Authorization: token },
            credentials: "omit",
            cache: "no-store",
            keepalive: !!keepalive,
        });
    }

    function endSession(cur, keepalive) {
        const sid = cur && cur.claims && cur.claims.sid;
        if (!sid) return Promise.resolve(null);
        return request("POST", "/api/impersonation/sessions/" + encodeURIComponent(sid) + "/end", cur.token, keepalive);
    }

    function markEnded(cause) {
        if (state.ended && state.endedCause === cause) return;
        state.ended = true;
        state.endedCause = cause;
        clearTabAuth();
        state.cur = read();
        schedule();
        render();
        emit();
    }

    function exit() {
        if (!state.cur.impersonating || state.ended) return Promise.resolve();
        state.exiting = true;
        state.exitError = false;
        render();
        return endSession(state.cur, false).then(
            function (res) {
                state.exiting = false;
                // 204 ended; 401/404: it had already ended
                if (res && (res.ok || res.status === 401 || res.status === 404)) {
                    markEnded("exit");
                } else {
                    state.exitError = true;
                    render();
                }
            },
            function () {
                state.exiting = false;
                state.exitError = true;
                render();
            },
        );
    }

    let checking = false;
    function check() {
        if (!state.cur.impersonating || state.ended || checking) return;
        if (state.expires && state.expires.getTime() <= Date.now()) {
            markEnded("expired");
            return;
        }
        checking = true;
        const token = state.cur.token;
        request("GET", "/api/impersonation/current", token).then(
            function (res) {
                checking = false;
                if (token !== state.cur.token) return;
                if (res.status === 401) {
                    markEnded("ended");
                    return;
                }
                if (!res.ok) return;
                return res.json().then(function (body) {
                    if (token !== state.cur.token || !body) return;
                    if (!body.impersonating) {
                        markEnded("ended");
                        return;
                    }
                    state.actor = body.actor || null;
                    state.mode = body.mode || "";
                    state.masked = body.maskedFields || null;
                    const exp = core && core.dates.parseDate(body.expires);
                    if (exp) state.expires = exp;
                    render();
                    emit();
                });
            },
            function () {
                checking = false; /* offline: try again later */
            },
        );
    }

    let pollTimer = null;
    let tickTimer = null;
    function schedule() {
        clearInterval(pollTimer);
        clearInterval(tickTimer);
        pollTimer = tickTimer = null;
        if (!state.cur.impersonating || state.ended) return;
        pollTimer = setInterval(check, POLL_MS);
        tickTimer = setInterval(tick, 1000);
    }

    function tick() {
        if (state.expires && state.expires.getTime() <= Date.now()) {
            markEnded("expired");
            return;
        }
        renderCountdown();
    }

    window.addEventListener("focus", check);
    document.addEventListener("visibilitychange", function () {
        if (!document.hidden) check();
    });
    // the shared login changed in another tab: only matters when this tab
    // uses it (no per-tab copy)
    window.addEventListener("storage", onSharedLogin);

    function onSharedLogin(e) {
        if (perTab || !e.isTrusted || e.key !== authKey || e.storageArea !== LS) return;
        const now = read();
        if (now.token === state.cur.token) return;
        following(now, false);
        schedule();
        render();
        emit();
        check();
    }

    // ---------------------------------------------------------------------
    // 2. The banner

    // The UI core (lib/): the catalogue, dates and the pages' renderer,
    // loaded as modules once the tab is impersonating; the bar shows once
    // they are there (its stylesheet loads meanwhile).
    let core = null;
    function tr(key, vars) {
        return core.i18n.t(key, vars);
    }

    let bar = null;
    let spacer = null;
    const parts = {};
    let cssReady = false;

    function el(tag, cls, attrs) {
        return core.dom.h(tag, { class: cls || undefined, attrs: attrs });
    }

    function build() {
        if (bar || !document.body) return;
        loadStylesheet();
        bar = el("div", "pbi-banner", {
            id: "pb-impersonation-banner",
            role: "region",
            "data-testid": "impersonation-banner",
        });
        if (!cssReady) bar.style.setProperty("visibility", "hidden");
        buildParts();
        bar.appendChild(parts.text);
        bar.appendChild(parts.exit);
        spacer = el("div", "pbi-spacer", { "aria-hidden": "true" });
        document.body.insertBefore(spacer, document.body.firstChild);
        document.body.insertBefore(bar, document.body.firstChild);
        if (window.ResizeObserver) {
            new ResizeObserver(function () {
                spacer.style.height = bar.offsetHeight + "px";
            }).observe(bar);
        }
    }

    // loadStylesheet adds banner.css; the bar shows once it has loaded (or
    // failed, or after 1.5 s).
    function loadStylesheet() {
        const link = el("link", null, { rel: "stylesheet", href: new URL("banner.css", scriptURL).href });
        const reveal = function () {
            cssReady = true;
            if (bar) bar.style.removeProperty("visibility");
        };
        link.addEventListener("load", reveal);
        link.addEventListener("error", reveal);
        setTimeout(reveal, 1500);
        (document.head || document.documentElement).appendChild(link);
    }

    // buildParts makes the bar's parts: "You are acting as NAME (email) ·
    // mode · time left", the status line, the live region and Exit.
    function buildParts() {
        parts.text = el("p", "pbi-text");
        parts.active = el("span", "pbi-active");
        parts.acting = el("span", "pbi-acting");
        parts.name = el("strong", "pbi-name", { "data-testid": "impersonation-name" });
        parts.email = el("span", "pbi-email");
        parts.mode = el("span", "pbi-mode");
        parts.masked = el("span", "pbi-masked", { "data-testid": "impersonation-masked" });
        parts.sep = el("span", "pbi-sep", { "aria-hidden": "true" });
        parts.sep.textContent = "·";
        parts.countdown = el("span", "pbi-countdown", { "data-testid": "impersonation-countdown" });
        core.dom.fill(
            parts.active,
            parts.acting,
            " ",
            parts.name,
            parts.email,
            parts.mode,
            parts.masked,
            parts.sep,
            parts.countdown,
        );
        parts.status = el("span", "pbi-status", { "data-testid": "impersonation-status" });
        parts.live = el("span", "pbi-live", { "aria-live": "polite" });
        core.dom.fill(parts.text, parts.active, parts.status, parts.live);
        parts.exit = el("button", "pbi-exit", {
            type: "button",
            id: "pb-impersonation-exit",
            "data-testid": "impersonation-exit",
        });
        parts.exit.addEventListener("click", function () {
            exit();
        });
    }

    function renderCountdown() {
        if (!parts.countdown || !core) return;
        if (state.expires) {
            const left = Math.max(0, state.expires.getTime() - Date.now());
            parts.countdown.textContent = tr("banner.left", { time: core.dates.formatDuration(left) });
            parts.countdown.hidden = false;
            parts.sep.hidden = false;
        } else {
            parts.countdown.hidden = true;
            parts.sep.hidden = true;
        }
    }

    function render() {
        const show = state.cur.impersonating || state.ended;
        if (!show) {
            if (bar) {
                bar.hidden = true;
                spacer.hidden = true;
            }
            document.documentElement.classList.remove("pbi-impersonating");
            return;
        }
        if (!document.body || !core) return;
        build();
        bar.hidden = false;
        spacer.hidden = false;
        document.documentElement.classList.toggle("pbi-impersonating", !state.ended);
        bar.setAttribute("aria-label", tr("banner.label"));
        bar.setAttribute("data-state", state.ended ? "ended" : "active");
        bar.setAttribute("lang", core.i18n.getLang());
        if (state.ended) renderEnded();
        else renderActive();
    }

    const ENDED_KEYS = { exit: "banner.endedExit", expired: "banner.expired" };
    let lastLive = "";

    // renderEnded: "This impersonation session has ended", said once in the
    // live region.
    function renderEnded() {
        parts.active.hidden = true;
        parts.exit.hidden = true;
        parts.status.hidden = false;
        const key = ENDED_KEYS[state.endedCause] || "banner.ended";
        parts.status.textContent = tr(key) + " " + tr("banner.closeHint");
        if (lastLive !== key) {
            parts.live.textContent = tr(key);
            lastLive = key;
        }
    }

    // renderActive: who, the mode, the time left and Exit.
    function renderActive() {
        const rec = state.cur.record || {};
        const name = rec.name || rec.username || rec.email || rec.id || (state.cur.claims && state.cur.claims.id) || "";
        parts.active.hidden = false;
        parts.status.hidden = !state.exitError;
        parts.status.textContent = state.exitError ? tr("banner.exitFailed") : "";
        parts.acting.textContent = tr("banner.acting");
        parts.name.textContent = String(name);
        parts.email.textContent = rec.email && rec.email !== name ? " (" + rec.email + ")" : "";
        // the mode, read-only or write, always shown and as prominent
        parts.mode.textContent = state.mode ? tr(state.mode === "write" ? "banner.write" : "banner.readOnly") : "";
        parts.mode.hidden = !state.mode;
        if (state.mode) parts.mode.setAttribute("data-mode", state.mode);
        renderMasked();
        parts.exit.hidden = false;
        parts.exit.disabled = state.exiting;
        parts.exit.textContent = state.exiting ? tr("banner.exiting") : tr("banner.exit");
        renderCountdown();
    }

    // renderMasked: "some data hidden" while the policy masks fields, which
    // its title names ("payments.cardNumber, users.phone").
    function renderMasked() {
        const fields = [];
        for (const collection in state.masked || {}) {
            const names = state.masked[collection] || [];
            for (let i = 0; i < names.length; i++) fields.push(collection + "." + names[i]);
        }
        parts.masked.hidden = !fields.length;
        parts.masked.textContent = fields.length ? tr("banner.masked") : "";
        if (fields.length) parts.masked.setAttribute("title", tr("banner.maskedTitle", { fields: fields.join(", ") }));
        else parts.masked.removeAttribute("title");
    }

    let coreLoading = null;
    function loadStrings() {
        if (coreLoading) return coreLoading;
        const lib = function (name) {
            return import(new URL("lib/" + name + ".js", scriptURL).href);
        };
        return (coreLoading = Promise.all([lib("i18n"), lib("dates"), lib("dom")]).then(
            function (mods) {
                core = { i18n: mods[0], dates: mods[1], dom: mods[2] };
                core.i18n.onLangChange(function () {
                    render();
                });
                render();
            },
            function (err) {
                coreLoading = null;
                if (window.console) console.error("[impersonation] the banner failed to load:", err);
            },
        ));
    }

    // ---------------------------------------------------------------------
    // 3. The global

    const api = {
        get active() {
            return state.cur.impersonating && !state.ended;
        },
        get token() {
            return state.cur.impersonating && !state.ended ? state.cur.token : "";
        },
        get record() {
            return state.cur.impersonating && !state.ended ? state.cur.record : null;
        },
        get actor() {
            return state.actor;
        },
        get mode() {
            return state.mode;
        },
        get masked() {
            return state.masked;
        },
        get expires() {
            return state.expires;
        },
        get session() {
            return state.cur.impersonating && state.cur.claims ? state.cur.claims.sid : "";
        },
        get ended() {
            return state.ended;
        },
        get perTab() {
            return perTab;
        },
        exit: exit,
        onChange: function (fn) {
            listeners.push(fn);
            return function () {
                listeners = listeners.filter(function (f) {
                    return f !== fn;
                });
            };
        },
    };
    try {
        Object.defineProperty(window, "PocketBaseImpersonation", { value: Object.freeze(api), enumerable: true });
    } catch (e) {
        /* defined twice: keep the first */
    }

    function start() {
        render();
        if (state.cur.impersonating || state.ended) {
            loadStrings().then(check);
            schedule();
        }
    }

    // a token that has already expired is noticed at once
    if (state.cur.impersonating && state.expires && state.expires.getTime() <= Date.now()) {
        state.ended = true;
        state.endedCause = "expired";
        clearTabAuth();
        state.cur = read();
    }

    if (document.readyState === "loading") {
        document.addEventListener("DOMContentLoaded", start);
    } else {
        start();
    }
}
