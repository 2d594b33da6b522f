// The Impersonate dialog: "You will temporarily act as NAME and have their
// permissions", a reason, a duration and a mode, then the hand-off of
// /impersonation/lib/handoff.js: the product opens in a new tab logged in as
// the user while the dashboard keeps its own login. Used by the Users tab
// and by the dashboard's records view.
import { L, fmtDate, msLeft } from "./state.js";
import {
    collectionName,
    flashError,
    flashSuccess,
    loadPolicies,
    notifyChanged,
    rememberPerson,
    resolvePeople,
} from "./api.js";
import { errorMessage, personText, dialogKeys } from "./ui.js";

let handoffModule = null;

function loadHandoff() {
    if (!handoffModule) {
        handoffModule = import(new URL(app.pb.buildURL("/impersonation/lib/handoff.js"), window.location.href).href).catch((err) => {
            handoffModule = null;
            throw err;
        });
    }
    return handoffModule;
}

/**
 * Fetches what the dialog needs about a target from the plugin's targets
 * route (consent and live session), falling back to the record itself.
 */
async function loadTarget(collection, id) {
    try {
        const res = await app.pb.send("/api/impersonation/targets", {
            query: { collection, search: id, page: 1, perPage: 100 },
            requestKey: null,
        });
        const found = res?.items?.find((i) => i.id == id);
        if (found) {
            return found;
        }
    } catch (err) {
        if (err?.status == 401) {
            throw err;
        }
        // 403/404: the start route gives the real answer
    }
    const rec = await app.pb.collection(collection).getOne(id, { requestKey: null });
    return { id: rec.id, collectionId: rec.collectionId, collectionName: rec.collectionName, email: rec.email, name: rec.name };
}

/**
 * Opens the dialog for one record of a policy collection.
 *
 * @param {Object} opts
 * @param {string} opts.collection  collection name or id
 * @param {string} opts.id          record id
 * @param {Object} [opts.target]    an item of GET /api/impersonation/targets, if at hand
 */
export async function openImpersonateDialog({ collection, id, target = null }) {
    let cache, handoff;
    const name = collectionName(collection);
    try {
        [cache, handoff] = await Promise.all([loadPolicies(), loadHandoff()]);
        if (!target) {
            target = await loadTarget(name, id);
        }
    } catch (err) {
        flashError(err);
        return;
    }

    const policy = cache.enabled.get(name);
    if (!policy) {
        const disabled = cache.records.some((r) => r.collection == name);
        app.toasts.error(L(disabled ? "dash.imp.policyDisabled" : "dash.imp.noPolicy", { collection: name }), {
            duration: 6000,
        });
        return;
    }

    rememberPerson(target.collectionId, target);
    if (target.liveSession?.actor) {
        // the actor of a live session is named in the dialog
        resolvePeople([[app.store.superuser?.collectionId, target.liveSession.actor]]).catch(() => {});
    }

    const displayName = target.name || target.email || target.id;
    const modes = policy.modes?.length ? policy.modes : ["read"];
    const uid = "imp_" + app.utils.randomString();

    const data = store({
        reason: "",
        minutes: policy.maxMinutes || 60,
        mode: modes.includes(policy.defaultMode) ? policy.defaultMode : modes[0],
        busy: false,
        errors: {},
    });

    function validate() {
        const errors = {};
        if (policy.reasonRequired && !data.reason.trim()) {
            errors.reason = L("dash.imp.reasonRequired");
        }
        const m = Number(data.minutes);
        if (!Number.isInteger(m) || m < 1 || m > policy.maxMinutes) {
            errors.minutes = L("dash.imp.minutesRange", { max: policy.maxMinutes });
        }
        data.errors = errors;
        return !Object.keys(errors).length;
    }

    // Runs inside the submit event of the user's click or Enter key:
    // openImpersonation calls window.open before anything else, so popup
    // blockers let the new tab through.
    function submit(e) {
        e.preventDefault();
        if (data.busy) {
            return;
        }
        if (!validate()) {
            const first = data.errors.reason ? "_reason" : "_minutes";
            document.getElementById(uid + first)?.focus();
            return;
        }
        data.busy = true;
        let started;
        try {
            started = handoff.openImpersonation({
                pb: app.pb,
                collection: name,
                record: target.id,
                reason: data.reason.trim(),
                minutes: Number(data.minutes),
                mode: data.mode,
            });
        } catch (err) {
            started = Promise.reject(err);
        }
        Promise.resolve(started).then(
            () => {
                data.busy = false;
                flashSuccess(L("dash.imp.started", { name: displayName }));
                app.modals.close(modal, true);
                notifyChanged();
            },
            (err) => {
                data.busy = false;
                const fieldErrs = err?.response?.data || {};
                const errors = {};
                for (const k of ["reason", "minutes", "mode"]) {
                    if (fieldErrs[k]) {
                        errors[k] = errorMessage(fieldErrs[k]);
                    }
                }
                data.errors = errors;
                flashError(err, "dash.imp.failed");
                notifyChanged(); // the refusal is in the audit
            },
        );
    }

    const consent = target.consent || null;

    const modal = t.div(
        {
            className: "modal popup imp-dialog",
            role: "dialog",
            ariaModal: "true",
            "html-aria-labelledby": uid + "_title",
            "html-data-testid": "imp-dialog",
            onkeydown: dialogKeys,
            onbeforeclose: () => !data.busy,
            onafterclose: (el) => el?.remove(),
        },
        t.header(
            { className: "modal-header" },
            t.h5({ id: uid + "_title", className: "m-auto" }, () => L("dash.imp.title")),
        ),
        t.form(
            {
                id: uid + "_form",
                className: "modal-content",
                onsubmit: submit,
                noValidate: true,
            },
            t.div(
                { className: "alert warning imp-confirm", "html-data-testid": "imp-confirm-text" },
                t.i({ className: "ri-spy-line txt-lg", ariaHidden: true }),
                t.div(
                    { className: "content" },
                    t.p(null, () => L("dash.imp.confirm", { name: displayName })),
                    target.email && target.email != displayName
                        ? t.small({ className: "txt-hint" }, target.email)
                        : null,
                ),
            ),
            // consent and live session
            t.div(
                { className: "imp-target-facts", "html-data-testid": "imp-consent" },
                () => {
                    if (!consent || !consent.required) {
                        return t.span({ className: "label sm info" }, () => L("dash.consent.notRequired"));
                    }
                    if (consent.active) {
                        return t.span(
                            { className: "label sm success" },
                            () => L("dash.consent.activeUntil", { date: fmtDate(consent.expires) }),
                        );
                    }
                    return t.span({ className: "label sm danger" }, () => L("dash.imp.noConsent"));
                },
                () => {
                    const live = target.liveSession;
                    if (!live || msLeft(live.expires) <= 0) {
                        return null;
                    }
                    return t.span(
                        { className: "label sm warning", "html-data-testid": "imp-live" },
                        () => L("dash.imp.liveBy", {
                            actor: live.actorName || personText(app.store.superuser?.collectionId, live.actor),
                            date: fmtDate(live.expires),
                        }),
                    );
                },
            ),
            t.div(
                { className: "grid sm" },
                t.div(
                    { className: "col-12" },
                    t.div(
                        { className: "field" },
                        t.label(
                            { htmlFor: uid + "_reason" },
                            t.span({ className: "txt" }, () => L("dash.imp.reason")),
                            t.small(
                                { className: "txt-hint" },
                                () => L(policy.reasonRequired ? "dash.field.required" : "dash.field.optional"),
                            ),
                        ),
                        t.textarea({
                            id: uid + "_reason",
                            name: "reason",
                            className: "no-error",
                            rows: 2,
                            maxLength: 1000,
                            autofocus: true,
                            required: policy.reasonRequired,
                            placeholder: () => L("dash.imp.reasonPlaceholder"),
                            "html-data-testid": "imp-reason",
                            "html-data-error": () => (data.errors.reason ? "true" : undefined),
                            "html-aria-invalid": () => (data.errors.reason ? "true" : undefined),
                            "html-aria-describedby": uid + "_reason_err",
                            value: () => data.reason,
                            oninput: (e) => {
                                data.reason = e.target.value;
                                if (data.errors.reason) {
                                    data.errors = Object.assign({}, data.errors, { reason: "" });
                                }
                            },
                        }),
                    ),
                    t.div(
                        {
                            id: uid + "_reason_err",
                            className: "field-help error",
                            hidden: () => !data.errors.reason,
                            role: "alert",
                            "html-data-testid": "imp-error-reason",
                        },
                        () => data.errors.reason || "",
                    ),
                ),
                t.div(
                    { className: "col-sm-6" },
                    t.div(
                        { className: "field" },
                        t.label({ htmlFor: uid + "_minutes" }, () => L("dash.imp.minutes")),
                        t.input({
                            id: uid + "_minutes",
                            type: "number",
                            name: "minutes",
                            className: "no-error",
                            min: 1,
                            max: policy.maxMinutes,
                            step: 1,
                            required: true,
                            "html-data-testid": "imp-minutes",
                            "html-data-error": () => (data.errors.minutes ? "true" : undefined),
                            "html-aria-invalid": () => (data.errors.minutes ? "true" : undefined),
                            "html-aria-describedby": uid + "_minutes_help",
                            value: () => data.minutes,
                            oninput: (e) => {
                                data.minutes = e.target.value === "" ? "" : Number(e.target.value);
                            },
                        }),
                    ),
                    t.div(
                        {
                            id: uid + "_minutes_help",
                            className: () => `field-help ${data.errors.minutes ? "error" : ""}`,
                            "html-data-testid": "imp-error-minutes",
                        },
                        () => data.errors.minutes || L("dash.imp.minutesHelp", { max: policy.maxMinutes }),
                    ),
                ),
                t.div(
                    { className: "col-sm-6" },
                    t.div(
                        { className: "field" },
                        t.label({ htmlFor: uid + "_mode" }, () => L("dash.imp.mode")),
                        t.select(
                            {
                                id: uid + "_mode",
                                name: "mode",
                                className: "no-error",
                                "html-data-testid": "imp-mode",
                                disabled: modes.length < 2,
                                onchange: (e) => (data.mode = e.target.value),
                            },
                            ...modes.map((m) =>
                                t.option(
                                    { value: m, selected: () => data.mode == m },
                                    () => L("dash.mode." + m),
                                )
                            ),
                        ),
                    ),
                    t.div(
                        { className: "field-help", "html-data-testid": "imp-error-mode" },
                        () => data.errors.mode || L(data.mode == "write" ? "dash.mode.writeHelp" : "dash.mode.readHelp"),
                    ),
                ),
            ),
        ),
        t.footer(
            { className: "modal-footer" },
            t.button(
                {
                    type: "button",
                    className: "btn transparent m-r-auto",
                    disabled: () => data.busy,
                    onclick: () => app.modals.close(modal),
                    "html-data-testid": "imp-cancel",
                },
                t.span({ className: "txt" }, () => L("dash.cancel")),
            ),
            t.button(
                {
                    type: "submit",
                    "html-form": uid + "_form",
                    className: () => `btn warning expanded-lg ${data.busy ? "loading" : ""}`,
                    disabled: () => data.busy,
                    "html-data-testid": "imp-submit",
                },
                t.i({ className: "ri-external-link-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("dash.imp.submit")),
            ),
        ),
    );

    document.body.appendChild(modal);
    app.modals.open(modal);
}
