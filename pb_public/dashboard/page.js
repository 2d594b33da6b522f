// The dashboard page #/impersonation: the mail warning and the audit's
// health, tabs Users, Sessions, Audit, Policies, Sinks and Settings, a language
// switch, and one realtime subscription (sessions and consents) that tells
// the open tab to refresh.
import { L, getLang, setLang, ui } from "./state.js";
import { SESSIONS, notifyChanged } from "./api.js";
import { usersTab } from "./users.js";
import { sessionsTab } from "./sessions.js";
import { auditTab } from "./audit.js";
import { policiesTab } from "./policies.js";
import { settingsTab } from "./settings.js";
import { sinksTab } from "./sinks.js";
import { healthPanel, mailWarning } from "./health.js";

const TABS = [
    { name: "users", icon: "ri-group-line", view: usersTab },
    { name: "sessions", icon: "ri-time-line", view: sessionsTab },
    { name: "audit", icon: "ri-file-list-3-line", view: auditTab },
    { name: "policies", icon: "ri-shield-keyhole-line", view: policiesTab },
    { name: "sinks", icon: "ri-send-plane-line", view: sinksTab },
    { name: "settings", icon: "ri-settings-4-line", view: settingsTab },
];

/** The hash's query as the router gives it: {key: [values]}. */
function hashQuery() {
    const hash = window.location.hash;
    const i = hash.indexOf("?");
    const query = {};
    if (i >= 0) {
        for (const [k, v] of new URLSearchParams(hash.slice(i + 1))) {
            (query[k] = query[k] || []).push(v);
        }
    }
    return query;
}

export function impersonationPage(route) {
    const first = route?.query?.tab?.[0];
    const data = store({
        tab: TABS.some((tab) => tab.name == first) ? first : "users",
        live: false,
    });
    const realtime = realtimeRefresh(data);
    const titleWatcher = watch(() => {
        app.store.title = L("dash.nav");
    });

    return t.div(
        {
            className: "page imp-page",
            "html-data-testid": "imp-page",
            // "true" once the sessions' realtime subscription is in place
            "html-data-live": () => String(data.live),
            "html-lang": () => ui.lang,
            onmount: () => realtime.start(),
            onunmount: () => {
                titleWatcher?.unwatch();
                realtime.stop();
            },
        },
        t.div(
            { className: "page-content full-height" },
            t.header(
                { className: "page-header" },
                t.nav(
                    { className: "breadcrumbs" },
                    t.div(null, () => L("dash.nav")),
                ),
                langSwitch(),
            ),
            mailWarning(),
            healthPanel(),
            tabList(data),
            tabPanel(data),
            t.footer({ className: "page-footer" }, app.components.credits()),
        ),
    );
}

/**
 * One realtime subscription (sessions and consents) that tells the open tab
 * to refresh (notifyChanged), a quarter of a second after the last change.
 */
function realtimeRefresh(data) {
    const unsubscribers = [];
    let changedTimer;
    function changedSoon() {
        clearTimeout(changedTimer);
        changedTimer = setTimeout(notifyChanged, 250);
    }
    async function start() {
        for (const name of [SESSIONS, "impersonation_consents"]) {
            try {
                unsubscribers.push(await app.pb.collection(name).subscribe("*", changedSoon));
                if (name == SESSIONS) {
                    data.live = true;
                }
            } catch (err) {
                console.warn("[impersonation] realtime subscription failed:", err);
            }
        }
    }
    function stop() {
        clearTimeout(changedTimer);
        for (const unsubscribe of unsubscribers) {
            unsubscribe?.().catch?.(() => {});
        }
    }
    return { start, stop };
}

function langSwitch() {
    return t.div(
        { className: "page-header-primary-btns imp-lang" },
        t.label({ htmlFor: "imp_lang", className: "txt-hint txt-sm" }, () => L("common.language")),
        t.div(
            { className: "field" },
            t.select(
                {
                    id: "imp_lang",
                    className: "imp-lang-select",
                    "html-data-testid": "imp-lang",
                    onchange: (e) => setLang(e.target.value),
                },
                t.option({ value: "en", lang: "en", selected: () => getLang() == "en" }, "English"),
                t.option({ value: "es", lang: "es", selected: () => getLang() == "es" }, "Español"),
            ),
        ),
    );
}

/** Shows tab `name` (the address keeps only the tab), focusing it when asked. */
function selectTab(data, name, focus = false) {
    if (data.tab != name) {
        // the address keeps only the tab: the previous tab's filters go
        const hash = "#/impersonation" + (name == "users" ? "" : "?tab=" + name);
        window.history.replaceState(null, "", window.location.pathname + window.location.search + hash);
        data.tab = name;
    }
    if (focus) {
        document.getElementById("imp_tab_" + name)?.focus();
    }
}

/** Arrow keys, Home and End move between the tabs. */
function onTabKey(e, data) {
    const i = TABS.findIndex((tab) => tab.name == data.tab);
    const next = {
        ArrowRight: (i + 1) % TABS.length,
        ArrowLeft: (i - 1 + TABS.length) % TABS.length,
        Home: 0,
        End: TABS.length - 1,
    }[e.key];
    if (next !== undefined) {
        e.preventDefault();
        selectTab(data, TABS[next].name, true);
    }
}

function tabList(data) {
    return t.div(
        {
            className: "tabs-header imp-tabs",
            role: "tablist",
            ariaLabel: () => L("dash.nav"),
            onkeydown: (e) => onTabKey(e, data),
        },
        ...TABS.map((tab) =>
            t.button(
                {
                    type: "button",
                    id: "imp_tab_" + tab.name,
                    role: "tab",
                    "html-aria-controls": "imp_panel",
                    "html-aria-selected": () => String(data.tab == tab.name),
                    "html-data-testid": "imp-tab-" + tab.name,
                    tabIndex: () => (data.tab == tab.name ? 0 : -1),
                    className: () => `tab-item ${data.tab == tab.name ? "active" : ""}`,
                    onclick: () => selectTab(data, tab.name),
                },
                t.i({ className: tab.icon, ariaHidden: true }),
                t.span({ className: "txt" }, () => L("dash.tab." + tab.name)),
            ),
        ),
    );
}

function tabPanel(data) {
    return t.div(
        {
            id: "imp_panel",
            role: "tabpanel",
            className: "imp-panel",
            "html-aria-labelledby": () => "imp_tab_" + data.tab,
        },
        () => {
            const tab = TABS.find((tab) => tab.name == data.tab);
            // a fresh view per tab switch (rid), given the address's query
            return t.div({ rid: tab.name, className: "imp-panel-content" }, tab.view({ query: hashQuery() }));
        },
    );
}
