// The Impersonate dialog inside the dashboard: the UI core's dialog model
// (lib/impersonate.js: controls, defaults, validation, the hand-off) drawn
// with PocketBase's own toolkit. The support console draws the same model
// with the pages' renderer. Used by the Users tab and the records view.
import { lib, ui } from "./state.js";
import {
    collectionName,
    flashError,
    flashSuccess,
    loadPolicies,
    notifyChanged,
    rememberPerson,
    resolvePeople,
} from "./api.js";
import { dialogKeys, personText } from "./ui.js";

const { IDS } = lib.impersonate;

/**
 * What the dialog needs about a target, from the plugin's targets route
 * (consent and live session), else from the record itself.
 */
async function loadTarget(collection, id) {
    try {
        const res = await lib.api.targets({ collection, search: id, page: 1, perPage: 100 });
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
    return {
        id: rec.id,
        collectionId: rec.collectionId,
        collectionName: rec.collectionName,
        email: rec.email,
        name: rec.name,
    };
}

/**
 * Opens the dialog for one record of a policy collection.
 *
 * @param {Object} opts
 * @param {string} opts.collection  collection name or id
 * @param {string} opts.id          record id
 * @param {Object} [opts.target]    an item of GET /api/impersonation/targets, if at hand
 * @param {string} [opts.kind]      "start" (the default), "ask" or "breakGlass" (see lib/impersonate.js)
 */
export async function openImpersonateDialog({ collection, id, target = null, kind = "start" }) {
    const name = collectionName(collection);
    let cache;
    try {
        cache = await loadPolicies();
        target = target || (await loadTarget(name, id));
    } catch (err) {
        flashError(err);
        return;
    }
    const policy = cache.enabled.get(name);
    if (!policy) {
        const disabled = cache.records.some((r) => r.collection == name);
        app.toasts.error(lib.i18n.t(disabled ? "dialog.policyDisabled" : "dialog.noPolicy", { collection: name }), {
            duration: 6000,
        });
        return;
    }
    rememberPerson(target.collectionId, target);
    if (target.liveSession?.actor) {
        // the actor of a live session is named in the dialog
        resolvePeople([[app.store.superuser?.collectionId, target.liveSession.actor]]).catch(() => {});
    }
    showDialog(lib.impersonate.impersonateModel(policy, target, kind));
}

/** Builds and opens the modal for model. */
function showDialog(model) {
    const data = store({ ...model.initial, busy: false, errors: {} });
    // the texts, following the language (and the people's names as they load)
    const texts = () => {
        ui.lang;
        return lib.impersonate.dialogTexts(
            model,
            (live) => live.actorName || personText(app.store.superuser?.collectionId, live.actor),
        );
    };
    const close = () => app.modals.close(modal);
    const onSubmit = (e) => submit(e, model, data, () => app.modals.close(modal, true));

    const modal = t.div(
        {
            className: "modal popup imp-dialog",
            role: "dialog",
            ariaModal: "true",
            "html-aria-labelledby": IDS.title,
            "html-data-testid": "imp-dialog",
            onkeydown: dialogKeys,
            onbeforeclose: () => !data.busy,
            onafterclose: (el) => el?.remove(),
        },
        t.header(
            { className: "modal-header" },
            t.h5({ id: IDS.title, className: "m-auto" }, () => texts().title),
        ),
        t.form(
            { id: IDS.form, className: "modal-content", onsubmit: onSubmit, noValidate: true },
            confirmView(model, texts),
            t.div(
                { className: "grid sm" },
                reasonField(model, data, texts),
                minutesField(model, data, texts),
                modeField(model, data, texts),
            ),
        ),
        footer(model, data, texts, close),
    );
    document.body.appendChild(modal);
    app.modals.open(modal);
}

/** "You will temporarily act as NAME", the consent and the live session. */
function confirmView(model, texts) {
    const approved = model.kind == "start" && lib.impersonate.approvedRequest(model.target);
    const kind = approved
        ? "success"
        : { missing: "danger", given: "success", "not-required": "info" }[lib.impersonate.consentState(model)];
    return t.div(
        { className: "alert warning imp-confirm" },
        t.i({ className: "ri-spy-line txt-lg", ariaHidden: true }),
        t.div(
            { className: "content" },
            t.p({ "html-data-testid": "imp-confirm" }, () => texts().confirm),
            model.email ? t.small({ className: "txt-hint imp-break" }, model.email) : null,
            t.div(
                { className: "imp-target-facts" },
                t.span({ className: `label sm ${kind}`, "html-data-testid": "imp-consent" }, () => texts().consent),
                () =>
                    texts().live
                        ? t.span({ className: "label sm warning", "html-data-testid": "imp-live" }, () => texts().live)
                        : null,
            ),
        ),
    );
}

/** The error under a field, announced when it appears. */
function errorLine(id, testid, text) {
    return t.div(
        { id, className: "field-help error", hidden: () => !text(), role: "alert", "html-data-testid": testid },
        () => text() || "",
    );
}

function reasonField(model, data, texts) {
    return t.div(
        { className: "col-12" },
        t.div(
            { className: "field" },
            t.label(
                { htmlFor: IDS.reason },
                t.span({ className: "txt" }, () => texts().reason),
                t.small({ className: "txt-hint" }, () => texts().reasonHint),
            ),
            t.textarea({
                id: IDS.reason,
                name: "reason",
                className: "no-error",
                rows: 2,
                maxLength: lib.impersonate.REASON_MAX_LENGTH,
                autofocus: true,
                // said once, in words ("(required)"): the dashboard's CSS would add a "*" for `required`
                "html-aria-required": model.reasonRequired ? "true" : undefined,
                placeholder: () => texts().reasonPlaceholder,
                "html-data-testid": "imp-reason",
                "html-aria-invalid": () => (data.errors.reason ? "true" : undefined),
                "html-aria-describedby": IDS.reason + "-help " + IDS.reasonError,
                value: () => data.reason,
                oninput: (e) => {
                    data.reason = e.target.value;
                    if (data.errors.reason) {
                        data.errors = { ...data.errors, reason: "" };
                    }
                },
            }),
        ),
        t.div({ id: IDS.reason + "-help", className: "field-help" }, () => texts().reasonHelp),
        errorLine(IDS.reasonError, "imp-error-reason", () => data.errors.reason),
    );
}

function minutesField(model, data, texts) {
    return t.div(
        { className: "col-12" },
        t.div(
            { className: "field" },
            t.label({ htmlFor: IDS.minutes }, () => texts().minutes),
            t.input({
                id: IDS.minutes,
                type: "number",
                name: "minutes",
                className: "no-error",
                min: 1,
                max: model.maxMinutes,
                step: 1,
                "html-aria-required": "true",
                "html-inputmode": "numeric",
                "html-data-testid": "imp-minutes",
                "html-aria-invalid": () => (data.errors.minutes ? "true" : undefined),
                "html-aria-describedby": IDS.minutes + "-help " + IDS.minutesError,
                value: () => data.minutes,
                oninput: (e) => (data.minutes = e.target.value),
            }),
        ),
        t.div({ id: IDS.minutes + "-help", className: "field-help" }, () => texts().minutesHelp),
        errorLine(IDS.minutesError, "imp-error-minutes", () => data.errors.minutes),
    );
}

function modeField(model, data, texts) {
    return t.div(
        { className: "col-12" },
        t.fieldset(
            { className: "imp-choices" },
            t.legend(null, () => texts().mode),
            ...model.modes.map((m) =>
                t.label(
                    { className: "imp-choice", htmlFor: IDS.mode(m) },
                    t.input({
                        type: "radio",
                        name: "imp-mode",
                        id: IDS.mode(m),
                        value: m,
                        checked: () => data.mode == m,
                        "html-data-testid": IDS.mode(m),
                        onchange: () => (data.mode = m),
                    }),
                    t.span(
                        { className: "imp-choice-text" },
                        t.span({ className: "txt" }, () => texts().modeLabel(m)),
                        t.small({ className: "txt-hint" }, () => texts().modeHelp(m)),
                    ),
                ),
            ),
        ),
        errorLine(IDS.modeError, "imp-error-mode", () => data.errors.mode),
    );
}

function footer(model, data, texts, close) {
    return t.footer(
        { className: "modal-footer" },
        t.button(
            {
                type: "button",
                className: "btn transparent m-r-auto",
                disabled: () => data.busy,
                onclick: close,
                "html-data-testid": "imp-cancel",
            },
            t.span({ className: "txt" }, () => texts().cancel),
        ),
        t.button(
            {
                type: "submit",
                "html-form": IDS.form,
                className: () =>
                    `btn ${model.kind == "breakGlass" ? "danger" : "warning"} expanded-lg ${data.busy ? "loading" : ""}`,
                disabled: () => data.busy,
                "html-data-testid": "imp-submit",
            },
            t.i({ className: model.kind == "ask" ? "ri-mail-send-line" : "ri-external-link-line", ariaHidden: true }),
            t.span({ className: "txt" }, () => texts().submit),
        ),
    );
}

// Runs inside the submit event of the user's click or Enter key: the
// hand-off calls window.open before anything else, so popup blockers let
// the new tab through.
function submit(e, model, data, done) {
    e.preventDefault();
    if (data.busy) {
        return;
    }
    const values = { reason: data.reason, minutes: data.minutes, mode: data.mode };
    const errors = lib.impersonate.validate(model, values);
    data.errors = errors;
    const first = lib.impersonate.FIELDS.find((f) => errors[f]);
    if (first) {
        document.getElementById(first == "mode" ? IDS.mode(data.mode) : IDS[first])?.focus();
        return;
    }
    data.busy = true;
    lib.impersonate.submit(model, values, app.pb).then((res) => {
        data.busy = false;
        notifyChanged(); // a start or a refusal: both are in the audit
        if (res.ok) {
            flashSuccess(res.message);
            done();
            return;
        }
        data.errors = res.fields;
        flashError(res.err, res.message);
    });
}
