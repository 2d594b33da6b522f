// Sessions tab: live and past impersonation sessions (records API, newest
// first, paged) with actor, target, reason, mode (and, while live, the
// fields its policy masks), a countdown, the end cause and an End button. The page's realtime subscription keeps it current.
import { L, fmtDuration, lib, msLeft, startClock } from "./state.js";
import { SESSIONS, flashError, flashSuccess, notifyChanged, resolvePeople } from "./api.js";
import { badge, cell, dateView, listTable, pager, personText, personView } from "./ui.js";
import { openSessionTimeline } from "./timeline.js";
import { loadMailPolicies, mailView } from "./mail.js";
import { loadSessionMasks, maskedView } from "./masked.js";

const PER_PAGE = 30;

export function isLive(session) {
    return !!session && !session.ended && msLeft(session.expires) > 0;
}

/** "Stopped", "Expired"... of an ended session, or "" while live. */
export function endCauseText(session) {
    if (session.endCause) {
        return L("cause." + session.endCause);
    }
    if (!session.ended && msLeft(session.expires) <= 0) {
        return L("cause.expired");
    }
    return "";
}

// the status filter's buttons and their labels
const FILTER_LABELS = { all: "sessions.filter.all", live: "session.live", ended: "sessions.filter.ended" };

export function sessionsTab(route) {
    const uid = "imp_sessions_" + app.utils.randomString();
    const data = store({
        status: route?.query?.status?.[0] || "all",
        page: 1,
        totalPages: 0,
        totalItems: 0,
        items: [],
        isLoading: false,
        loaded: false,
    });
    const load = (page = data.page) => loadSessions(uid, data, page);
    const onChanged = () => load();
    let stopClock;

    return t.div(
        {
            className: "imp-tab imp-sessions",
            "html-data-testid": "sessions-tab",
            onmount: () => {
                stopClock = startClock();
                document.addEventListener("impersonation:changed", onChanged);
                load(1);
                loadMailPolicies();
                loadSessionMasks();
            },
            onunmount: () => {
                stopClock?.();
                app.pb.cancelRequest(uid);
                document.removeEventListener("impersonation:changed", onChanged);
            },
        },
        sessionsToolbar(data, load),
        sessionsTable(data),
        pager(data, (p) => load(p), "sessions-pager"),
    );
}

/** The records-API filter of the status shown (all, live, ended). */
function statusFilter(status) {
    const now = lib.dates.pbDate(Date.now());
    if (status == "live") {
        return app.pb.filter("ended = '' && expires > {:now}", { now });
    }
    if (status == "ended") {
        return app.pb.filter("(ended != '' || expires <= {:now})", { now });
    }
    return "";
}

async function loadSessions(uid, data, page) {
    data.isLoading = true;
    try {
        const res = await app.pb.collection(SESSIONS).getList(page, PER_PAGE, {
            sort: "-created",
            filter: statusFilter(data.status),
            requestKey: uid,
        });
        data.items = res.items;
        data.page = res.page;
        data.totalPages = res.totalPages;
        data.totalItems = res.totalItems;
        data.isLoading = false;
        data.loaded = true;
        resolvePeople(
            res.items.flatMap((s) => [
                [s.actorCollection, s.actor],
                [s.targetCollection, s.target],
            ]),
        ).catch(() => {});
    } catch (err) {
        if (err?.isAbort) {
            return;
        }
        data.isLoading = false;
        data.loaded = true;
        flashError(err);
    }
}

/** Asks, then ends a live session. */
function endSession(session) {
    const target = personText(session.targetCollection, session.target);
    app.modals.confirm(
        L("sessions.endConfirm", { name: target }),
        async () => {
            try {
                await lib.api.end(session.id);
                flashSuccess(L("sessions.ended", { name: target }));
            } catch (err) {
                flashError(err);
            }
            notifyChanged();
        },
        null,
        { yesButton: L("sessions.end"), noButton: L("common.cancel") },
    );
}

/** The status filter, the realtime hint and Refresh. */
function sessionsToolbar(data, load) {
    return t.div(
        { className: "imp-toolbar" },
        t.div(
            { className: "imp-segmented", role: "group", ariaLabel: () => L("sessions.show") },
            ...Object.keys(FILTER_LABELS).map((s) =>
                t.button(
                    {
                        type: "button",
                        className: () => `btn sm ${data.status == s ? "" : "secondary"}`,
                        "html-aria-pressed": () => String(data.status == s),
                        "html-data-testid": "sessions-filter-" + s,
                        onclick: () => {
                            data.status = s;
                            app.utils.replaceHashQueryParams({ status: s == "all" ? null : s });
                            load(1);
                        },
                    },
                    () => L(FILTER_LABELS[s]),
                ),
            ),
        ),
        t.div({ className: "flex-fill" }),
        t.span(
            { className: "txt-hint txt-sm imp-live-hint", "html-data-testid": "sessions-realtime" },
            t.i({ className: "ri-broadcast-line", ariaHidden: true }),
            " ",
            () => L("sessions.realtime"),
        ),
        app.components.refreshButton({
            tooltip: () => L("dash.refresh"),
            onclick: () => load(),
        }),
    );
}

function sessionsTable(data) {
    return t.div(
        { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
        listTable({
            name: "sessions",
            data,
            heads: [
                ["ri-calendar-line", "col.started"],
                ["ri-user-star-line", "col.actor"],
                ["ri-user-line", "col.user"],
                ["ri-chat-quote-line", "col.reason"],
                ["ri-eye-line", "sessions.mode"],
                ["ri-timer-line", "col.status"],
                ["ri-mail-line", "col.mail"],
            ],
            metaKey: "col.actions",
            emptyKey: "sessions.empty",
            row: (s) => sessionRow(s),
        }),
    );
}

function sessionRow(s) {
    return t.tr(
        {
            rid: [s.id, s.ended, s.endCause, s.notified, s.notifyError].join("|"),
            className: "imp-row",
            "html-data-testid": "sessions-row",
            "html-data-id": s.id,
        },
        cell("col.started", null, dateView(s.created)),
        cell("col.actor", null, personView(s.actorCollection, s.actor, "sessions-actor")),
        cell("col.user", null, personView(s.targetCollection, s.target, "sessions-target")),
        cell(
            "col.reason",
            { className: "imp-col-reason" },
            s.reason
                ? t.span({ className: "imp-reason", title: s.reason, "html-data-testid": "sessions-reason" }, s.reason)
                : t.span({ className: "txt-hint" }, "—"),
        ),
        cell(
            "sessions.mode",
            null,
            t.div(
                { className: "imp-stack" },
                badge(s.mode == "write" ? "danger" : "info", () => L("mode." + s.mode), "sessions-mode"),
                maskedView(s, () => isLive(s)),
            ),
        ),
        cell("col.status", { "html-data-testid": "sessions-status" }, statusView(s)),
        cell("col.mail", null, mailView(s)),
        t.td({ className: "col-meta imp-col-actions" }, rowActions(s)),
    );
}

/** Live with the time left, or the end's cause and time. */
function statusView(s) {
    return t.div({ className: "imp-stack" }, () => {
        if (isLive(s)) {
            return [
                badge("success", () => L("session.live"), "sessions-live"),
                t.small({ className: "txt-hint", "html-data-testid": "sessions-left" }, () =>
                    L("sessions.left", { left: fmtDuration(msLeft(s.expires)) }),
                ),
            ];
        }
        return [
            badge("", () => endCauseText(s) || L("sessions.endedLabel"), "sessions-cause"),
            t.small({ className: "txt-hint" }, dateView(s.ended || s.expires)),
        ];
    });
}

/** Timeline, and End while live. */
function rowActions(s) {
    return t.div(
        { className: "inline-flex gap-5" },
        t.button(
            {
                type: "button",
                className: "btn sm secondary",
                "html-data-testid": "sessions-timeline",
                onclick: () => openSessionTimeline(s.id),
            },
            t.i({ className: "ri-list-check-3", ariaHidden: true }),
            t.span({ className: "txt" }, () => L("sessions.timeline")),
        ),
        () => {
            if (!isLive(s)) {
                return null;
            }
            // the rid keeps the same button across the clock's ticks (focus stays)
            return t.button(
                {
                    rid: "end",
                    type: "button",
                    className: "btn sm danger",
                    "html-data-testid": "sessions-end",
                    onclick: () => endSession(s),
                },
                t.i({ className: "ri-stop-circle-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("sessions.end")),
            );
        },
    );
}
