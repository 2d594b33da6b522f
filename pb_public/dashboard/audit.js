// Audit tab: the impersonation_audit log with filters (actor, target,
// session, event, time range), paged; the hash chain's status
// (GET /api/impersonation/audit/verify); export of the filtered entries as
// JSON lines or CSV, fetched with the Authorization header and saved as a Blob
// (the token never goes into a URL).
import { L, lib } from "./state.js";

const { pbDate } = lib.dates;
import {
    AUDIT,
    cachedPolicies,
    flashError,
    idsByEmail,
    loadPolicies,
    peopleCollectionIds,
    resolvePeople,
} from "./api.js";
import { badge, cell, dateView, listTable, pager, personView } from "./ui.js";
import { detailsButton, detailsRow, eventText, openSessionTimeline, statusKind } from "./timeline.js";

const PER_PAGE = 50;

export const EVENTS = [
    "request",
    "session.started",
    "session.denied",
    "session.throttled",
    "session.ended",
    "consent.granted",
    "consent.revoked",
    "request.created",
    "request.approved",
    "request.declined",
    "request.withdrawn",
    "request.expired",
    "audit.checkpoint",
];

const EXPORT_FORMATS = ["jsonl", "csv"];

export function auditTab(route) {
    const a = auditModel(route);
    const onChanged = () => {
        if (a.data.page == 1) {
            a.load(1);
        }
    };
    return t.div(
        {
            className: "imp-tab imp-audit",
            "html-data-testid": "audit-tab",
            onmount: async () => {
                document.addEventListener("impersonation:changed", onChanged);
                a.verify();
                await a.apply();
            },
            onunmount: () => {
                app.pb.cancelRequest(a.uid);
                app.pb.cancelRequest(a.uid + "_verify");
                document.removeEventListener("impersonation:changed", onChanged);
            },
        },
        t.div({ className: "imp-audit-head" }, chainStatus(a), exportButtons(a)),
        auditFilters(a),
        auditTable(a.data),
        pager(a.data, (p) => a.load(p), "audit-pager"),
    );
}

/** The tab's state (the filter form and the loaded page) and its actions. */
function auditModel(route) {
    const uid = "imp_audit_" + app.utils.randomString();
    const q = (k) => route?.query?.[k]?.[0] || "";
    const form = store({
        actor: q("actor"),
        target: q("target"),
        session: q("session"),
        event: q("event"),
        breakGlass: q("breakGlass") == "1",
        from: "",
        to: "",
    });
    const data = store({
        applied: "", // the records-API filter in use
        page: 1,
        totalPages: 0,
        totalItems: 0,
        items: [],
        isLoading: false,
        loaded: false,
        open: {},
        chain: null, // {ok, entries, code, firstBadId, problem, anchored, head}
        chainLoading: false,
        exporting: "",
    });
    const a = { uid, form, data };
    a.load = (page = data.page) => loadPage(a, page);
    a.apply = () => applyFilters(a);
    a.clear = () => {
        Object.assign(form, { actor: "", target: "", session: "", event: "", breakGlass: false, from: "", to: "" });
        a.apply();
    };
    a.verify = () => verifyChain(a);
    a.exportAs = (format) => exportEntries(a, format);
    return a;
}

/** Filter for a person field: an id, or an email looked up in auth collections. */
async function personFilter(fieldName, value) {
    value = value.trim();
    if (!value) {
        return "";
    }
    let ids = [value];
    if (value.includes("@")) {
        const cache = cachedPolicies() || (await loadPolicies());
        ids = await idsByEmail(value, peopleCollectionIds(cache));
        if (!ids.length) {
            ids = [value]; // matches nothing, says so in the list
        }
    }
    return "(" + ids.map((id, n) => app.pb.filter(`${fieldName} = {:v${n}}`, { ["v" + n]: id })).join(" || ") + ")";
}

/** The records-API filter of the form's fields. */
async function buildFilter(form) {
    const parts = [await personFilter("actor", form.actor), await personFilter("target", form.target)];
    if (form.session.trim()) {
        parts.push(app.pb.filter("session = {:s}", { s: form.session.trim() }));
    }
    if (form.event) {
        parts.push(app.pb.filter("event = {:e}", { e: form.event }));
    }
    if (form.breakGlass) {
        parts.push("data.breakGlass = true"); // every entry of a break-glass session, and refused attempts
    }
    if (form.from && pbDate(form.from)) {
        parts.push(app.pb.filter("created >= {:from}", { from: pbDate(form.from) }));
    }
    if (form.to && pbDate(form.to)) {
        parts.push(app.pb.filter("created <= {:to}", { to: pbDate(form.to) }));
    }
    return parts.filter(Boolean).join(" && ");
}

async function applyFilters({ form, data, load }) {
    try {
        data.applied = await buildFilter(form);
    } catch (err) {
        flashError(err);
        return;
    }
    app.utils.replaceHashQueryParams({
        actor: form.actor.trim() || null,
        target: form.target.trim() || null,
        session: form.session.trim() || null,
        event: form.event || null,
    });
    load(1);
}

async function loadPage({ uid, data }, page) {
    data.isLoading = true;
    try {
        // newest first by created, which the audit's indexes serve with
        // any filter; no total: counting millions of entries is slow
        const res = await app.pb.collection(AUDIT).getList(page, PER_PAGE, {
            sort: "-created,-seq",
            filter: data.applied,
            skipTotal: true,
            requestKey: uid,
        });
        data.items = res.items;
        data.page = res.page;
        data.totalPages = res.items.length < PER_PAGE ? res.page : res.page + 1;
        data.totalItems = -1;
        data.isLoading = false;
        data.loaded = true;
        resolvePeople(
            res.items.flatMap((e) => [
                [e.actorCollection, e.actor],
                [e.targetCollection, e.target],
            ]),
        ).catch(() => {});
    } catch (err) {
        if (err?.isAbort) {
            return;
        }
        data.isLoading = false;
        data.loaded = true;
        data.items = [];
        flashError(err);
    }
}

async function verifyChain({ uid, data }) {
    data.chainLoading = true;
    try {
        data.chain = await lib.api.verifyAudit({ requestKey: uid + "_verify" });
    } catch (err) {
        if (!err?.isAbort) {
            data.chain = null;
            flashError(err);
        }
    }
    data.chainLoading = false;
}

async function exportEntries({ data }, format) {
    if (data.exporting) {
        return;
    }
    data.exporting = format;
    try {
        const query = data.applied ? { format, filter: data.applied } : { format };
        // the token goes in a header, never in the URL
        const res = await fetch(lib.api.exportURL(query), {
            headers: { Authorization: app.pb.authStore.token, "x-request-source": "pbui" },
            credentials: "omit",
        });
        if (!res.ok) {
            throw await responseError(res);
        }
        const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
        saveBlob(await res.blob(), `impersonation-audit-${stamp}.${format}`);
        app.toasts.success(L("audit.exported"));
    } catch (err) {
        flashError(err);
    }
    data.exporting = "";
}

/** An error shaped like the SDK's, of a failed fetch response. */
async function responseError(res) {
    const body = await res.json().catch(() => ({}));
    const err = new Error(body?.message || res.statusText);
    err.status = res.status;
    err.response = body;
    return err;
}

/** Saves blob as a download named name. */
function saveBlob(blob, name) {
    const href = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = href;
    link.download = name;
    link.hidden = true;
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(href), 60 * 1000);
}

// ---------------------------------------------------------------------------
// Views

/** The chain's status ("intact", "broken at…") and Verify. */
function chainStatus({ data, verify }) {
    const kind = () => (data.chain ? (data.chain.ok ? "success" : "danger") : "");
    const icon = () => (data.chain ? (data.chain.ok ? "ri-shield-check-line" : "ri-error-warning-line") : "ri-link");
    return t.div(
        {
            className: () => `alert imp-chain ${kind()}`,
            role: "status",
            "html-data-testid": "audit-chain",
            "html-data-ok": () => (data.chain ? String(!!data.chain.ok) : undefined),
        },
        t.i({ className: icon, ariaHidden: true }),
        t.div({ className: "content" }, () => chainText(data)),
        t.button(
            {
                type: "button",
                className: () => `btn sm secondary m-l-auto ${data.chainLoading ? "loading" : ""}`,
                disabled: () => data.chainLoading,
                onclick: () => verify(),
                "html-data-testid": "audit-verify",
            },
            t.span({ className: "txt" }, () => L("audit.verify")),
        ),
    );
}

function chainText(data) {
    const chain = data.chain;
    if (data.chainLoading && !chain) {
        return L("audit.chainChecking");
    }
    if (!chain) {
        return L("audit.chainUnknown");
    }
    if (chain.ok) {
        return L("audit.chainOk", { count: chain.entries });
    }
    const where =
        chain.code === "anchor_not_reached"
            ? L("audit.chainLost", { anchored: chain.anchored?.seq ?? "?", head: chain.head?.seq ?? "?" })
            : L("audit.chainFirstBad", { id: chain.firstBadId || "?" });
    return [
        t.strong(null, L("audit.chainBroken", { count: chain.entries })),
        t.div({ className: "txt-sm" }, where),
        t.div({ className: "txt-sm" }, chain.problem || ""),
    ];
}

function exportButtons({ data, exportAs }) {
    return t.div(
        { className: "imp-export", role: "group", ariaLabel: () => L("audit.export") },
        ...EXPORT_FORMATS.map((format) =>
            t.button(
                {
                    type: "button",
                    className: () => `btn sm secondary ${data.exporting == format ? "loading" : ""}`,
                    disabled: () => !!data.exporting,
                    onclick: () => exportAs(format),
                    "html-data-testid": "audit-export-" + format,
                },
                t.i({ className: "ri-download-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("audit.export." + format)),
            ),
        ),
    );
}

function auditFilters(a) {
    return t.form(
        {
            className: "imp-filters",
            "html-data-testid": "audit-filters",
            onsubmit: (e) => {
                e.preventDefault();
                a.apply();
            },
        },
        inputField(a, "actor", "col.actor", "audit.personPlaceholder"),
        inputField(a, "target", "col.user", "audit.personPlaceholder"),
        inputField(a, "session", "col.session", "audit.sessionPlaceholder"),
        eventField(a),
        breakGlassField(a),
        inputField(a, "from", "audit.from", "", "datetime-local"),
        inputField(a, "to", "audit.to", "", "datetime-local"),
        filterActions(a),
    );
}

function inputField({ uid, form }, name, labelKey, placeholderKey, type = "text") {
    return t.div(
        { className: "field imp-filter-field", "html-data-type": type },
        t.label({ htmlFor: uid + "_" + name }, () => L(labelKey)),
        t.input({
            id: uid + "_" + name,
            type,
            name: "imp_" + name,
            className: "no-error",
            autocomplete: "off",
            "html-data-testid": "audit-filter-" + name,
            placeholder: () => (placeholderKey ? L(placeholderKey) : ""),
            value: () => form[name],
            oninput: (e) => (form[name] = e.target.value),
        }),
    );
}

function eventField({ uid, form }) {
    return t.div(
        { className: "field imp-filter-field" },
        t.label({ htmlFor: uid + "_event" }, () => L("audit.event")),
        t.select(
            {
                id: uid + "_event",
                className: "no-error",
                "html-data-testid": "audit-filter-event",
                onchange: (e) => (form.event = e.target.value),
            },
            t.option({ value: "", selected: () => !form.event }, () => L("audit.anyEvent")),
            ...EVENTS.map((ev) => t.option({ value: ev, selected: () => form.event == ev }, () => eventText(ev))),
        ),
    );
}

/** Break-glass only: the entries flagged data.breakGlass. */
function breakGlassField({ uid, form }) {
    return t.div(
        { className: "imp-filter-field imp-filter-switch" },
        t.div(
            { className: "field" },
            t.input({
                id: uid + "_breakGlass",
                type: "checkbox",
                className: "switch no-error",
                "html-data-testid": "audit-filter-breakGlass",
                checked: () => form.breakGlass,
                onchange: (e) => (form.breakGlass = e.target.checked),
            }),
            t.label({ htmlFor: uid + "_breakGlass" }, () => L("audit.breakGlass")),
        ),
    );
}

function filterActions(a) {
    return t.div(
        { className: "imp-filter-actions" },
        t.button(
            { type: "submit", className: "btn sm", "html-data-testid": "audit-apply" },
            t.i({ className: "ri-filter-3-line", ariaHidden: true }),
            t.span({ className: "txt" }, () => L("audit.apply")),
        ),
        t.button(
            {
                type: "button",
                className: "btn sm secondary transparent",
                onclick: () => a.clear(),
                "html-data-testid": "audit-clear",
            },
            t.span({ className: "txt" }, () => L("audit.clear")),
        ),
        app.components.refreshButton({
            tooltip: () => L("dash.refresh"),
            onclick: () => a.load(),
        }),
    );
}

function auditTable(data) {
    return t.div(
        { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
        listTable({
            name: "audit",
            data,
            lead: [t.th({ className: "min-width" }, "#")],
            heads: [
                ["ri-calendar-line", "col.time"],
                ["ri-bookmark-line", "audit.event"],
                ["ri-user-star-line", "col.actor"],
                ["ri-user-line", "col.user"],
                ["ri-links-line", "col.session"],
                ["ri-route-line", "audit.request"],
                ["ri-pulse-line", "col.status"],
            ],
            metaKey: "dash.details",
            emptyKey: "audit.empty",
            row: (e) => auditRow(e, data),
            className: "imp-audit-table",
        }),
    );
}

function auditRow(e, data) {
    const detailsId = "imp_audit_d_" + e.id;
    return [
        t.tr(
            {
                rid: e.id,
                className: "imp-row",
                "html-data-testid": "audit-row",
                "html-data-id": e.id,
                "html-data-event": e.event,
            },
            t.td({ className: "min-width txt-hint", "html-data-name": "#" }, String(e.seq ?? "")),
            cell("col.time", null, dateView(e.created)),
            cell("audit.event", null, eventView(e)),
            cell("col.actor", null, personView(e.actorCollection, e.actor, "audit-actor")),
            cell("col.user", null, personView(e.targetCollection, e.target, "audit-target")),
            cell("col.session", null, sessionLink(e.session)),
            cell("audit.request", { className: "imp-col-path" }, requestView(e)),
            cell("col.status", null, e.status ? badge(statusKind(e.status), String(e.status)) : ""),
            t.td({ className: "col-meta" }, detailsButton(data, e.id, detailsId, "audit-details-toggle")),
        ),
        detailsRow(data, e, detailsId),
    ];
}

/** The event, with a refusal's code, a throttled count or an end's cause below it. */
function eventView(e) {
    const denied = e.event == "session.denied" ? e.data?.code : "";
    const throttled = e.event == "session.throttled" ? Number(e.data?.count) || 0 : 0;
    const refused = e.event == "session.denied" || e.event == "session.throttled";
    const cause = e.event == "session.ended" ? e.data?.cause : "";
    return t.div(
        { className: "imp-stack" },
        badge(refused ? "danger" : e.event == "request" ? "" : "info", () => eventText(e.event), "audit-event"),
        denied ? t.small({ className: "txt-hint txt-code" }, String(denied)) : null,
        throttled ? t.small({ className: "txt-hint" }, () => L("audit.throttled", { count: throttled })) : null,
        cause ? t.small({ className: "txt-hint" }, () => L("cause." + cause)) : null,
    );
}

/** The session's id, opening its timeline. */
function sessionLink(session) {
    if (!session) {
        return t.span({ className: "txt-hint" }, "—");
    }
    return t.button(
        {
            type: "button",
            className: "btn sm transparent secondary imp-session-link",
            title: session,
            "html-data-testid": "audit-session",
            ariaLabel: () => L("sessions.timeline") + " " + session,
            onclick: () => openSessionTimeline(session),
        },
        t.i({ className: "ri-list-check-3", ariaHidden: true }),
        t.span({ className: "txt txt-code" }, session.slice(0, 8) + "…"),
    );
}

/** A request's method and path, else the entry's reason. */
function requestView(e) {
    if (e.method || e.path) {
        const text = (e.method || "") + " " + (e.path || "");
        return t.span({ className: "imp-mono imp-path", title: text }, text);
    }
    if (e.reason) {
        return t.span({ className: "imp-reason", title: e.reason }, e.reason);
    }
    return t.span({ className: "txt-hint" }, "—");
}
