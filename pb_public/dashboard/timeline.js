// Session timeline: one session's audit entries in chain order (seq): time,
// method, path, status, with each entry's redacted details on demand.
import { L, fmtDate, fmtDuration, startClock, toDate } from "./state.js";
import { AUDIT, SESSIONS, flashError, resolvePeople } from "./api.js";
import { badge, dateView, personView, dialogKeys } from "./ui.js";

const PER_PAGE = 200;

export function statusKind(status) {
    const s = status << 0;
    if (!s) {
        return "";
    }
    if (s < 300) {
        return "success";
    }
    if (s < 500) {
        return "warning";
    }
    return "danger";
}

export function eventText(event) {
    const key = "event." + event;
    const text = L(key);
    return text == key ? event : text;
}

/** Pretty JSON of an entry's data, as text. */
export function dataText(data) {
    if (data == null || data === "") {
        return "";
    }
    try {
        return JSON.stringify(typeof data == "string" ? JSON.parse(data) : data, null, 2);
    } catch {
        return String(data);
    }
}

/**
 * The entries in chain order (seq), except that a session's end comes after
 * the requests under way when it ended: a request's entry is written once it
 * is answered, so the request that ended the session (Exit, End) follows the
 * end it caused in the chain. A request that started after the end stays
 * after it.
 */
export function timelineOrder(entries) {
    const out = [];
    let ends = []; // session.ended entries waiting for the requests in flight
    for (const e of entries) {
        if (e.event == "session.ended") {
            ends.push(e);
            continue;
        }
        if (ends.length && !startedBy(e, ends[ends.length - 1])) {
            out.push(...ends);
            ends = [];
        }
        out.push(e);
    }
    return out.concat(ends);
}

/**
 * Whether e is a request that started by the time of entry `end`. Both dates
 * are stored to the millisecond, cut rather than rounded, so a request begun
 * in the millisecond of the end counts as under way (1 ms of slack).
 */
function startedBy(e, end) {
    const answered = toDate(e.created)?.getTime();
    const ended = toDate(end.created)?.getTime();
    if (e.event != "request" || answered == null || ended == null) {
        return false;
    }
    const took = Number(dataObject(e.data)?.durationMs) || 0;
    return answered - took <= ended + 1;
}

/** An entry's data as an object (the records API gives it parsed, an export as text). */
function dataObject(data) {
    if (typeof data != "string") {
        return data;
    }
    try {
        return JSON.parse(data);
    } catch {
        return null;
    }
}

export function openSessionTimeline(sessionId) {
    const tl = timelineModel(sessionId);
    let stopClock;
    const modal = t.div(
        {
            className: "modal lg imp-timeline-modal",
            role: "dialog",
            ariaModal: "true",
            "html-aria-labelledby": tl.uid + "_title",
            "html-data-testid": "timeline-dialog",
            onbeforeopen: () => {
                stopClock = startClock();
                tl.reload();
            },
            onkeydown: dialogKeys,
            onafterclose: (el) => {
                stopClock?.();
                app.pb.cancelRequest(tl.uid + "_s");
                app.pb.cancelRequest(tl.uid + "_e");
                el?.remove();
            },
        },
        timelineHeader(tl),
        t.div(
            { className: "modal-content" },
            () => sessionSummary(tl.data.session),
            timelineTable(tl.data),
            moreButton(tl),
        ),
        timelineFooter(tl.data, () => app.modals.close(modal)),
    );
    document.body.appendChild(modal);
    app.modals.open(modal);
}

/** The timeline's state (the session, its entries so far) and its loaders. */
function timelineModel(sessionId) {
    const uid = "imp_timeline_" + app.utils.randomString();
    const data = store({
        session: null,
        entries: [],
        page: 0,
        totalPages: 0,
        totalItems: 0,
        isLoading: false,
        open: {},
    });
    const tl = { uid, sessionId, data };
    tl.loadSession = () => loadSession(tl);
    tl.loadEntries = (page = 1) => loadEntries(tl, page);
    tl.reload = () => {
        tl.loadSession();
        tl.loadEntries(1);
    };
    return tl;
}

async function loadSession({ uid, sessionId, data }) {
    try {
        const s = await app.pb.collection(SESSIONS).getOne(sessionId, { requestKey: uid + "_s" });
        data.session = s;
        resolvePeople([
            [s.actorCollection, s.actor],
            [s.targetCollection, s.target],
        ]).catch(() => {});
    } catch (err) {
        if (!err?.isAbort && err?.status != 404) {
            flashError(err);
        }
    }
}

async function loadEntries({ uid, sessionId, data }, page) {
    data.isLoading = true;
    try {
        const res = await app.pb.collection(AUDIT).getList(page, PER_PAGE, {
            filter: app.pb.filter("session = {:id}", { id: sessionId }),
            sort: "seq",
            requestKey: uid + "_e",
        });
        data.entries = page == 1 ? res.items : data.entries.concat(res.items);
        data.page = res.page;
        data.totalPages = res.totalPages;
        data.totalItems = res.totalItems;
        data.isLoading = false;
    } catch (err) {
        if (!err?.isAbort) {
            data.isLoading = false;
            flashError(err);
        }
    }
}

function timelineHeader(tl) {
    return t.header(
        { className: "modal-header" },
        t.h5(
            { id: tl.uid + "_title", className: "m-r-auto" },
            () => L("timeline.title"),
            " ",
            t.small({ className: "txt-hint txt-code" }, tl.sessionId),
        ),
        app.components.refreshButton({
            tooltip: () => L("dash.refresh"),
            onclick: () => tl.reload(),
        }),
    );
}

function timelineTable(data) {
    return t.div(
        { className: "imp-timeline-wrapper" },
        t.table(
            { className: "responsive-table imp-table imp-timeline" },
            t.thead(
                null,
                t.tr(
                    null,
                    t.th({ className: "min-width" }, "#"),
                    t.th(null, () => L("col.time")),
                    t.th(null, () => L("col.method")),
                    t.th(null, () => L("col.path")),
                    t.th(null, () => L("col.status")),
                    t.th(
                        { className: "col-meta" },
                        t.span({ className: "imp-sr-only" }, () => L("dash.details")),
                    ),
                ),
            ),
            t.tbody({ "html-data-testid": "timeline-rows" }, () => {
                if (!data.entries.length) {
                    return t.tr(
                        null,
                        t.td({ colSpan: 99, className: "txt-center txt-hint" }, () =>
                            data.isLoading ? t.span({ className: "loader" }) : L("timeline.empty"),
                        ),
                    );
                }
                return timelineOrder(data.entries).flatMap((e) => timelineRow(e, data));
            }),
        ),
    );
}

function moreButton(tl) {
    const data = tl.data;
    return t.div(
        { className: "txt-center m-t-sm", hidden: () => data.page >= data.totalPages },
        t.button(
            {
                type: "button",
                className: () => `btn sm secondary ${data.isLoading ? "loading" : ""}`,
                disabled: () => data.isLoading,
                onclick: () => tl.loadEntries(data.page + 1),
                "html-data-testid": "timeline-more",
            },
            () => L("dash.loadMore"),
        ),
    );
}

function timelineFooter(data, close) {
    return t.footer(
        { className: "modal-footer" },
        t.span({ className: "txt-hint txt-sm m-r-auto" }, () => L("timeline.count", { count: data.totalItems })),
        t.button(
            {
                type: "button",
                className: "btn transparent",
                onclick: close,
                "html-data-testid": "timeline-close",
            },
            t.span({ className: "txt" }, () => L("common.close")),
        ),
    );
}

function sessionSummary(s) {
    if (!s) {
        return null;
    }
    const started = toDate(s.created);
    const end = toDate(s.ended) || toDate(s.expires);
    return t.dl(
        { className: "imp-summary", "html-data-testid": "timeline-summary" },
        t.dt(null, () => L("col.actor")),
        t.dd(null, personView(s.actorCollection, s.actor, "timeline-actor")),
        t.dt(null, () => L("col.user")),
        t.dd(null, personView(s.targetCollection, s.target, "timeline-target")),
        t.dt(null, () => L("col.reason")),
        t.dd({ "html-data-testid": "timeline-reason" }, s.reason || "—"),
        t.dt(null, () => L("sessions.mode")),
        t.dd(null, () => L("mode." + s.mode)),
        t.dt(null, () => L("col.started")),
        t.dd(null, dateView(s.created)),
        t.dt(null, () => L("col.status")),
        t.dd({ "html-data-testid": "timeline-status" }, () => {
            if (s.ended) {
                return L("timeline.endedAt", {
                    date: fmtDate(s.ended),
                    cause: s.endCause ? L("cause." + s.endCause) : "",
                    duration: started && end ? fmtDuration(end - started) : "",
                });
            }
            return L("timeline.until", { date: fmtDate(s.expires) });
        }),
        s.ip ? t.dt(null, () => L("audit.ip")) : null,
        s.ip ? t.dd(null, s.ip) : null,
        s.userAgent ? t.dt(null, () => L("audit.userAgent")) : null,
        s.userAgent ? t.dd({ className: "txt-sm" }, s.userAgent) : null,
    );
}

function timelineRow(e, data) {
    const isRequest = e.event == "request";
    const detailsId = "imp_tl_" + e.id;
    return [
        t.tr(
            {
                rid: e.id,
                className: "imp-row",
                "html-data-testid": "timeline-row",
                "html-data-id": e.id,
                "html-data-event": e.event,
            },
            t.td({ className: "min-width txt-hint", "html-data-name": "#" }, String(e.seq ?? "")),
            t.td({ "html-data-name": () => L("col.time") }, dateView(e.created)),
            t.td(
                { "html-data-name": () => L("col.method") },
                isRequest
                    ? t.span({ className: "label sm txt-code", "html-data-testid": "timeline-method" }, e.method || "")
                    : badge("info", () => eventText(e.event), "timeline-event"),
            ),
            t.td(
                { className: "imp-col-path", "html-data-name": () => L("col.path") },
                t.span(
                    { className: "imp-mono imp-path", title: e.path || "", "html-data-testid": "timeline-path" },
                    e.path || "",
                ),
            ),
            t.td(
                { "html-data-name": () => L("col.status") },
                e.status ? badge(statusKind(e.status), String(e.status), "timeline-status-code") : "",
            ),
            t.td({ className: "col-meta" }, detailsButton(data, e.id, detailsId)),
        ),
        detailsRow(data, e, detailsId),
    ];
}

/**
 * The button that shows or hides an entry's details (data.open[id]), in
 * the timeline and the Audit tab.
 */
export function detailsButton(data, id, detailsId, testid) {
    return t.button(
        {
            type: "button",
            className: "btn sm circle transparent secondary",
            "html-aria-expanded": () => String(!!data.open[id]),
            "html-aria-controls": detailsId,
            "html-data-testid": testid || undefined,
            ariaLabel: app.attrs.tooltip(() => L("dash.details")),
            onclick: () => {
                data.open = Object.assign({}, data.open, { [id]: !data.open[id] });
            },
        },
        t.i({
            className: () => (data.open[id] ? "ri-arrow-up-s-line" : "ri-arrow-down-s-line"),
            ariaHidden: true,
        }),
    );
}

/** The row of an entry's details under its row, while open. */
export function detailsRow(data, e, detailsId) {
    return t.tr(
        { rid: e.id + "_details", id: detailsId, hidden: () => !data.open[e.id], className: "imp-details-row" },
        t.td({ colSpan: 99 }, () => (data.open[e.id] ? entryDetails(e) : null)),
    );
}

/** The fields of an audit entry that its details show, with their labels. */
const DETAIL_FIELDS = [
    ["id", "detail.id"],
    ["seq", "detail.seq"],
    ["event", "audit.event"],
    ["session", "col.session"],
    ["reason", "col.reason"],
    ["ip", "audit.ip"],
    ["userAgent", "audit.userAgent"],
    ["method", "col.method"],
    ["path", "col.path"],
    ["status", "col.status"],
    ["created", "col.time"],
    ["hash", "detail.hash"],
];

/** Every field of an audit entry, as text, labelled in the chosen language. */
export function entryDetails(e) {
    return t.div(
        { className: "imp-entry-details", "html-data-testid": "entry-details" },
        t.dl(
            { className: "imp-summary" },
            ...DETAIL_FIELDS.filter(([k]) => e[k] !== "" && e[k] != null).flatMap(([k, labelKey]) => [
                t.dt({ "html-data-field": k }, () => L(labelKey)),
                t.dd({ className: "txt-code" }, String(e[k])),
            ]),
        ),
        dataText(e.data) ? t.pre({ className: "imp-json" }, dataText(e.data)) : null,
    );
}
