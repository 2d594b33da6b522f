// Shared state of the dashboard extension: the plugin's UI core (`lib`: the
// catalogue, dates, errors, the API client and the Impersonate dialog's
// model, the same modules the pages use), the language (so the dashboard,
// the user's pages and the banner agree), a once-a-second clock for
// countdowns, and reactive formatting helpers.
//
// `t`, `store` and `watch` are the dashboard's globals (Shablon); the i18n
// module's own `t` is only ever called as `i18n.t`, so it never shadows the
// tag builder.

// the plugin's pages live next to the API (an app served under a sub-path included)
const pagesURL = (path) => new URL(app.pb.buildURL(path), window.location.href).href;
const load = (name) => import(pagesURL("/impersonation/lib/" + name + ".js"));
const [i18n, dates, errors, api, impersonate, handoff] = await Promise.all(
    ["i18n", "dates", "errors", "api", "impersonate", "handoff"].map(load),
);

/** The UI core's modules. */
export const lib = { i18n, dates, errors, api: api.impersonationApi(app.pb), impersonate, handoff };

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

/** A Date from a PocketBase date (dates.parseDate). */
export const toDate = dates.parseDate;

/** Date and time in the chosen language ("" for none). */
export function fmtDate(value) {
    ui.lang;
    return dates.formatDate(value);
}

/** Relative time ("in 5 minutes", "hace 2 horas"). */
export function fmtRelative(value) {
    ui.lang;
    return dates.formatRelative(value);
}

export function fmtDuration(ms) {
    ui.lang;
    return dates.formatDuration(ms);
}

/** Milliseconds left until `value`, following the page clock. */
export function msLeft(value) {
    return dates.msUntil(value, ui.now);
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
