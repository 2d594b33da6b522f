// Shared state of the dashboard extension: the language (from i18n.js, so
// the dashboard, the user's pages and the banner agree), a once-a-second
// clock for countdowns, and small formatting helpers.
//
// `t`, `store` and `watch` are the dashboard's globals (Shablon); the i18n
// module's own `t` is only ever called as `i18n.t`, so it never shadows the
// tag builder.

// the plugin's pages live next to the API (an app served under a sub-path included)
const pagesURL = (path) => new URL(app.pb.buildURL(path), window.location.href).href;
const i18n = await import(pagesURL("/impersonation/lib/i18n.js"));
await import(pagesURL("/impersonation/lib/i18n-dashboard.js"));

export const ui = store({
    lang: i18n.getLang(),
    now: Date.now(),
});

i18n.onLangChange((lang) => {
    ui.lang = lang;
});

/**
 * Returns the message `key` in the chosen language. Called inside a reactive
 * function (`() => L("dash.x")`) the text follows language changes.
 */
export function L(key, vars) {
    ui.lang; // dependency for reactive callers
    return i18n.t(key, vars);
}

export function getLang() {
    return ui.lang;
}

export function setLang(lang) {
    i18n.setLang(lang);
    ui.lang = i18n.getLang();
}

// PocketBase dates look like "2026-11-21 10:00:00.123Z".
export function toDate(value) {
    if (!value) {
        return null;
    }
    const d = value instanceof Date ? value : new Date(String(value).replace(" ", "T"));
    return isNaN(d.getTime()) ? null : d;
}

export function isoOf(value) {
    return toDate(value)?.toISOString() || "";
}

/** Date and time in the chosen language ("" for none). */
export function fmtDate(value) {
    ui.lang;
    const iso = isoOf(value);
    return iso ? i18n.formatDate(iso) : "";
}

/** Relative time ("in 5 minutes", "hace 2 horas"). */
export function fmtRelative(value) {
    ui.lang;
    const iso = isoOf(value);
    return iso ? i18n.formatRelative(iso) : "";
}

export function fmtDuration(ms) {
    ui.lang;
    return i18n.formatDuration(Math.max(0, ms));
}

/** Milliseconds left until `value`, following the page clock. */
export function msLeft(value) {
    const d = toDate(value);
    return d ? d.getTime() - ui.now : 0;
}

// One clock for all countdowns, running while at least one view needs it.
let tickers = 0;
let tickId = 0;

export function startClock() {
    tickers++;
    if (!tickId) {
        ui.now = Date.now();
        tickId = setInterval(() => {
            ui.now = Date.now();
        }, 1000);
    }
    return () => {
        tickers--;
        if (tickers <= 0) {
            tickers = 0;
            clearInterval(tickId);
            tickId = 0;
        }
    };
}
