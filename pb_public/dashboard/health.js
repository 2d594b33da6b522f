// The audit's health at a glance (GET /api/impersonation/health: the
// journal's backlog and the mover's lag, the journal's size, the last move
// error and the last verify), polled while the page is open, and the warning
// shown when PocketBase's mail is not set up (the start emails and the
// alerts then fail).
import { L, fmtDate, fmtDuration, lib, ui } from "./state.js";
import { badge } from "./ui.js";

const POLL_MS = 30 * 1000;

// PocketBase's SMTP setting, read once per page load (superusers read settings)
const mail = store({ known: false, enabled: true });
let mailPending = null;

/** Loads whether PocketBase's SMTP is enabled; `force` reads it again. */
export function loadMailState(force = false) {
    if (mailPending && !force) {
        return mailPending;
    }
    mailPending = app.pb.settings
        .getAll({ requestKey: null })
        .then((s) => {
            mail.enabled = !!s?.smtp?.enabled;
            mail.known = true;
        })
        .catch(() => {
            mailPending = null; // unknown: no warning
        });
    return mailPending;
}

/** The warning shown while PocketBase's mail is not set up. */
export function mailWarning() {
    loadMailState();
    return t.div(
        {
            className: "alert warning imp-mail-warning",
            role: "status",
            hidden: () => !mail.known || mail.enabled,
            "html-data-testid": "mail-warning",
        },
        t.i({ className: "ri-mail-close-line", ariaHidden: true }),
        t.div(
            { className: "content" },
            t.p(null, () => L("mail.notSetUp")),
            t.a({ href: "#/settings/mail", className: "txt-bold" }, () => L("mail.setUp")),
        ),
    );
}

function bytesText(n) {
    ui.lang;
    if (n < 1024) {
        return L("health.bytes", { n });
    }
    if (n < 1024 * 1024) {
        return L("health.kib", { n: (n / 1024).toFixed(1) });
    }
    return L("health.mib", { n: (n / 1024 / 1024).toFixed(1) });
}

function stat(testid, labelKey, valueFn, kindFn = () => "") {
    return t.div(
        { className: () => `imp-health-stat ${kindFn()}`, "html-data-testid": testid },
        t.small({ className: "txt-hint" }, () => L(labelKey)),
        t.strong({ className: "imp-health-value" }, valueFn),
    );
}

function verifyText(v) {
    if (!v) {
        return L("health.noVerify");
    }
    if (v.ok) {
        return L("health.verifyOk", { n: v.entries, at: fmtDate(v.at) });
    }
    return L("health.verifyBad", { code: L("health.code." + (v.code || "chain_broken")), at: fmtDate(v.at) });
}

/** The health panel: polled every 30 s while mounted, and on refresh. */
export function healthPanel() {
    const uid = "imp_health_" + app.utils.randomString();
    const data = store({ health: null, error: "", loading: false, at: 0 });
    let timer = 0;

    async function load() {
        data.loading = true;
        try {
            data.health = await lib.api.health({ requestKey: uid });
            data.error = "";
            data.at = Date.now();
        } catch (err) {
            if (err?.isAbort) {
                return;
            }
            data.error = lib.errors.errorText(err);
        } finally {
            data.loading = false;
        }
    }

    const journal = () => data.health?.journal || {};
    const lagMs = () => (journal().oldest ? Math.max(0, ui.now - lib.dates.parseDate(journal().oldest)) : 0);

    return t.section(
        {
            className: "imp-health",
            ariaLabel: () => L("health.title"),
            "html-data-testid": "health-panel",
            onmount: () => {
                load();
                timer = setInterval(load, POLL_MS);
            },
            onunmount: () => {
                clearInterval(timer);
                app.pb.cancelRequest(uid);
            },
        },
        t.div(
            { className: "imp-health-head" },
            t.strong(null, () => L("health.title")),
            () =>
                data.error
                    ? badge("danger", () => data.error, "health-error")
                    : badge(
                          journal().moveError || (data.health?.lastVerify && !data.health.lastVerify.ok)
                              ? "danger"
                              : "success",
                          () =>
                              journal().moveError || (data.health?.lastVerify && !data.health.lastVerify.ok)
                                  ? L("health.attention")
                                  : L("health.ok"),
                          "health-state",
                      ),
            t.div({ className: "flex-fill" }),
            app.components.refreshButton({
                tooltip: () => L("dash.refresh"),
                onclick: () => load(),
            }),
        ),
        t.div(
            { className: "imp-health-stats", ariaLive: "polite", ariaBusy: () => String(data.loading) },
            stat(
                "health-backlog",
                "health.backlog",
                () => (data.health ? L("health.entries", { n: journal().entries || 0 }) : "…"),
                () => (journal().entries > 1000 ? "warning" : ""),
            ),
            stat("health-lag", "health.lag", () =>
                data.health ? (journal().oldest ? fmtDuration(lagMs()) : L("health.noLag")) : "…",
            ),
            stat("health-size", "health.size", () => (data.health ? bytesText(journal().journalBytes || 0) : "…")),
            stat(
                "health-verify",
                "health.lastVerify",
                () => (data.health ? verifyText(data.health.lastVerify) : "…"),
                () => (data.health?.lastVerify && !data.health.lastVerify.ok ? "danger" : ""),
            ),
        ),
        t.p(
            {
                className: "imp-health-move-error txt-danger",
                hidden: () => !journal().moveError,
                role: "alert",
                "html-data-testid": "health-move-error",
            },
            () => (journal().moveError ? L("health.moveError", { error: journal().moveError }) : ""),
        ),
        t.small({ className: "txt-hint" }, () => (data.at ? L("health.checked", { at: fmtDate(data.at) }) : "")),
    );
}
