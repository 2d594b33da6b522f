// The support console: staff who are not superusers sign in with their own
// account, see the users their policy lets them impersonate, and start a
// session in a new tab (lib/handoff.js).
import PocketBase, { LocalAuthStore } from "/impersonation/vendor/pocketbase.es.mjs";
import { t, onLangChange } from "../lib/i18n.js";
import { formatDate, formatUnit } from "../lib/dates.js";
import { h, clear, fill } from "../lib/dom.js";
import { flash, initPage, debounce, openDialog } from "../lib/ui.js";
import { errorText } from "../lib/errors.js";
import { displayName } from "../lib/records.js";
import { impersonationApi } from "../lib/api.js";
import { renderLogin } from "../lib/auth.js";
import {
    FIELDS,
    IDS,
    REASON_MAX_LENGTH,
    canAsk,
    canStart,
    consentState,
    requestState,
    targetConsent,
    dialogTexts,
    impersonateModel,
    validate,
    submit as submitImpersonation,
} from "../lib/impersonate.js";

const PER_PAGE = 20;
// The console keeps its own login: staff signing in here never replace the
// login the product keeps in "pocketbase_auth".
export const CONSOLE_AUTH_KEY = "pb_impersonation_console_auth";

const pb = new PocketBase("/", new LocalAuthStore(CONSOLE_AUTH_KEY));
pb.autoCancellation(false);
const api = impersonationApi(pb);

const app = document.getElementById("app");
const who = document.getElementById("who");
const whoEmail = document.getElementById("who-email");

const state = {
    policies: null, // GET /api/impersonation/policies
    current: "", // selected policy collection
    search: "",
    page: 1,
    list: null, // GET /api/impersonation/targets answer
    loading: false,
    error: "", // policies error
    listError: "",
};
let listSeq = 0;
let unsubscribe = null;
let shownToken = null; // start() runs once per login

initPage();
document.getElementById("logout").addEventListener("click", () => pb.authStore.clear());
onLangChange(() => {
    if (state.policies || state.error) render();
});
// sign-in, sign-out (here or in another console tab): show the new state
pb.authStore.onChange(() => {
    start();
});
start();

async function start() {
    const token = pb.authStore.token;
    if (token === shownToken) return;
    shownToken = token;
    if (unsubscribe) {
        const off = unsubscribe;
        unsubscribe = null;
        off().catch(() => {});
    }
    Object.assign(state, {
        policies: null,
        current: "",
        search: "",
        page: 1,
        list: null,
        loading: false,
        error: "",
        listError: "",
    });
    listSeq++;
    if (!pb.authStore.isValid || !pb.authStore.record) {
        showLogin();
        return;
    }
    who.hidden = false;
    whoEmail.textContent = pb.authStore.record.email || displayName(pb.authStore.record);
    loadPolicies();
}

// showLogin shows the sign-in form, with a choice of the collections staff
// can sign in to (GET sign-in: the same list for anyone, no email looked up).
async function showLogin() {
    const token = shownToken;
    who.hidden = true;
    let collections = [];
    try {
        collections = (await api.signInCollections()).collections || [];
    } catch {
        // the form still lets one type a collection
    }
    if (token !== shownToken) return;
    app.removeAttribute("aria-busy");
    const wrap = h("div", { class: "login-wrap" });
    fill(app, wrap);
    // a successful sign-in changes the store: onChange shows the console
    renderLogin(wrap, {
        pb,
        collection: collections.includes("users") || !collections.length ? "users" : collections[0],
        collections,
        titleKey: "console.loginTitle",
        introKey: "console.loginIntro",
    });
}

// ---------------------------------------------------------------------------
// Data

async function loadPolicies() {
    const token = shownToken;
    try {
        const res = await api.policies();
        if (token !== shownToken) return;
        state.policies = res;
        state.error = "";
        const cols = (res.policies || []).map((p) => p.collection);
        if (!cols.includes(state.current)) state.current = cols[0] || "";
    } catch (err) {
        if (token !== shownToken) return;
        if (err && err.status === 401) {
            pb.authStore.clear();
            return;
        }
        state.policies = null;
        state.error = err && err.status === 403 ? t("console.noAccess") : errorText(err);
    }
    render();
    if (state.current) {
        await loadTargets();
        subscribe();
    }
}

function policy() {
    return ((state.policies && state.policies.policies) || []).find((p) => p.collection === state.current) || null;
}

async function loadTargets() {
    const seq = ++listSeq;
    state.loading = true;
    renderList();
    try {
        const res = await api.targets({
            collection: state.current,
            search: state.search,
            page: state.page,
            perPage: PER_PAGE,
        });
        if (seq !== listSeq) return;
        state.list = res;
        state.listError = "";
    } catch (err) {
        if (seq !== listSeq) return;
        if (err && err.status === 401) {
            pb.authStore.clear();
            return;
        }
        state.list = null;
        state.listError = err && err.status === 403 ? t("console.noAccess") : errorText(err);
    }
    state.loading = false;
    renderList();
}

const reloadSoon = debounce(() => {
    if (state.current) loadTargets();
}, 400);

async function subscribe() {
    if (unsubscribe) return;
    const token = shownToken;
    try {
        // the sessions this account runs: their start and end change the list
        const off = await pb.collection("impersonation_sessions").subscribe("*", reloadSoon);
        if (token === shownToken && !unsubscribe) unsubscribe = off;
        else off().catch(() => {});
    } catch {
        // realtime is a nicety
    }
}

// ---------------------------------------------------------------------------
// Rendering

function render() {
    app.removeAttribute("aria-busy");
    const pol = (state.policies && state.policies.policies) || [];
    const header = h(
        "div",
        { class: "page-header" },
        h("h1", { text: t("console.title") }),
        h("p", { class: "hint", text: t("console.intro") }),
    );
    if (state.error || !pol.length) {
        fill(app, header, consoleNote());
        return;
    }
    fill(app, header, pol.length > 1 ? collectionTabs(pol) : null, targetsPanel(pol));
    renderList();
}

// consoleNote says why there is no list: the policies' error, or no policy
// to act under.
function consoleNote() {
    return h("p", {
        class: state.error ? "alert warning" : "alert info",
        id: "console-error",
        dataset: { testid: "console-error" },
        attrs: state.error ? { role: "alert" } : undefined,
        text: state.error || t("console.noAccess"),
    });
}

// collectionTabs: one tab per policy collection.
function collectionTabs(pol) {
    return h(
        "div",
        { class: "tabs", attrs: { role: "tablist", "aria-label": t("console.collections") } },
        pol.map((p) =>
            h("button", {
                type: "button",
                id: `tab-${p.collection}`,
                dataset: { testid: "collection-tab", collection: p.collection },
                attrs: {
                    role: "tab",
                    "aria-selected": p.collection === state.current ? "true" : "false",
                    "aria-controls": "targets-panel",
                    tabindex: p.collection === state.current ? "0" : "-1",
                },
                text: p.collection,
                on: {
                    click: () => selectCollection(p.collection),
                    keydown: (e) => tabKeys(e, pol),
                },
            }),
        ),
    );
}

// targetsPanel: the policy's summary, the search and the list (filled by
// renderList).
function targetsPanel(pol) {
    const search = h("input", {
        type: "search",
        id: "targets-search",
        value: state.search,
        dataset: { testid: "targets-search" },
        attrs: {
            "aria-label": t("users.search"),
            placeholder: t("users.searchPlaceholder"),
            autocomplete: "off",
            spellcheck: "false",
        },
        on: { input: onSearch },
    });
    return h(
        "section",
        {
            class: "panel",
            id: "targets-panel",
            attrs:
                pol.length > 1
                    ? { role: "tabpanel", "aria-labelledby": `tab-${state.current}` }
                    : { "aria-label": state.current },
        },
        h("div", { id: "policy-summary" }),
        h(
            "div",
            { class: "section-head" },
            h("form", { class: "search", role: "search", on: { submit: (e) => e.preventDefault() } }, search),
            h("span", { class: "hint", id: "targets-count", attrs: { "aria-live": "polite" } }),
        ),
        h("div", { id: "targets" }),
    );
}

function tabKeys(e, pol) {
    if (e.key !== "ArrowRight" && e.key !== "ArrowLeft") return;
    const i = pol.findIndex((p) => p.collection === state.current);
    const next = pol[(i + (e.key === "ArrowRight" ? 1 : pol.length - 1)) % pol.length];
    selectCollection(next.collection);
    document.getElementById(`tab-${next.collection}`)?.focus();
}

function selectCollection(c) {
    if (c === state.current) return;
    state.current = c;
    state.page = 1;
    state.search = "";
    state.list = null;
    render();
    loadTargets();
}

const searchSoon = debounce(() => {
    state.page = 1;
    loadTargets();
}, 300);
function onSearch(e) {
    state.search = e.target.value.trim();
    searchSoon();
}

function renderPolicySummary() {
    const box = document.getElementById("policy-summary");
    const p = policy();
    if (!box || !p) return;
    clear(box).appendChild(
        h(
            "div",
            { class: "row", dataset: { testid: "policy-summary" } },
            h("span", {
                class: "label",
                text: p.consent === "required" ? t("console.consentRequired") : t("console.consentNone"),
            }),
            h("span", {
                class: "label",
                text: p.reasonRequired ? t("console.reasonRequired") : t("console.reasonOptional"),
            }),
            h("span", {
                class: "label",
                text: t("console.upTo", { time: formatUnit(p.maxMinutes, "minute", "long") }),
            }),
            h("span", {
                class: "label",
                text: t("console.modes", { modes: (p.modes || []).map((m) => t("mode." + m)).join(", ") }),
            }),
        ),
    );
}

function renderList() {
    renderPolicySummary();
    const box = document.getElementById("targets");
    const count = document.getElementById("targets-count");
    if (!box) return;
    box.setAttribute("aria-busy", state.loading ? "true" : "false");
    if (state.listError) {
        clear(box).appendChild(h("p", { class: "alert danger", attrs: { role: "alert" }, text: state.listError }));
        if (count) count.textContent = "";
        return;
    }
    const list = state.list;
    if (!list) {
        clear(box).appendChild(h("p", { class: "hint", text: t("common.loading") }));
        return;
    }
    if (count) count.textContent = t("console.count", { n: list.totalItems });
    fill(box, targetsTable(list.items || []), list.totalPages > 1 ? listPager(list) : null);
}

function targetsTable(items) {
    const rows = items.map(renderRow);
    const empty = h(
        "tr",
        {},
        h("td", { class: "empty", colspan: "4", text: state.search ? t("console.noMatch") : t("console.empty") }),
    );
    return h(
        "div",
        { class: "table-wrap" },
        h(
            "table",
            { class: "table responsive", id: "targets-table", dataset: { testid: "targets-table" } },
            h("caption", { class: "visually-hidden", text: t("console.tableCaption", { collection: state.current }) }),
            h(
                "thead",
                {},
                h(
                    "tr",
                    {},
                    h("th", { scope: "col", text: t("col.user") }),
                    h("th", { scope: "col", text: t("col.consent") }),
                    h("th", { scope: "col", text: t("col.session") }),
                    h("th", { scope: "col" }, h("span", { class: "visually-hidden", text: t("col.actions") })),
                ),
            ),
            h("tbody", {}, rows.length ? rows : empty),
        ),
    );
}

function listPager(list) {
    const button = (id, text, page, disabled) =>
        h("button", {
            type: "button",
            class: "btn sm secondary",
            id,
            dataset: { testid: id },
            disabled,
            text,
            on: { click: () => goPage(page) },
        });
    return h(
        "nav",
        { class: "pager", attrs: { "aria-label": t("common.pagination") } },
        button("page-prev", t("common.prev"), list.page - 1, list.page <= 1),
        h("span", {
            class: "hint",
            id: "page-info",
            text: t("common.pageOf", { page: list.page, pages: list.totalPages }),
        }),
        button("page-next", t("common.next"), list.page + 1, list.page >= list.totalPages),
    );
}

function goPage(n) {
    state.page = n;
    loadTargets().then(() => {
        const btn = document.getElementById(n > 1 ? "page-prev" : "page-next");
        if (btn && !btn.disabled) btn.focus();
    });
}

function avatarOf(item) {
    if (item.avatar) {
        const src = pb.files.getURL(item, item.avatar, { thumb: "72x72" });
        return h("img", { class: "avatar", src, alt: "", loading: "lazy" });
    }
    const letter = (displayName(item).trim()[0] || "?").toUpperCase();
    return h("span", { class: "avatar", attrs: { "aria-hidden": "true" }, text: letter });
}

function consentCell(c) {
    if (!c || !c.required)
        return [
            h("span", {
                class: "label",
                dataset: { testid: "consent-state", state: "not-required" },
                text: t("consent.notRequired"),
            }),
        ];
    if (c.active) {
        return [
            h(
                "span",
                { class: "label success", dataset: { testid: "consent-state", state: "active" } },
                h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
                t("consent.given"),
            ),
            h("div", { class: "cell-sub", text: t("console.until", { date: formatDate(c.expires) }) }),
        ];
    }
    return [
        h(
            "span",
            { class: "label danger", dataset: { testid: "consent-state", state: "none" } },
            h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
            t("consent.notGiven"),
        ),
    ];
}

function sessionCell(s) {
    if (!s) return [h("span", { class: "hint", dataset: { testid: "live-session", state: "none" }, text: "—" })];
    return [
        h(
            "span",
            { class: "label warning", dataset: { testid: "live-session", state: "live" } },
            h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
            t("session.live"),
        ),
        h("div", {
            class: "cell-sub",
            text: t("console.liveBy", {
                actor: s.actorName || s.actor,
                mode: t("mode." + s.mode),
                until: formatDate(s.expires),
            }),
        }),
    ];
}

function renderRow(item) {
    const name = displayName(item);
    return h(
        "tr",
        { dataset: { testid: "target-row", recordId: item.id } },
        h(
            "td",
            {},
            h(
                "div",
                { class: "user-cell" },
                avatarOf(item),
                h(
                    "div",
                    {},
                    h("div", { class: "cell-main", dataset: { testid: "target-name" }, text: name }),
                    item.email && item.email !== name
                        ? h("div", { class: "cell-sub unbroken", text: item.email, attrs: { title: item.email } })
                        : null,
                    h("div", { class: "cell-sub mono unbroken", text: item.id }),
                ),
            ),
        ),
        h(
            "td",
            { class: "half", attrs: { "data-label": t("col.consent") } },
            consentCell(item.consent),
            requestCell(item),
        ),
        h("td", { class: "half", attrs: { "data-label": t("col.session") } }, sessionCell(item.liveSession)),
        h("td", { class: "actions" }, startAction(item, name)),
    );
}

// requestCell: where the caller's newest request about the user stands.
function requestCell(item) {
    const st = requestState(item);
    if (!st) return null;
    const cls = { pending: "warning", approved: "success", declined: "danger" }[st] || "";
    return h(
        "div",
        {},
        h("span", { class: `label ${cls}`, dataset: { testid: "request-state", state: st }, text: t("request." + st) }),
    );
}

// startAction: Impersonate, or, while the user's consent is missing, why
// not (a start would be refused and count toward the limit all the same),
// with Ask (a request for access) and, where the policy allows it, Break
// glass.
function startAction(item, name) {
    if (!canStart(item)) {
        const p = policy();
        return [
            h("span", {
                class: "hint",
                dataset: { testid: "needs-consent", recordId: item.id },
                text: t("console.needsConsent"),
            }),
            canAsk(item) ? kindButton(item, name, "ask", "btn sm secondary") : null,
            p && p.breakGlass && targetConsent(item) === "missing"
                ? kindButton(item, name, "breakGlass", "btn sm danger")
                : null,
        ];
    }
    return h("button", {
        type: "button",
        class: "btn sm",
        dataset: { testid: "impersonate", recordId: item.id },
        attrs: { "aria-label": t("dialog.title", { name }) },
        text: t("dialog.action"),
        on: { click: () => openDialogFor(item) },
    });
}

// kindButton opens the dialog of kind ("ask", "breakGlass") on item.
function kindButton(item, name, kind, cls) {
    return h("button", {
        type: "button",
        class: cls,
        dataset: { testid: kind === "ask" ? "ask" : "break-glass", recordId: item.id },
        attrs: { "aria-label": t(`dialog.${kind}Title`, { name }) },
        text: t("dialog." + kind),
        on: { click: () => openDialogFor(item, kind) },
    });
}

// ---------------------------------------------------------------------------
// The Impersonate dialog: the UI core's model (lib/impersonate.js), drawn
// with the pages' renderer; the dashboard draws the same model.

function openDialogFor(item, kind = "start") {
    const p = policy();
    if (!p) return;
    const model = impersonateModel(p, item, kind);
    const tx = dialogTexts(model);
    const f = dialogFields(model, tx);
    const submit = h("button", {
        type: "submit",
        class: "btn",
        id: "imp-submit",
        dataset: { testid: "imp-submit" },
        attrs: { form: IDS.form },
        text: tx.submit,
    });
    const cancel = h("button", {
        type: "button",
        class: "btn secondary",
        id: "imp-cancel",
        dataset: { testid: "imp-cancel" },
        text: tx.cancel,
    });
    const form = h(
        "form",
        { id: IDS.form, class: "stack", attrs: { novalidate: "" } },
        dialogFacts(model, tx),
        f.nodes,
    );
    const dlg = openDialog({
        id: "impersonate-dialog",
        testid: "imp-dialog",
        title: tx.title,
        content: [form],
        actions: [cancel, submit],
    });
    cancel.addEventListener("click", () => dlg.close());
    f.reason.focus();
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (!submit.disabled) startFrom(model, f, submit, dlg);
    });
}

// dialogFacts: "You will temporarily act as NAME", the consent, the live session.
function dialogFacts(model, tx) {
    const state = consentState(model);
    return [
        h(
            "div",
            { class: "alert info", id: "imp-confirm", dataset: { testid: "imp-confirm" } },
            h("p", { text: tx.confirm }),
            model.email
                ? h("div", { class: "cell-sub unbroken", text: model.email, attrs: { title: model.email } })
                : null,
        ),
        h("p", {
            class: state === "missing" ? "alert warning" : "hint",
            id: "imp-consent-note",
            dataset: { testid: "imp-consent", state },
            text: tx.consent,
        }),
        tx.live ? h("p", { class: "alert warning", dataset: { testid: "imp-live" }, text: tx.live }) : null,
    ];
}

// dialogFields builds the controls of FIELDS, in order: the reason, the
// minutes and one radio per mode, each with its help and error line.
function dialogFields(model, tx) {
    const errorLine = (id) => h("p", { class: "field-error", id, hidden: true, attrs: { role: "alert" } });
    const reason = reasonControl(model, tx);
    const minutes = minutesControl(model);
    const modes = model.modes.map((m) => modeControl(model, m));
    const errors = {
        reason: errorLine(IDS.reasonError),
        minutes: errorLine(IDS.minutesError),
        mode: errorLine(IDS.modeError),
    };
    const nodes = [
        fieldGroup(
            h("label", { htmlFor: IDS.reason }, tx.reason, " ", h("small", { class: "hint", text: tx.reasonHint })),
            reason,
            tx.reasonHelp,
            errors.reason,
        ),
        fieldGroup(h("label", { htmlFor: IDS.minutes, text: tx.minutes }), minutes, tx.minutesHelp, errors.minutes),
        h(
            "fieldset",
            { class: "choices" },
            h("legend", { text: tx.mode }),
            model.modes.map((m, i) =>
                h(
                    "label",
                    { class: "choice", htmlFor: IDS.mode(m) },
                    modes[i],
                    h("span", {}, tx.modeLabel(m), h("small", { text: tx.modeHelp(m) })),
                ),
            ),
            errors.mode,
        ),
    ];
    return {
        nodes,
        reason,
        errors,
        values: () => ({
            reason: reason.value,
            minutes: minutes.value,
            mode: (modes.find((x) => x.checked) || {}).value,
        }),
        control: (name) =>
            name === "mode" ? modes.find((x) => x.checked) || modes[0] : name === "reason" ? reason : minutes,
    };
}

// fieldGroup: a label and its control, the help under them (its id the
// control's id + "-help") and the error line.
function fieldGroup(label, control, help, error) {
    return h(
        "div",
        { class: "field-group" },
        h("div", { class: "field" }, label, control),
        h("p", { class: "field-help", id: `${control.id}-help`, text: help }),
        error,
    );
}

function reasonControl(model, tx) {
    return h("textarea", {
        id: IDS.reason,
        name: "reason",
        rows: "2",
        maxlength: String(REASON_MAX_LENGTH),
        dataset: { testid: "imp-reason" },
        attrs: {
            // said once, in words ("(required)"), as in the dashboard
            "aria-required": model.reasonRequired ? "true" : null,
            "aria-describedby": `${IDS.reason}-help ${IDS.reasonError}`,
            placeholder: tx.reasonPlaceholder,
        },
    });
}

function minutesControl(model) {
    return h("input", {
        id: IDS.minutes,
        name: "minutes",
        type: "number",
        min: "1",
        max: String(model.maxMinutes),
        step: "1",
        inputmode: "numeric",
        value: String(model.initial.minutes),
        dataset: { testid: "imp-minutes" },
        attrs: { "aria-required": "true", "aria-describedby": `${IDS.minutes}-help ${IDS.minutesError}` },
    });
}

function modeControl(model, m) {
    return h("input", {
        type: "radio",
        name: "imp-mode",
        id: IDS.mode(m),
        value: m,
        checked: m === model.initial.mode,
        dataset: { testid: IDS.mode(m) },
    });
}

// showErrors puts each field's error (or none) under it; returns the first
// control in error.
function showErrors(f, errs) {
    let first = null;
    for (const name of FIELDS) {
        const msg = errs[name] || "";
        const el = f.control(name);
        f.errors[name].textContent = msg;
        f.errors[name].hidden = !msg;
        el.closest(".field")?.classList.toggle("error", !!msg);
        el.setAttribute("aria-invalid", msg ? "true" : "false");
        if (msg && !first) first = el;
    }
    return first;
}

// startFrom validates the dialog and starts the session: synchronously
// inside the submit event (the hand-off opens its tab first).
function startFrom(model, f, submitBtn, dlg) {
    const values = f.values();
    const bad = showErrors(f, validate(model, values));
    if (bad) {
        bad.focus();
        return;
    }
    submitBtn.disabled = true;
    submitBtn.classList.add("loading");
    const tx = dialogTexts(model);
    submitBtn.textContent = tx.starting;
    submitImpersonation(model, values, pb).then((res) => {
        submitBtn.disabled = false;
        submitBtn.classList.remove("loading");
        submitBtn.textContent = tx.submit;
        loadTargets(); // a start or a refusal changes the list
        if (res.ok) {
            dlg.close();
            flash("success", res.message);
            return;
        }
        if (res.err && res.err.status === 401) {
            dlg.close();
            pb.authStore.clear();
            return;
        }
        flash("error", res.message);
        (showErrors(f, res.fields) || submitBtn).focus();
    });
}
