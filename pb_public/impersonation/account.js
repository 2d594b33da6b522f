// The user's page: Account settings → Impersonation. Consent (presets,
// custom hours, revoke), the requests for access to answer (the user's own,
// and, for an approver, those of the users they approve for), the sessions
// live on the user, and the history of sessions with the summary (digest)
// of each ended one and the actions done in each.
import PocketBase from "/impersonation/vendor/pocketbase.es.mjs";
import { t, onLangChange } from "./lib/i18n.js";
import { formatDate, formatRelative, formatDuration, formatUnit, parseDate } from "./lib/dates.js";
import { h, fill } from "./lib/dom.js";
import { flash, initPage, debounce } from "./lib/ui.js";
import { errorText, fieldTexts } from "./lib/errors.js";
import { displayName, tokenClaims } from "./lib/records.js";
import { impersonationApi } from "./lib/api.js";
import { renderLogin } from "./lib/auth.js";

const PAGE = 10;
const ACTIONS_PAGE = 50;
const PRESETS = [1, 24, 72];
// how often the requests an approver may answer are read again (those about
// the user come live, through realtime)
const REQUESTS_POLL_MS = 20 * 1000;

const pb = new PocketBase("/");
const api = impersonationApi(pb);
pb.autoCancellation(false);

const app = document.getElementById("app");
const who = document.getElementById("who");
const whoEmail = document.getElementById("who-email");

const state = {
    consent: null, // GET /api/impersonation/consent
    requests: [], // toAnswer of GET /api/impersonation/requests
    answers: new Map(), // request id -> {minutes, mode} chosen before approving
    live: [], // liveSessions of GET /api/impersonation/current
    actors: new Map(), // "collectionId/id" -> actor (seen in live sessions)
    sessions: [], // impersonation_sessions on the user, newest first
    digests: new Map(), // session id -> digest (GET /api/impersonation/digests)
    sessionsTotal: 0,
    actions: new Map(), // session id -> {open, items, page, totalPages, loading, error}
    customHours: "",
    customError: "",
    busy: false,
    loaded: false,
    error: "",
};
let unsubscribers = [];
let poll = null; // the timer that reads the requests again
let shownToken = null; // the auth token the page shows (start() runs once per token)
let notice = false; // showing the "not while impersonating" notice

initPage();
document.getElementById("logout").addEventListener("click", () => pb.authStore.clear());
onLangChange(() => {
    if (notice) showNotice();
    else if (state.loaded) render();
});
// login, logout (here or in another tab), the banner's Exit: show the new state
pb.authStore.onChange(() => {
    start();
});
start();

function me() {
    return pb.authStore.record;
}

async function start() {
    const token = pb.authStore.token;
    if (token === shownToken) return;
    shownToken = token;
    notice = false;
    await stopRealtime();
    Object.assign(state, {
        consent: null,
        requests: [],
        live: [],
        sessions: [],
        digests: new Map(),
        sessionsTotal: 0,
        customHours: "",
        customError: "",
        busy: false,
        loaded: false,
        error: "",
    });
    state.actions.clear();
    state.answers.clear();
    const claims = tokenClaims(token);
    if (pb.authStore.isValid && claims && claims.act) {
        // this tab acts as the user (banner.js): the user's settings are theirs alone
        notice = true;
        showNotice();
        return;
    }
    if (!pb.authStore.isValid || !me()) {
        showLogin();
        return;
    }
    showUser();
    await load();
    if (token === shownToken) subscribe();
}

function showNotice() {
    who.hidden = true;
    app.removeAttribute("aria-busy");
    fill(
        app,
        h(
            "div",
            { class: "panel", id: "impersonating-notice", dataset: { testid: "impersonating-notice" } },
            h("h1", { text: t("user.title") }),
            h("p", { class: "alert warning", text: t("user.whileImpersonating") }),
        ),
    );
}

// stopRealtime drops every subscription at once: the SDK then disconnects
// without a request (one made after the login changed would be refused)
async function stopRealtime() {
    clearInterval(poll);
    poll = null;
    if (!unsubscribers.length) return;
    unsubscribers = [];
    try {
        await pb.realtime.unsubscribe();
    } catch {
        /* ignore */
    }
}

function showLogin() {
    who.hidden = true;
    app.removeAttribute("aria-busy");
    const wrap = h("div", { class: "login-wrap" });
    fill(app, wrap);
    // a successful sign-in changes the store: onChange shows the page
    renderLogin(wrap, { pb, collection: "users", titleKey: "user.loginTitle", introKey: "user.loginIntro" });
}

function showUser() {
    who.hidden = false;
    whoEmail.textContent = me().email || displayName(me());
}

// ---------------------------------------------------------------------------
// Data

async function load() {
    const token = shownToken;
    try {
        const [consent, current, requests] = await Promise.all([api.consent(), api.current(), api.requests()]);
        if (token !== shownToken) return;
        state.consent = consent;
        state.requests = Array.isArray(requests?.toAnswer) ? requests.toAnswer : [];
        setLive(current && Array.isArray(current.liveSessions) ? current.liveSessions : []);
        // actors of past sessions, when the server names them ({id, collectionId, name, email})
        if (current && Array.isArray(current.actors)) {
            for (const a of current.actors) if (a && a.id) state.actors.set(`${a.collectionId}/${a.id}`, a);
        }
        const count = Math.max(PAGE, state.sessions.length);
        const [list, digests] = await Promise.all([loadSessions(count), loadDigests(count)]);
        if (token !== shownToken) return;
        state.sessions = list.items;
        state.sessionsTotal = list.totalItems;
        state.digests = digests;
        state.error = "";
    } catch (err) {
        if (token !== shownToken) return;
        if (err && err.status === 401) {
            pb.authStore.clear();
            return;
        }
        state.error = errorText(err);
    }
    state.loaded = true;
    render();
}

function setLive(list) {
    state.live = list;
    for (const s of list) {
        if (s.actor) state.actors.set(`${s.actor.collectionId}/${s.actor.id}`, s.actor);
    }
}

async function loadSessions(count) {
    const rec = me();
    return pb.collection("impersonation_sessions").getList(1, Math.min(count, 200), {
        filter: pb.filter("target = {:id} && targetCollection = {:c}", { id: rec.id, c: rec.collectionId }),
        sort: "-created,-id",
    });
}

// loadDigests returns the digests of the count latest sessions, by session
// id: the latest digests are those of the latest ended sessions
async function loadDigests(count) {
    const res = await api.digests({ perPage: Math.min(count, 200) });
    return new Map(res.items.map((d) => [d.session, d]));
}

async function moreSessions(btn) {
    btn.disabled = true;
    try {
        const rec = me();
        const page = Math.floor(state.sessions.length / PAGE) + 1;
        const res = await pb.collection("impersonation_sessions").getList(page, PAGE, {
            filter: pb.filter("target = {:id} && targetCollection = {:c}", { id: rec.id, c: rec.collectionId }),
            sort: "-created,-id",
        });
        const seen = new Set(state.sessions.map((s) => s.id));
        state.sessions.push(...res.items.filter((s) => !seen.has(s.id)));
        state.sessionsTotal = res.totalItems;
        state.digests = await loadDigests(state.sessions.length);
    } catch (err) {
        flash("error", errorText(err));
    }
    render();
    const items = app.querySelectorAll('[data-testid="session"]');
    const next = items[Math.min(items.length - 1, state.sessions.length - PAGE)];
    if (next) next.querySelector("button")?.focus();
}

async function loadActions(id, append = false) {
    const a = state.actions.get(id);
    a.loading = true;
    const page = append ? a.page + 1 : 1;
    try {
        const res = await pb.collection("impersonation_audit").getList(page, ACTIONS_PAGE, {
            filter: pb.filter('session = {:s} && event = "request"', { s: id }),
            sort: "seq,created",
        });
        a.items = append ? a.items.concat(res.items) : res.items;
        a.page = res.page;
        a.totalPages = res.totalPages;
        a.totalItems = res.totalItems;
        a.error = "";
    } catch (err) {
        a.error = errorText(err);
    }
    a.loading = false;
}

const refresh = debounce(() => {
    load();
}, 300);
const pendingActionIds = new Set();
const refreshActions = debounce(async () => {
    const ids = [...pendingActionIds];
    pendingActionIds.clear();
    let changed = false;
    for (const id of ids) {
        const a = state.actions.get(id);
        if (a && a.open) {
            await loadActions(id);
            changed = true;
        }
    }
    if (changed) render();
}, 300);

async function subscribe() {
    if (!pb.authStore.isValid || unsubscribers.length) return;
    const token = shownToken;
    const keep = (off) => {
        if (token === shownToken) unsubscribers.push(off);
        else off().catch(() => {});
    };
    try {
        keep(await pb.collection("impersonation_sessions").subscribe("*", refresh));
        keep(await pb.collection("impersonation_consents").subscribe("*", refresh));
        keep(await pb.collection("impersonation_requests").subscribe("*", refresh));
        keep(
            await pb.collection("impersonation_audit").subscribe("*", (e) => {
                if (!e.record || e.record.event !== "request") return;
                pendingActionIds.add(e.record.session);
                refreshActions();
            }),
        );
    } catch {
        // realtime is a nicety: the page works without it
    }
    if (token === shownToken && !poll) poll = setInterval(refresh, REQUESTS_POLL_MS);
}

// ---------------------------------------------------------------------------
// Actions

async function grant(hours, source) {
    if (state.busy) return;
    state.busy = true;
    setBusy(true);
    try {
        state.consent = await api.grantConsent(hours);
        state.customError = "";
        flash("success", t("user.granted", { time: formatDate(state.consent.expires) }));
    } catch (err) {
        const fe = fieldTexts(err);
        if (source === "custom" && fe.hours) state.customError = fe.hours;
        flash("error", errorText(err));
    } finally {
        state.busy = false;
    }
    render();
    const again =
        source === "custom"
            ? document.getElementById("consent-custom-hours")
            : app.querySelector(`[data-testid="consent-preset"][data-hours="${hours}"]`);
    if (again) again.focus();
}

async function revoke() {
    if (state.busy) return;
    state.busy = true;
    setBusy(true);
    try {
        await api.revokeConsent();
        flash("success", t("user.revoked"));
        await load();
    } catch (err) {
        flash("error", errorText(err));
    } finally {
        state.busy = false;
    }
    render();
    document.getElementById("consent-status")?.focus();
}

function setBusy(on) {
    for (const b of app.querySelectorAll("#consent button, #live-sessions button, .request button")) b.disabled = on;
}

/** Answers request r: approve (with the minutes and mode chosen), decline, or withdraw an approval. */
async function answer(r, how) {
    if (state.busy) return;
    state.busy = true;
    setBusy(true);
    try {
        if (how === "approve") {
            const chosen = state.answers.get(r.id) || {};
            const body = {};
            if (chosen.minutes && Number(chosen.minutes) !== r.minutes) body.minutes = Number(chosen.minutes);
            if (chosen.mode && chosen.mode !== r.mode) body.mode = chosen.mode;
            await api.approve(r.id, body);
            flash("success", t("user.approvedFlash"));
        } else {
            await api.decline(r.id);
            flash("success", t(how === "withdraw" ? "user.withdrawnFlash" : "user.declinedFlash"));
        }
        state.answers.delete(r.id);
        state.busy = false;
        await load();
    } catch (err) {
        flash("error", errorText(err));
    } finally {
        state.busy = false;
    }
    render();
}

function customSubmit(e) {
    e.preventDefault();
    const max = state.consent ? state.consent.maxHours : 0;
    const raw = String(state.customHours).trim();
    const n = Number(raw);
    if (!raw || !Number.isInteger(n) || n < 1 || n > max) {
        state.customError = t("user.customInvalid", { max });
        render();
        document.getElementById("consent-custom-hours")?.focus();
        return;
    }
    state.customError = "";
    grant(n, "custom");
}

async function toggleActions(id) {
    let a = state.actions.get(id);
    if (!a) {
        a = { open: false, items: [], page: 0, totalPages: 0, totalItems: 0, loading: false, error: "" };
        state.actions.set(id, a);
    }
    a.open = !a.open;
    if (a.open) {
        render();
        await loadActions(id);
    }
    render();
    document.querySelector(`[data-testid="show-actions"][data-session-id="${CSS.escape(id)}"]`)?.focus();
}

// ---------------------------------------------------------------------------
// Rendering

function render() {
    app.removeAttribute("aria-busy");
    const active = document.activeElement && document.activeElement.id;
    fill(
        app,
        h(
            "div",
            { class: "page-header" },
            h(
                "ol",
                { class: "breadcrumbs", attrs: { "aria-label": t("common.breadcrumbs") } },
                h("li", {}, h("a", { href: "/", text: t("user.brand") })),
                h("li", { text: t("user.title") }),
            ),
            h("h1", { text: t("user.title") }),
            h("p", { class: "hint", text: t("user.intro") }),
        ),
        state.error ? h("p", { class: "alert danger", attrs: { role: "alert" }, text: state.error }) : null,
        renderLive(),
        renderRequests("user"),
        renderRequests("approver"),
        renderConsent(),
        renderMasked(),
        renderHistory(),
    );
    if (active && !["main"].includes(active)) {
        const el = document.getElementById(active);
        if (el) el.focus();
    }
}

function renderLive() {
    const now = Date.now();
    const live = state.live.filter((s) => (parseDate(s.expires)?.getTime() || 0) > now);
    if (!live.length) return null;
    return h(
        "section",
        {
            class: "alert warning",
            id: "live-sessions",
            dataset: { testid: "live-sessions" },
            attrs: { "aria-labelledby": "live-title" },
        },
        h("h2", { id: "live-title", text: t("user.liveTitle") }),
        live.map((s) =>
            h(
                "p",
                { dataset: { sessionId: s.id } },
                t("user.liveLine", {
                    actor: actorLabel(s.actor),
                    mode: t("mode." + s.mode),
                    until: formatDate(s.expires),
                }),
                s.reason ? [" ", t("user.liveReason", { reason: s.reason })] : null,
            ),
        ),
        h(
            "div",
            { class: "row" },
            h("span", { text: t("user.liveStop") }),
            h("button", {
                type: "button",
                class: "btn sm danger",
                id: "live-revoke",
                text: t("user.revoke"),
                on: { click: revoke },
            }),
        ),
    );
}

/**
 * The open requests the caller answers in role: "user" (about themselves)
 * or "approver" (about the users they approve for), each with its answer.
 */
function renderRequests(role) {
    const items = state.requests.filter((r) => (role === "user" ? r.role !== "approver" : r.role === "approver"));
    if (!items.length) return null;
    const id = role === "user" ? "requests" : "approver-requests";
    return h(
        "section",
        { class: "panel", id, dataset: { testid: id }, attrs: { "aria-labelledby": id + "-title" } },
        h("h2", { id: id + "-title", text: t(role === "user" ? "user.requestsTitle" : "user.approverTitle") }),
        h("p", { class: "hint", text: t(role === "user" ? "user.requestsIntro" : "user.approverIntro") }),
        h("ul", { class: "session-list" }, items.map(renderRequest)),
    );
}

function renderRequest(r) {
    const about = {
        actor: actorLabel(r.actor),
        minutes: formatUnit(r.minutes, "minute", "long"),
        mode: t("mode." + r.mode),
    };
    const line =
        r.role === "approver"
            ? t("user.requestLineFor", { ...about, user: actorLabel(r.user) })
            : t("user.requestLine", about);
    const approved = r.status === "approved";
    let waiting = "";
    if (!approved && r.approval === "both") {
        if (r.userAnswered && !r.approverAnswered) waiting = t("user.awaitingApprover");
        if (r.approverAnswered && !r.userAnswered) waiting = t("user.awaitingUser");
    }
    const answeredMine = (r.role === "user" && r.userAnswered) || (r.role === "approver" && r.approverAnswered);
    // under an approver's approval the user's answer can only be no
    const declineOnly = r.role === "user" && r.approval === "approver";
    const until = approved ? new Date(parseDate(r.approved).getTime() + 60 * 60 * 1000).toISOString() : r.expires;
    return h(
        "li",
        { class: "session request", dataset: { testid: "request", requestId: r.id, status: r.status } },
        h("p", { dataset: { testid: "request-line" }, text: line }),
        r.reason ? h("p", { class: "break", text: t("user.requestReason", { reason: r.reason }) }) : null,
        h("p", {
            class: "hint",
            text: approved
                ? t("user.requestApproved", { actor: actorLabel(r.actor), date: formatDate(until) })
                : t("user.requestWaits", { date: formatDate(r.expires) }),
        }),
        r.approver
            ? h("p", { class: "hint", text: t("user.requestApprovedBy", { approver: actorLabel(r.approver) }) })
            : null,
        waiting ? h("p", { class: "hint", dataset: { testid: "request-waiting" }, text: waiting }) : null,
        declineOnly && !approved ? h("p", { class: "hint", text: t("user.approverAnswers") }) : null,
        requestAnswer(r, approved, answeredMine, declineOnly),
    );
}

/** What the caller may do with r: withdraw an approval, decline, or approve (narrowed) or decline. */
function requestAnswer(r, approved, answeredMine, declineOnly) {
    if (approved) return answerButton(r, "withdraw", "btn sm danger");
    if (declineOnly) return answerButton(r, "decline", "btn sm secondary");
    return answeredMine ? null : answerForm(r);
}

/** The button that answers r how ("withdraw", "decline"). */
function answerButton(r, how, cls) {
    return h("button", {
        type: "button",
        class: cls,
        id: `request-${how}-${r.id}`,
        dataset: { testid: `request-${how}` },
        disabled: state.busy,
        text: t("user." + how),
        on: { click: () => answer(r, how) },
    });
}

/** Minutes (no more than asked), access (write only if asked), Approve and Decline. */
function answerForm(r) {
    const chosen = state.answers.get(r.id) || { minutes: String(r.minutes), mode: r.mode };
    state.answers.set(r.id, chosen);
    const minutesId = `request-minutes-${r.id}`;
    const modeId = `request-mode-${r.id}`;
    const modes = r.mode === "write" ? ["write", "read"] : ["read"];
    return h(
        "form",
        {
            class: "custom-hours",
            attrs: { novalidate: "" },
            on: {
                submit: (e) => {
                    e.preventDefault();
                    answer(r, "approve");
                },
            },
        },
        h(
            "div",
            { class: "field-group" },
            h(
                "div",
                { class: "field" },
                h("label", { htmlFor: minutesId, text: t("user.requestMinutes", { max: r.minutes }) }),
                h("input", {
                    id: minutesId,
                    type: "number",
                    inputmode: "numeric",
                    min: "1",
                    max: String(r.minutes),
                    step: "1",
                    value: chosen.minutes,
                    dataset: { testid: "request-minutes" },
                    on: { input: (e) => (chosen.minutes = e.target.value) },
                }),
            ),
        ),
        h(
            "div",
            { class: "field-group" },
            h(
                "div",
                { class: "field" },
                h("label", { htmlFor: modeId, text: t("user.requestMode") }),
                h(
                    "select",
                    {
                        id: modeId,
                        dataset: { testid: "request-mode" },
                        on: { change: (e) => (chosen.mode = e.target.value) },
                    },
                    modes.map((m) => h("option", { value: m, selected: chosen.mode === m, text: t("mode." + m) })),
                ),
            ),
        ),
        h("button", {
            type: "submit",
            class: "btn",
            id: `request-approve-${r.id}`,
            dataset: { testid: "request-approve" },
            disabled: state.busy,
            text: t("user.approve"),
        }),
        answerButton(r, "decline", "btn secondary"),
    );
}

function actorLabel(actor) {
    if (!actor) return "";
    const name = actor.name || "";
    if (name && actor.email) return `${name} (${actor.email})`;
    return name || actor.email || actor.id;
}

function consentState(c) {
    if (!c) return "none";
    if (c.active) return "active";
    if (c.revoked) return "revoked";
    if (c.id && c.expires) return "expired";
    return "none";
}

const CONSENT_LABELS = {
    active: ["success", "user.stActive"],
    none: ["", "user.stNone"],
    revoked: ["danger", "user.stRevoked"],
    expired: ["", "user.stExpired"],
};

function renderConsent() {
    const c = state.consent;
    if (!c) return null;
    const max = c.maxHours || 0;
    if (!max) return consentSection(h("p", { class: "alert info", id: "no-policy", text: t("user.noPolicy") }));
    const st = consentState(c);
    return consentSection(
        c.required ? null : h("p", { class: "alert info", id: "consent-not-required", text: t("user.notRequired") }),
        renderConsentStatus(c, st),
        renderPresets(st, max),
        renderCustomHours(max),
    );
}

/** What support cannot see while acting as the user: the policy's masked fields, by collection. */
function renderMasked() {
    const masked = (state.consent && state.consent.maskedFields) || {};
    const collections = Object.keys(masked)
        .filter((c) => Array.isArray(masked[c]) && masked[c].length)
        .sort();
    if (!collections.length) return null;
    return h(
        "section",
        {
            class: "panel",
            id: "masked-fields",
            dataset: { testid: "masked-fields" },
            attrs: { "aria-labelledby": "masked-title" },
        },
        h("h2", { id: "masked-title", text: t("user.maskedTitle") }),
        h("p", { class: "hint", text: t("user.maskedIntro") }),
        h(
            "ul",
            { class: "masked-list" },
            collections.map((c) =>
                h("li", {
                    dataset: { collection: c },
                    text: t("user.maskedCollection", { collection: c, fields: masked[c].join(", ") }),
                }),
            ),
        ),
    );
}

function consentSection(...children) {
    return h(
        "section",
        {
            class: "panel",
            id: "consent",
            dataset: { testid: "consent-panel" },
            attrs: { "aria-labelledby": "consent-title" },
        },
        h("h2", { id: "consent-title", text: t("user.consentTitle") }),
        h("p", { class: "hint", text: t("user.consentIntro") }),
        children,
    );
}

function consentDetail(c, st) {
    if (st === "active") return t("user.activeUntil", { date: formatDate(c.expires), rel: formatRelative(c.expires) });
    if (st === "expired") return t("user.expiredOn", { date: formatDate(c.expires) });
    if (st === "revoked") return t("user.revokedDetail");
    return t("user.noneDetail");
}

/** The consent's state, its expiry and Withdraw while it is in force. */
function renderConsentStatus(c, st) {
    const [cls, labelKey] = CONSENT_LABELS[st];
    return h(
        "div",
        {
            class: "consent-status",
            id: "consent-status",
            tabIndex: "-1",
            dataset: { testid: "consent-status", state: st },
            attrs: { role: "status" },
        },
        h(
            "span",
            { class: `label ${cls}` },
            h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
            t(labelKey),
        ),
        h("span", { text: consentDetail(c, st) }),
        st === "active"
            ? h("button", {
                  type: "button",
                  class: "btn sm danger",
                  id: "consent-revoke",
                  dataset: { testid: "consent-revoke" },
                  text: t("user.revoke"),
                  disabled: state.busy,
                  on: { click: revoke },
              })
            : null,
    );
}

/** One button per preset (1 h, 24 h, 72 h), those over the policy's maximum disabled. */
function renderPresets(st, max) {
    return [
        h("h3", { id: "presets-title", text: st === "active" ? t("user.presetsChange") : t("user.presetsTitle") }),
        h(
            "div",
            { class: "presets", attrs: { role: "group", "aria-labelledby": "presets-title" } },
            PRESETS.map((n) =>
                h("button", {
                    type: "button",
                    class: "btn secondary",
                    disabled: state.busy || n > max,
                    id: `consent-preset-${n}`,
                    dataset: { testid: "consent-preset", hours: String(n) },
                    text: formatUnit(n, "hour", "long"),
                    attrs: { title: n > max ? t("user.overMax", { max: formatUnit(max, "hour", "long") }) : null },
                    on: { click: () => grant(n, "preset") },
                }),
            ),
        ),
    ];
}

/** The custom number of hours, its help and its error. */
function renderCustomHours(max) {
    const input = h("input", {
        id: "consent-custom-hours",
        type: "number",
        inputmode: "numeric",
        min: "1",
        max: String(max),
        step: "1",
        value: state.customHours,
        dataset: { testid: "consent-custom-hours" },
        attrs: {
            "aria-describedby": "consent-custom-help" + (state.customError ? " consent-custom-error" : ""),
            "aria-invalid": state.customError ? "true" : null,
        },
        on: {
            input: (e) => {
                state.customHours = e.target.value;
            },
        },
    });
    return [
        h(
            "form",
            { class: "custom-hours", id: "consent-custom", attrs: { novalidate: "" }, on: { submit: customSubmit } },
            h(
                "div",
                { class: "field-group" },
                h(
                    "div",
                    { class: "field" + (state.customError ? " error" : "") },
                    h("label", { htmlFor: "consent-custom-hours", text: t("user.customLabel") }),
                    input,
                ),
            ),
            h("button", {
                type: "submit",
                class: "btn",
                id: "consent-custom-submit",
                dataset: { testid: "consent-custom-submit" },
                disabled: state.busy,
                text: t("user.customSubmit"),
            }),
        ),
        h("p", {
            class: "field-help",
            id: "consent-custom-help",
            text: t("common.atMost", { max: formatUnit(max, "hour", "long") }),
        }),
        state.customError
            ? h("p", {
                  class: "field-error",
                  id: "consent-custom-error",
                  attrs: { role: "alert" },
                  text: state.customError,
              })
            : null,
    ];
}

function renderHistory() {
    const section = h(
        "section",
        {
            class: "panel",
            id: "history",
            dataset: { testid: "history" },
            attrs: { "aria-labelledby": "history-title" },
        },
        h("h2", { id: "history-title", text: t("user.historyTitle") }),
        h("p", { class: "hint", text: t("user.historyIntro") }),
    );
    if (!state.sessions.length) {
        section.appendChild(
            h("p", {
                class: "hint",
                id: "history-empty",
                dataset: { testid: "history-empty" },
                text: t("user.historyEmpty"),
            }),
        );
        return section;
    }
    section.appendChild(h("ul", { class: "session-list", id: "sessions" }, state.sessions.map(renderSession)));
    if (state.sessions.length < state.sessionsTotal) {
        section.appendChild(
            h(
                "div",
                { class: "pager" },
                h("span", {
                    class: "hint",
                    text: t("user.shown", { n: state.sessions.length, total: state.sessionsTotal }),
                }),
                h("button", {
                    type: "button",
                    class: "btn sm secondary",
                    id: "sessions-more",
                    text: t("common.more"),
                    on: { click: (e) => moreSessions(e.currentTarget) },
                }),
            ),
        );
    }
    return section;
}

function sessionInfo(s) {
    const created = parseDate(s.created);
    const expires = parseDate(s.expires);
    const ended = parseDate(s.ended);
    const now = Date.now();
    const live = !ended && expires && expires.getTime() > now;
    let cause = s.endCause || "";
    let end = ended;
    if (!live && !ended) {
        cause = "expired";
        end = expires;
    }
    return { created, expires, end, live, cause };
}

function renderSession(s) {
    const info = sessionInfo(s);
    // who acted: the name the session carries (when the server keeps one), one
    // seen in the live sessions, or the account id
    const actor =
        (s.actorName || s.actorEmail ? { id: s.actor, name: s.actorName, email: s.actorEmail } : null) ||
        state.actors.get(`${s.actorCollection}/${s.actor}`);
    const whoText = actor ? actorLabel(actor) : t("user.actorUnknown", { id: s.actor, collection: s.actorCollection });
    const a = state.actions.get(s.id);
    const open = !!(a && a.open);
    const actionsId = `actions-${s.id}`;

    let length;
    if (info.live) {
        length = t("user.lengthLive", {
            left: formatDuration(info.expires - Date.now()),
            until: formatDate(s.expires),
        });
    } else if (info.created && info.end) {
        length = formatDuration(info.end - info.created);
    } else {
        length = "—";
    }

    const status = info.live
        ? h(
              "span",
              { class: "label warning", dataset: { testid: "session-state", state: "live" } },
              h("span", { class: "dot", attrs: { "aria-hidden": "true" } }),
              t("session.live"),
          )
        : h(
              "span",
              { class: "label", dataset: { testid: "session-state", state: "ended" } },
              t("user.endedWith", { cause: t("cause." + (info.cause || "stopped")) }),
          );

    return h(
        "li",
        { class: "session" + (info.live ? " live" : ""), dataset: { testid: "session", sessionId: s.id } },
        h(
            "div",
            { class: "session-head" },
            h("span", { class: "session-who", dataset: { testid: "session-actor" }, text: whoText }),
            s.breakGlass
                ? h("span", {
                      class: "label danger",
                      dataset: { testid: "session-break-glass" },
                      text: t("user.breakGlass"),
                  })
                : null,
            status,
        ),
        h(
            "dl",
            { class: "session-meta" },
            metaItem(t("col.started"), info.created ? `${formatDate(s.created)} (${formatRelative(s.created)})` : "—"),
            metaItem(t("user.length"), length),
            metaItem(t("col.reason"), s.reason || t("user.noReason"), "session-reason"),
            metaItem(t("col.access"), t("mode." + s.mode)),
            !info.live && info.end ? metaItem(t("user.endedAt"), formatDate(info.end.toISOString())) : null,
        ),
        s.ended ? renderDigest(s) : null,
        h("button", {
            type: "button",
            class: "btn sm secondary",
            id: `show-actions-${s.id}`,
            dataset: { testid: "show-actions", sessionId: s.id },
            attrs: { "aria-expanded": open ? "true" : "false", "aria-controls": open ? actionsId : null },
            text: open ? t("user.hideActions") : t("user.showActions"),
            on: { click: () => toggleActions(s.id) },
        }),
        open ? renderActions(s.id, a, actionsId) : null,
    );
}

function metaItem(label, value, testid) {
    return h(
        "div",
        {},
        h("dt", { text: label }),
        h("dd", { class: "break", dataset: testid ? { testid } : undefined, text: value }),
    );
}

/**
 * The summary of an ended session: its requests per collection and every
 * change asked for (who, why, when, how long and the mode are the
 * session's own lines above); "being prepared" until the server has built it.
 */
function renderDigest(s) {
    const d = state.digests.get(s.id);
    if (!d) {
        // sessions that ended before summaries existed are digested with none
        if (s.digested) return null;
        return h("p", { class: "hint", dataset: { testid: "digest-pending" }, text: t("user.digestPending") });
    }
    const counts = d.collections.map((c) => `${c.collection}: ${c.requests}`);
    if (d.otherRequests) counts.push(`${t("user.digestOther")}: ${d.otherRequests}`);
    const writes = d.writes.map((w) => ({ created: w.at, method: w.method, path: w.path, status: w.status }));
    return h(
        "section",
        { class: "session-digest", dataset: { testid: "digest", sessionId: s.id } },
        h("h3", { text: t("user.digestTitle") }),
        h(
            "p",
            { dataset: { testid: "digest-requests" } },
            t("user.digestRequests", { n: d.requests }),
            counts.length ? ` · ${counts.join(" · ")}` : "",
        ),
        writes.length
            ? actionsTable(writes, "user.digestWritesCaption", "digest-write")
            : h("p", { class: "hint", dataset: { testid: "digest-no-writes" }, text: t("user.digestNoWrites") }),
        d.writesLeftOut ? h("p", { class: "hint", text: t("user.digestMore", { n: d.writesLeftOut }) }) : null,
    );
}

function renderActions(id, a, domId) {
    const box = h("div", { class: "session-actions", id: domId, dataset: { testid: "session-actions" } });
    if (a.loading && !a.items.length) {
        box.appendChild(h("p", { class: "hint", text: t("common.loading") }));
    } else if (a.error) {
        box.appendChild(h("p", { class: "alert danger", text: a.error }));
    } else if (!a.items.length) {
        box.appendChild(h("p", { class: "hint", dataset: { testid: "actions-empty" }, text: t("user.actionsEmpty") }));
    } else {
        fill(
            box,
            actionsTable(a.items, "user.actionsCaption", "action"),
            a.page < a.totalPages ? moreActions(id, a) : null,
        );
    }
    return box;
}

/** A table of requests (time, method, path, status), captioned captionKey, each row testid rowTestid. */
function actionsTable(items, captionKey, rowTestid) {
    return h(
        "div",
        { class: "table-wrap" },
        h(
            "table",
            { class: "table compact responsive" },
            h("caption", { class: "visually-hidden", text: t(captionKey) }),
            h(
                "thead",
                {},
                h(
                    "tr",
                    {},
                    ["col.time", "col.method", "col.path", "col.status"].map((key) =>
                        h("th", { scope: "col", text: t(key) }),
                    ),
                ),
            ),
            h(
                "tbody",
                {},
                items.map((e) => actionRow(e, rowTestid)),
            ),
        ),
    );
}

/** One request: time, method, path, status (a refusal said in words too). */
function actionRow(e, testid) {
    const refused = e.status >= 400;
    return h(
        "tr",
        { dataset: { testid } },
        h("td", {
            class: "nowrap half",
            attrs: { "data-label": t("col.time") },
            text: formatDate(e.created, "seconds"),
        }),
        h(
            "td",
            { class: "auto", attrs: { "data-label": t("col.method") } },
            h("span", { class: "method", text: e.method || "" }),
        ),
        h("td", { class: "break mono last", attrs: { "data-label": t("col.path") }, text: e.path || "" }),
        h(
            "td",
            { class: "auto", attrs: { "data-label": t("col.status") } },
            h("span", { class: refused ? "status-bad" : "status-ok", text: String(e.status || "") }),
            refused ? h("span", { class: "visually-hidden", text: " " + t("user.refused") }) : null,
        ),
    );
}

function moreActions(id, a) {
    return h(
        "div",
        { class: "pager" },
        h("span", { class: "hint", text: t("user.shown", { n: a.items.length, total: a.totalItems }) }),
        h("button", {
            type: "button",
            class: "btn sm secondary",
            id: `actions-more-${id}`,
            text: t("common.more"),
            on: {
                click: async () => {
                    await loadActions(id, true);
                    render();
                },
            },
        }),
    );
}
