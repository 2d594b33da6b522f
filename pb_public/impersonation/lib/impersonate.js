// The Impersonate dialog's model: one set of controls and defaults, one
// validation, one outcome, for the dashboard (rendered with PocketBase's
// own toolkit) and the support console (rendered with dom.js). A renderer
// shows FIELDS in order with the model's texts and ids, and calls submit()
// synchronously inside the submit event (the hand-off opens its tab first,
// which popup blockers allow only there).
import { t } from "./i18n.js";
import { formatDate, formatUnit, msUntil } from "./dates.js";
import { errorText, fieldTexts } from "./errors.js";
import { HandoffError, openImpersonation } from "./handoff.js";
import { displayName } from "./records.js";
import { impersonationApi } from "./api.js";

/** A new session's minutes unless the policy allows fewer. */
export const DEFAULT_MINUTES = 30;
/** The longest reason the server accepts (Config.ReasonMaxLength's default). */
export const REASON_MAX_LENGTH = 1000;
/** The shortest reason of a break-glass start. */
export const BREAK_GLASS_REASON_MIN = 20;
/** How long after its approval a request may start its one session. */
export const CLAIM_WINDOW_MS = 60 * 60 * 1000;

/** The dialog's controls, in order: a textarea, a number, one radio per mode. */
export const FIELDS = ["reason", "minutes", "mode"];

/** Element ids (the page has one dialog open at a time). */
export const IDS = {
    form: "imp-form",
    reason: "imp-reason",
    reasonError: "imp-reason-error",
    minutes: "imp-minutes",
    minutesError: "imp-minutes-error",
    mode: (m) => "imp-mode-" + m,
    modeError: "imp-mode-error",
    title: "imp-title",
};

/**
 * The model of the dialog for target (an item of GET targets: id, name,
 * email, consent, liveSession, request) under policy (an item of GET
 * policies). kind is "start" (the default), "ask" (a request for access,
 * POST /api/impersonation/requests) or "breakGlass" (a start without
 * consent in an emergency, as the policy allows it). A start on an
 * approved request is limited to its minutes and mode.
 */
export function impersonateModel(policy, target, kind = "start") {
    let modes = policy.modes?.length ? policy.modes : ["read"];
    let maxMinutes = Number(policy.maxMinutes) || DEFAULT_MINUTES;
    const approved = kind === "start" ? approvedRequest(target) : null;
    if (kind === "breakGlass") {
        modes = modes.filter((m) => (policy.breakGlassModes || ["read"]).includes(m));
        maxMinutes = Math.min(maxMinutes, Number(policy.breakGlassMinutes) || 15);
    } else if (approved && targetConsent(target) === "missing") {
        modes = modes.filter((m) => m === "read" || approved.mode === "write");
        maxMinutes = Math.min(maxMinutes, Number(approved.minutes) || maxMinutes);
    }
    const name = displayName(target);
    return {
        policy,
        target,
        kind,
        name,
        email: target.email && target.email !== name ? target.email : "",
        modes,
        maxMinutes,
        reasonRequired: !!policy.reasonRequired || kind === "breakGlass",
        initial: {
            reason: "",
            minutes: Math.min(DEFAULT_MINUTES, maxMinutes),
            mode: modes.includes(policy.defaultMode) ? policy.defaultMode : modes[0],
        },
    };
}

/** What the dialog says about the target's consent: "missing", "given" or "not-required". */
export function consentState(model) {
    return targetConsent(model.target);
}

/** The consent of target (an item of GET targets): "missing", "given" or "not-required". */
export function targetConsent(target) {
    const c = target.consent;
    if (!c || !c.required) {
        return "not-required";
    }
    return c.active ? "given" : "missing";
}

/**
 * Whether a start on target is worth offering: not while its consent is
 * missing (the server would refuse it, and the attempt would count toward
 * the rate limit all the same), unless the caller's request is approved.
 */
export function canStart(target, now = Date.now()) {
    return targetConsent(target) !== "missing" || !!approvedRequest(target, now);
}

/** The caller's approved request about target still good for a start, or null. */
export function approvedRequest(target, now = Date.now()) {
    const r = target.request;
    if (!r || r.status !== "approved" || !r.approved) return null;
    return msUntil(r.approved, now) + CLAIM_WINDOW_MS > 0 ? r : null;
}

/** Whether asking target for access is worth offering: consent missing, nothing asked or approved already. */
export function canAsk(target, now = Date.now()) {
    if (targetConsent(target) !== "missing" || approvedRequest(target, now)) return false;
    return !(target.request && target.request.status === "pending" && msUntil(target.request.expires, now) > 0);
}

/**
 * Where the caller's newest request about target stands, for a list:
 * "pending", "approved" (still good for a start), "declined", "used",
 * "withdrawn", "expired", or "" (none).
 */
export function requestState(target, now = Date.now()) {
    const r = target.request;
    if (!r) return "";
    if (r.status === "pending") return msUntil(r.expires, now) > 0 ? "pending" : "expired";
    if (r.status === "approved") return approvedRequest(target, now) ? "approved" : "expired";
    return r.status;
}

/** The live session on the target, or null. */
export function liveSession(model, now = Date.now()) {
    const live = model.target.liveSession;
    return live && msUntil(live.expires, now) > 0 ? live : null;
}

/** The dialog's texts in the chosen language; actorName(live) names a live session's actor. */
export function dialogTexts(model, actorName = (live) => live.actorName || live.actor) {
    const live = liveSession(model);
    const approved = model.kind === "start" && consentState(model) === "missing" && approvedRequest(model.target);
    return {
        title: t({ ask: "dialog.askTitle", breakGlass: "dialog.breakGlassTitle" }[model.kind] || "dialog.title", {
            name: model.name,
        }),
        confirm: t(
            { ask: "dialog.askConfirm", breakGlass: "dialog.breakGlassConfirm" }[model.kind] || "dialog.confirm",
            {
                name: model.name,
            },
        ),
        consent: {
            missing: approved
                ? t("dialog.approved", { name: model.name, minutes: approved.minutes })
                : t(model.kind === "start" ? "dialog.noConsent" : "consent.notGiven", { name: model.name }),
            given: t("consent.activeUntil", { date: formatDate(model.target.consent?.expires) }),
            "not-required": t("consent.notRequired"),
        }[consentState(model)],
        live: live
            ? t("dialog.liveNote", { name: model.name, actor: actorName(live), date: formatDate(live.expires) })
            : "",
        reason: t("col.reason"),
        reasonHint: t(model.reasonRequired ? "form.required" : "form.optional"),
        reasonPlaceholder: t("dialog.reasonPlaceholder"),
        reasonHelp:
            model.kind === "breakGlass"
                ? t("dialog.breakGlassReasonHelp", { min: BREAK_GLASS_REASON_MIN })
                : t("dialog.reasonHelp"),
        minutes: t("dialog.minutes"),
        minutesHelp: t("common.atMost", { max: formatUnit(model.maxMinutes, "minute", "long") }),
        mode: t("col.access"),
        modeLabel: (m) => t("mode." + m),
        modeHelp: (m) => t("mode." + m + "Help"),
        submit: t({ ask: "dialog.askSubmit", breakGlass: "dialog.breakGlassSubmit" }[model.kind] || "dialog.submit"),
        starting: t(model.kind === "ask" ? "dialog.asking" : "dialog.starting"),
        cancel: t("common.cancel"),
    };
}

/** The errors of values ({reason, minutes, mode}) before a start: {field: text}. */
export function validate(model, values) {
    const errors = {};
    const reason = String(values.reason || "").trim();
    if (model.reasonRequired && !reason) {
        errors.reason = t("dialog.reasonMissing");
    } else if (model.kind === "breakGlass" && reason.length < BREAK_GLASS_REASON_MIN) {
        errors.reason = t("dialog.breakGlassReasonShort", { min: BREAK_GLASS_REASON_MIN });
    }
    const m = Number(values.minutes);
    if (values.minutes === "" || !Number.isInteger(m) || m < 1 || m > model.maxMinutes) {
        errors.minutes = t("dialog.minutesInvalid", { max: model.maxMinutes });
    }
    if (!model.modes.includes(values.mode)) {
        errors.mode = t("field.validation_in_invalid");
    }
    return errors;
}

/**
 * Starts the session through the hand-off, as the user of pb. Must run
 * synchronously inside the submit event. Resolves {ok, message} with the
 * text to flash; a refusal also has {err} and {fields}, the server's field
 * errors. The dialog stays open after a refusal, for another try.
 */
export function submit(model, values, pb) {
    const body = {
        collection: model.policy.collection,
        record: model.target.id,
        reason: String(values.reason || "").trim(),
        minutes: Number(values.minutes),
        mode: values.mode,
    };
    if (model.kind === "ask") {
        return impersonationApi(pb)
            .ask(body)
            .then(
                (r) => ({ ok: true, request: r, message: t("dialog.asked", { name: model.name }) }),
                (err) => ({
                    ok: false,
                    err,
                    message: t("dialog.askRefused", { message: errorText(err) }),
                    fields: fieldTexts(err),
                }),
            );
    }
    let started;
    try {
        started = openImpersonation({ pb, ...body, breakGlass: model.kind === "breakGlass" });
    } catch (err) {
        started = Promise.reject(err);
    }
    return started.then(
        ({ session }) => ({
            ok: true,
            message: t("dialog.started", { name: model.name, until: formatDate(session?.expires) }),
        }),
        (err) => {
            if (err instanceof HandoffError) {
                return { ok: false, err, message: t("handoff.err." + err.code), fields: {} };
            }
            return {
                ok: false,
                err,
                message: t("dialog.refused", { message: errorText(err) }),
                fields: fieldTexts(err),
            };
        },
    );
}
