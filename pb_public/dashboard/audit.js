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
import { badge, cell, dateView, emptyRow, head, pager, personView } from "./ui.js";
import { entryDetails, eventText, openSessionTimeline, statusKind } from "./timeline.js";

const PER_PAGE = 50;

export const EVENTS = [
    "request",
    "session.started",
    "session.denied",
    "session.throttled",
    "session.ended",
    "consent.granted",
    "consent.revoked",
    "audit.checkpoint",
];

export function auditTab(route) {
    const uid = "imp_audit_" + app.utils.randomString();
    const q = (k) => route?.query?.[k]?.[0] || "";

    const form = store({
        actor: q("actor"),
        target: q("target"),
        session: q("session"),
        event: q("event"),
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

    async function buildFilter() {
        const parts = [];
        const actor = await personFilter("actor", form.actor);
        const target = await personFilter("target", form.target);
        if (actor) {
            parts.push(actor);
        }
        if (target) {
            parts.push(target);
        }
        if (form.session.trim()) {
            parts.push(app.pb.filter("session = {:s}", { s: form.session.trim() }));
        }
        if (form.event) {
            parts.push(app.pb.filter("event = {:e}", { e: form.event }));
        }
        if (form.from && pbDate(form.from)) {
            parts.push(app.pb.filter("created >= {:from}", { from: pbDate(form.from) }));
        }
        if (form.to && pbDate(form.to)) {
            parts.push(app.pb.filter("created <= {:to}", { to: pbDate(form.to) }));
        }
        return parts.join(" && ");
    }

    async function apply() {
        try {
            data.applied = await buildFilter();
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

    function clear() {
        Object.assign(form, { actor: "", target: "", session: "", event: "", from: "", to: "" });
        apply();
    }

    async function load(page = data.page) {
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

    async function verify() {
        data.chainLoading = true;
        try {
            data.chain = await app.pb.send("/api/impersonation/audit/verify", { requestKey: uid + "_verify" });
        } catch (err) {
            if (!err?.isAbort) {
                data.chain = null;
                flashError(err);
            }
        }
        data.chainLoading = false;
    }

    async function exportAs(format) {
        if (data.exporting) {
            return;
        }
        data.exporting = format;
        try {
            const params = new URLSearchParams({ format });
            if (data.applied) {
                params.set("filter", data.applied);
            }
            const url = new URL(app.pb.buildURL("/api/impersonation/audit/export"), window.location.href);
            url.search = params.toString();
            // the token goes in a header, never in the URL
            const res = await fetch(url, {
                headers: { Authorization: app.pb.authStore.token, "x-request-source": "pbui" },
                credentials: "omit",
            });
            if (!res.ok) {
                const body = await res.json().catch(() => ({}));
                const err = new Error(body?.message || res.statusText);
                err.status = res.status;
                err.response = body;
                throw err;
            }
            const blob = await res.blob();
            const stamp = new Date().toISOString().slice(0, 19).replace(/[:T]/g, "-");
            const href = URL.createObjectURL(blob);
            const a = document.createElement("a");
            a.href = href;
            a.download = `impersonation-audit-${stamp}.${format}`;
            a.hidden = true;
            document.body.appendChild(a);
            a.click();
            a.remove();
            setTimeout(() => URL.revokeObjectURL(href), 60 * 1000);
            app.toasts.success(L("audit.exported"));
        } catch (err) {
            flashError(err);
        }
        data.exporting = "";
    }

    const onChanged = () => {
        if (data.page == 1) {
            load(1);
        }
    };

    const inputField = (name, labelKey, placeholderKey, type = "text") =>
        t.div(
            { className: "field imp-filter-field" },
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

    return t.div(
        {
            className: "imp-tab imp-audit",
            "html-data-testid": "audit-tab",
            onmount: async () => {
                document.addEventListener("impersonation:changed", onChanged);
                verify();
                await apply();
            },
            onunmount: () => {
                app.pb.cancelRequest(uid);
                app.pb.cancelRequest(uid + "_verify");
                document.removeEventListener("impersonation:changed", onChanged);
            },
        },
        // chain status and export
        t.div(
            { className: "imp-audit-head" },
            t.div(
                {
                    className: () => {
                        if (!data.chain) {
                            return "alert imp-chain";
                        }
                        return `alert imp-chain ${data.chain.ok ? "success" : "danger"}`;
                    },
                    role: "status",
                    "html-data-testid": "audit-chain",
                    "html-data-ok": () => (data.chain ? String(!!data.chain.ok) : undefined),
                },
                t.i({
                    className: () => {
                        if (!data.chain) {
                            return "ri-link";
                        }
                        return data.chain.ok ? "ri-shield-check-line" : "ri-error-warning-line";
                    },
                    ariaHidden: true,
                }),
                t.div({ className: "content" }, () => {
                    if (data.chainLoading && !data.chain) {
                        return L("audit.chainChecking");
                    }
                    if (!data.chain) {
                        return L("audit.chainUnknown");
                    }
                    if (data.chain.ok) {
                        return L("audit.chainOk", { count: data.chain.entries });
                    }
                    const lost = data.chain.code === "anchor_not_reached";
                    return [
                        t.strong(null, L("audit.chainBroken", { count: data.chain.entries })),
                        lost
                            ? t.div(
                                  { className: "txt-sm" },
                                  L("audit.chainLost", {
                                      anchored: data.chain.anchored?.seq ?? "?",
                                      head: data.chain.head?.seq ?? "?",
                                  }),
                              )
                            : t.div(
                                  { className: "txt-sm" },
                                  L("audit.chainFirstBad", { id: data.chain.firstBadId || "?" }),
                              ),
                        t.div({ className: "txt-sm" }, data.chain.problem || ""),
                    ];
                }),
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
            ),
            t.div(
                { className: "imp-export", role: "group", ariaLabel: () => L("audit.export") },
                ...["jsonl", "csv"].map((format) =>
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
            ),
        ),
        // filters
        t.form(
            {
                className: "imp-filters",
                "html-data-testid": "audit-filters",
                onsubmit: (e) => {
                    e.preventDefault();
                    apply();
                },
            },
            inputField("actor", "col.actor", "audit.personPlaceholder"),
            inputField("target", "col.user", "audit.personPlaceholder"),
            inputField("session", "col.session", "audit.sessionPlaceholder"),
            t.div(
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
                    ...EVENTS.map((ev) =>
                        t.option({ value: ev, selected: () => form.event == ev }, () => eventText(ev)),
                    ),
                ),
            ),
            inputField("from", "audit.from", "", "datetime-local"),
            inputField("to", "audit.to", "", "datetime-local"),
            t.div(
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
                        onclick: () => clear(),
                        "html-data-testid": "audit-clear",
                    },
                    t.span({ className: "txt" }, () => L("audit.clear")),
                ),
                app.components.refreshButton({
                    tooltip: () => L("dash.refresh"),
                    onclick: () => load(),
                }),
            ),
        ),
        t.div(
            { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
            t.table(
                { className: "responsive-table imp-table imp-audit-table" },
                t.thead(
                    null,
                    t.tr(
                        null,
                        t.th({ className: "min-width" }, "#"),
                        head("ri-calendar-line", "col.time"),
                        head("ri-bookmark-line", "audit.event"),
                        head("ri-user-star-line", "col.actor"),
                        head("ri-user-line", "col.user"),
                        head("ri-links-line", "col.session"),
                        head("ri-route-line", "audit.request"),
                        head("ri-pulse-line", "col.status"),
                        t.th(
                            { className: "col-meta" },
                            t.span({ className: "imp-sr-only" }, () => L("dash.details")),
                        ),
                    ),
                ),
                t.tbody({ "html-data-testid": "audit-rows" }, () => {
                    if (!data.items.length) {
                        return emptyRow(() => data.isLoading || !data.loaded, "audit.empty");
                    }
                    return data.items.flatMap((e) => auditRow(e, data));
                }),
            ),
        ),
        pager(data, (p) => load(p), "audit-pager"),
    );
}

function auditRow(e, data) {
    const detailsId = "imp_audit_d_" + e.id;
    const denied = e.event == "session.denied" ? e.data?.code : "";
    const throttled = e.event == "session.throttled" ? Number(e.data?.count) || 0 : 0;
    const refused = e.event == "session.denied" || e.event == "session.throttled";
    const cause = e.event == "session.ended" ? e.data?.cause : "";
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
            cell(
                "audit.event",
                null,
                t.div(
                    { className: "imp-stack" },
                    badge(
                        refused ? "danger" : e.event == "request" ? "" : "info",
                        () => eventText(e.event),
                        "audit-event",
                    ),
                    denied ? t.small({ className: "txt-hint txt-code" }, String(denied)) : null,
                    throttled
                        ? t.small({ className: "txt-hint" }, () => L("audit.throttled", { count: throttled }))
                        : null,
                    cause ? t.small({ className: "txt-hint" }, () => L("cause." + cause)) : null,
                ),
            ),
            cell("col.actor", null, personView(e.actorCollection, e.actor, "audit-actor")),
            cell("col.user", null, personView(e.targetCollection, e.target, "audit-target")),
            cell(
                "col.session",
                null,
                e.session
                    ? t.button(
                          {
                              type: "button",
                              className: "btn sm transparent secondary imp-session-link",
                              title: e.session,
                              "html-data-testid": "audit-session",
                              ariaLabel: () => L("sessions.timeline") + " " + e.session,
                              onclick: () => openSessionTimeline(e.session),
                          },
                          t.i({ className: "ri-list-check-3", ariaHidden: true }),
                          t.span({ className: "txt txt-code" }, e.session.slice(0, 8) + "…"),
                      )
                    : t.span({ className: "txt-hint" }, "—"),
            ),
            cell(
                "audit.request",
                { className: "imp-col-path" },
                e.method || e.path
                    ? t.span(
                          { className: "imp-mono imp-path", title: (e.method || "") + " " + (e.path || "") },
                          (e.method || "") + " " + (e.path || ""),
                      )
                    : e.reason
                      ? t.span({ className: "imp-reason", title: e.reason }, e.reason)
                      : t.span({ className: "txt-hint" }, "—"),
            ),
            cell("col.status", null, e.status ? badge(statusKind(e.status), String(e.status)) : ""),
            t.td(
                { className: "col-meta" },
                t.button(
                    {
                        type: "button",
                        className: "btn sm circle transparent secondary",
                        "html-aria-expanded": () => String(!!data.open[e.id]),
                        "html-aria-controls": detailsId,
                        "html-data-testid": "audit-details-toggle",
                        ariaLabel: app.attrs.tooltip(() => L("dash.details")),
                        onclick: () => {
                            data.open = Object.assign({}, data.open, { [e.id]: !data.open[e.id] });
                        },
                    },
                    t.i({
                        className: () => (data.open[e.id] ? "ri-arrow-up-s-line" : "ri-arrow-down-s-line"),
                        ariaHidden: true,
                    }),
                ),
            ),
        ),
        t.tr(
            { rid: e.id + "_details", id: detailsId, hidden: () => !data.open[e.id], className: "imp-details-row" },
            t.td({ colSpan: 99 }, () => (data.open[e.id] ? entryDetails(e) : null)),
        ),
    ];
}
