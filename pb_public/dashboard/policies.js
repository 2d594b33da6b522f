// Policies tab: one impersonation_policies record per collection, edited
// through the records API; the plugin validates a policy (its collection,
// rule, route rules and masked fields, besides the fields' own limits) and
// the server's message for each field is shown next to it. The masked
// fields are chosen among the collections' real fields; a mask of a field
// or collection that does not exist (any more) is reported, in the table
// and in the editor.
import { L } from "./state.js";
import { POLICIES, flashError, flashSuccess, invalidatePolicies, notifyChanged } from "./api.js";
import { badge, cell, dialogKeys, errorMessage, listTable } from "./ui.js";

const FIELDS = [
    "collection",
    "enabled",
    "impersonatorRule",
    "consent",
    "reasonRequired",
    "maxMinutes",
    "modes",
    "attemptsPerMinute",
    "consentMaxHours",
    "deniedRoutes",
    "allowedRoutes",
    "showLiveSessions",
    "notifyTarget",
    "digestEmail",
    "maskedFields",
    "requestHours",
    "approval",
    "approverRule",
    "breakGlass",
    "breakGlassModes",
    "breakGlassMinutes",
    "oversightEmail",
];

const MODES = ["read", "write"];

export function policiesTab() {
    const uid = "imp_policies_" + app.utils.randomString();

    const data = store({
        items: [],
        isLoading: false,
        loaded: false,
    });

    async function load() {
        data.isLoading = true;
        try {
            data.items = await app.pb.collection(POLICIES).getFullList({ sort: "collection", requestKey: uid });
            data.isLoading = false;
            data.loaded = true;
        } catch (err) {
            if (!err?.isAbort) {
                data.isLoading = false;
                data.loaded = true;
                flashError(err);
            }
        }
    }

    const edit = (policy) =>
        openPolicyEditor(policy, data.items, () => {
            invalidatePolicies();
            notifyChanged();
            load();
        });

    return t.div(
        {
            className: "imp-tab imp-policies",
            "html-data-testid": "policies-tab",
            onmount: () => load(),
            onunmount: () => app.pb.cancelRequest(uid),
        },
        policiesToolbar(data, load, () => edit(null)),
        policiesTable(data, edit),
    );
}

/** The intro, Refresh and New policy (disabled once every auth collection has one). */
function policiesToolbar(data, load, onNew) {
    const allCovered = () => data.loaded && !freeCollections(data.items).length;
    return t.div(
        { className: "imp-toolbar" },
        t.p({ className: "txt-hint m-0 flex-fill" }, () => L("policies.intro")),
        app.components.refreshButton({
            tooltip: () => L("dash.refresh"),
            onclick: () => load(),
        }),
        t.button(
            {
                type: "button",
                className: "btn sm",
                "html-data-testid": "policies-new",
                disabled: () => !data.loaded || allCovered(),
                title: () => (allCovered() ? L("policies.allCovered") : ""),
                onclick: onNew,
            },
            t.i({ className: "ri-add-line", ariaHidden: true }),
            t.span({ className: "txt" }, () => L("policies.new")),
        ),
    );
}

function policiesTable(data, onEdit) {
    return t.div(
        { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
        listTable({
            name: "policies",
            data,
            heads: [
                ["ri-database-2-line", "col.collection"],
                ["ri-toggle-line", "policies.state"],
                ["ri-shield-user-line", "policies.rule"],
                ["ri-shield-check-line", "col.consent"],
                ["ri-timer-line", "policies.maxMinutes"],
                ["ri-eye-line", "policies.modes"],
                ["ri-eye-off-line", "policies.masked"],
            ],
            metaKey: "col.actions",
            emptyKey: "policies.empty",
            row: (p) => policyRow(p, onEdit),
        }),
    );
}

function policyRow(p, onEdit) {
    return t.tr(
        {
            rid: JSON.stringify(p),
            className: "imp-row",
            "html-data-testid": "policies-row",
            "html-data-collection": p.collection,
        },
        cell("col.collection", null, t.strong({ className: "txt-code" }, p.collection)),
        cell(
            "policies.state",
            null,
            badge(
                p.enabled ? "success" : "",
                () => L(p.enabled ? "policies.enabled" : "policies.disabled"),
                "policies-state",
            ),
        ),
        cell(
            "policies.rule",
            { className: "imp-col-path" },
            p.impersonatorRule
                ? t.span({ className: "imp-mono imp-path", title: p.impersonatorRule }, p.impersonatorRule)
                : t.span({ className: "txt-hint" }, () => L("policies.superusersOnly")),
        ),
        cell("col.consent", null, () => L(p.consent == "none" ? "consent.notRequired" : "policies.consentRequired")),
        cell("policies.maxMinutes", null, () => L("dash.minutes", { n: p.maxMinutes })),
        cell("policies.modes", null, () => (p.modes || []).map((m) => L("mode." + m)).join(", ")),
        cell("policies.masked", null, maskedSummary(p.maskedFields)),
        t.td(
            { className: "col-meta" },
            t.button(
                {
                    type: "button",
                    className: "btn sm secondary",
                    "html-data-testid": "policies-edit",
                    ariaLabel: () => L("policies.editFor", { collection: p.collection }),
                    onclick: () => onEdit(p),
                },
                t.i({ className: "ri-pencil-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("dash.edit")),
            ),
        ),
    );
}

/** Auth collections (not _superusers) without a policy yet. */
function freeCollections(policies) {
    return candidateCollections(policies, null);
}

/** Auth collections (not _superusers) a policy may be for: those without one, and keep's own. */
function candidateCollections(policies, keep) {
    const used = new Set(policies.map((p) => p.collection));
    return (app.store.collections || []).filter(
        (c) => c.type == "auth" && c.name != "_superusers" && (!used.has(c.name) || c.name == keep),
    );
}

function routesText(value) {
    if (!value) {
        return "";
    }
    if (typeof value == "string") {
        try {
            value = JSON.parse(value);
        } catch {
            return value;
        }
    }
    return Array.isArray(value) ? value.join("\n") : "";
}

function routesValue(text) {
    return text
        .split("\n")
        .map((l) => l.trim())
        .filter(Boolean);
}

const num = (v) => (v === "" || v == null ? null : Number(v));

/** The editor's values for policy (a new policy's defaults when null). */
function formValues(policy, candidates) {
    return {
        collection: policy?.collection || candidates[0]?.name || "",
        enabled: policy ? !!policy.enabled : true,
        impersonatorRule: policy?.impersonatorRule || "",
        consent: policy?.consent || "required",
        reasonRequired: policy ? !!policy.reasonRequired : true,
        maxMinutes: policy?.maxMinutes ?? 60,
        modes: policy?.modes?.length ? [...policy.modes] : [...MODES],
        attemptsPerMinute: policy?.attemptsPerMinute ?? 5,
        consentMaxHours: policy?.consentMaxHours ?? 168,
        deniedRoutes: routesText(policy?.deniedRoutes),
        allowedRoutes: routesText(policy?.allowedRoutes),
        showLiveSessions: policy ? !!policy.showLiveSessions : true,
        notifyTarget: policy ? !!policy.notifyTarget : true,
        digestEmail: policy ? !!policy.digestEmail : true,
        maskedFields: masksOf(policy?.maskedFields),
        requestHours: policy?.requestHours || 24,
        approval: policy?.approval || "user",
        approverRule: policy?.approverRule || "",
        breakGlass: policy ? !!policy.breakGlass : false,
        breakGlassModes: policy?.breakGlassModes?.length ? [...policy.breakGlassModes] : ["read"],
        breakGlassMinutes: policy?.breakGlassMinutes || 15,
        oversightEmail: policy?.oversightEmail || "",
    };
}

/** The records API body of the editor's values (the collection only when new or changed). */
function requestBody(form, policy) {
    const body = {
        enabled: form.enabled,
        impersonatorRule: form.impersonatorRule.trim(),
        consent: form.consent,
        reasonRequired: form.reasonRequired,
        maxMinutes: num(form.maxMinutes),
        modes: [...form.modes],
        attemptsPerMinute: num(form.attemptsPerMinute),
        consentMaxHours: num(form.consentMaxHours),
        deniedRoutes: routesValue(form.deniedRoutes),
        allowedRoutes: routesValue(form.allowedRoutes),
        showLiveSessions: form.showLiveSessions,
        notifyTarget: form.notifyTarget,
        digestEmail: form.digestEmail,
        maskedFields: masksOf(form.maskedFields),
        requestHours: num(form.requestHours),
        approval: form.approval,
        approverRule: form.approverRule.trim(),
        breakGlass: form.breakGlass,
        breakGlassModes: [...form.breakGlassModes],
        breakGlassMinutes: num(form.breakGlassMinutes),
        oversightEmail: form.oversightEmail.trim(),
    };
    if (!policy || form.collection != policy.collection) {
        body.collection = form.collection;
    }
    return body;
}

/** The server's field errors by field ("_other" for the rest), as text. */
function fieldErrors(err) {
    const errs = {};
    const fieldErrs = err?.response?.data || {};
    for (const k in fieldErrs) {
        errs[FIELDS.includes(k) ? k : "_other"] = errorMessage(fieldErrs[k]);
    }
    return errs;
}

/**
 * The edit (or create, when `policy` is null) dialog of one policy.
 */
export function openPolicyEditor(policy, existing, onSaved) {
    const candidates = candidateCollections(existing, policy?.collection);
    const ed = {
        uid: "imp_policy_" + app.utils.randomString(),
        policy,
        candidates,
        form: store(formValues(policy, candidates)),
        data: store({ saving: false, errors: {} }),
        modal: null,
    };
    ed.save = () => savePolicy(ed, onSaved);
    ed.modal = editorModal(ed);
    document.body.appendChild(ed.modal);
    app.modals.open(ed.modal);
}

async function savePolicy(ed, onSaved) {
    const { data, form, policy } = ed;
    if (data.saving) {
        return;
    }
    data.saving = true;
    data.errors = {};
    try {
        const body = requestBody(form, policy);
        if (policy) {
            await app.pb.collection(POLICIES).update(policy.id, body, { requestKey: null });
        } else {
            await app.pb.collection(POLICIES).create(body, { requestKey: null });
        }
        data.saving = false;
        flashSuccess(L("policies.saved", { collection: form.collection }));
        app.modals.close(ed.modal, true);
        onSaved?.();
    } catch (err) {
        data.saving = false;
        data.errors = fieldErrors(err);
        flashError(err);
        setTimeout(() => focusFirstError(ed.modal), 0);
    }
}

function focusFirstError(modal) {
    modal
        .querySelector(
            ".imp-has-error input, .imp-has-error select, .imp-has-error textarea, .imp-has-error [contenteditable]",
        )
        ?.focus();
}

function editorModal(ed) {
    const { uid, data, policy } = ed;
    return t.div(
        {
            className: "modal popup lg imp-policy-modal",
            role: "dialog",
            ariaModal: "true",
            "html-aria-labelledby": uid + "_title",
            "html-data-testid": "policy-dialog",
            onkeydown: dialogKeys,
            onbeforeclose: () => !data.saving,
            onafterclose: (el) => el?.remove(),
        },
        t.header(
            { className: "modal-header" },
            t.h5({ id: uid + "_title", className: "m-auto" }, () =>
                policy ? L("policies.editTitle", { collection: policy.collection }) : L("policies.newTitle"),
            ),
        ),
        t.form(
            {
                id: uid + "_form",
                className: "modal-content",
                noValidate: true,
                onsubmit: (e) => {
                    e.preventDefault();
                    ed.save();
                },
            },
            t.div({ className: "grid" }, ...editorFields(ed)),
        ),
        editorFooter(ed),
    );
}

/** The editor's fields, in order. */
function editorFields(ed) {
    return [
        collectionField(ed),
        switchField(ed, "enabled", "policies.enabled", "policies.enabledHelp"),
        ruleField(ed, "impersonatorRule", "policies.rule", "policies.ruleHelp"),
        selectField(ed, "consent", "col.consent", null, [
            ["required", "policies.consentRequired"],
            ["none", "consent.notRequired"],
        ]),
        switchField(ed, "reasonRequired", "policies.reasonRequired", null),
        modesField(ed, "modes", "policies.modes", "policies.modesHelp"),
        numberField(ed, "maxMinutes", "policies.maxMinutes", "policies.maxMinutesHelp", 1, 10080),
        numberField(ed, "consentMaxHours", "policies.consentMaxHours", "policies.consentMaxHoursHelp", 1, 8760),
        numberField(ed, "attemptsPerMinute", "policies.attemptsPerMinute", "policies.attemptsHelp", 1, 10000),
        routesField(ed, "deniedRoutes", "policies.deniedRoutes", "policies.deniedRoutesHelp"),
        routesField(ed, "allowedRoutes", "policies.allowedRoutes", "policies.allowedRoutesHelp"),
        switchField(ed, "showLiveSessions", "policies.showLiveSessions", "policies.showLiveSessionsHelp"),
        switchField(ed, "notifyTarget", "policies.notifyTarget", "policies.notifyTargetHelp"),
        switchField(ed, "digestEmail", "policies.digestEmail", "policies.digestEmailHelp"),
        maskedField(ed),
        // access by request and break-glass
        numberField(ed, "requestHours", "policies.requestHours", "policies.requestHoursHelp", 1, 720),
        selectField(ed, "approval", "policies.approval", "policies.approvalHelp", [
            ["user", "policies.approval_user"],
            ["approver", "policies.approval_approver"],
            ["both", "policies.approval_both"],
        ]),
        ruleField(ed, "approverRule", "policies.approverRule", "policies.approverRuleHelp"),
        switchField(ed, "breakGlass", "policies.breakGlass", "policies.breakGlassHelp"),
        numberField(ed, "breakGlassMinutes", "policies.breakGlassMinutes", "policies.breakGlassMinutesHelp", 1, 1440),
        modesField(ed, "breakGlassModes", "policies.breakGlassModes", "policies.breakGlassModesHelp"),
        emailField(ed, "oversightEmail", "policies.oversightEmail", "policies.oversightEmailHelp"),
        t.div({ className: "col-lg-12" }, errorLine(ed, "_other")),
    ];
}

function editorFooter(ed) {
    const { uid, data } = ed;
    return t.footer(
        { className: "modal-footer" },
        t.button(
            {
                type: "button",
                className: "btn transparent m-r-auto",
                disabled: () => data.saving,
                onclick: () => app.modals.close(ed.modal),
                "html-data-testid": "policy-cancel",
            },
            t.span({ className: "txt" }, () => L("common.cancel")),
        ),
        t.button(
            {
                type: "submit",
                "html-form": uid + "_form",
                className: () => `btn expanded ${data.saving ? "loading" : ""}`,
                disabled: () => data.saving,
                "html-data-testid": "policy-save",
            },
            t.span({ className: "txt" }, () => L("dash.save")),
        ),
    );
}

// ---------------------------------------------------------------------------
// The editor's fields: each takes the editor (ed: uid, form, data) and the
// name of its value in ed.form.

/** Sets a value and drops its error. */
function setValue(ed, name, value) {
    ed.form[name] = value;
    if (ed.data.errors[name]) {
        ed.data.errors = Object.assign({}, ed.data.errors, { [name]: "" });
    }
}

/** The server's message for the field, under it. */
function errorLine(ed, name) {
    return t.div(
        {
            className: "field-help error imp-field-error",
            hidden: () => !ed.data.errors[name],
            role: "alert",
            id: ed.uid + "_" + name + "_err",
            "html-data-testid": "policy-error-" + name,
        },
        () => ed.data.errors[name] || "",
    );
}

function help(key) {
    return key ? t.div({ className: "field-help" }, () => L(key)) : null;
}

/** A grid cell of the field `name`, marked while it has an error. */
function wrap(ed, name, cols, ...children) {
    return t.div({ className: () => `${cols} ${ed.data.errors[name] ? "imp-has-error" : ""}` }, ...children);
}

function fieldClass(ed, name) {
    return () => `field ${ed.data.errors[name] ? "error" : ""}`;
}

/** The attributes every control has: id, test id, its error's description. */
function controlAttrs(ed, name) {
    return {
        id: ed.uid + "_" + name,
        "html-data-testid": "policy-" + name,
        "html-aria-describedby": ed.uid + "_" + name + "_err",
        "html-aria-invalid": () => (ed.data.errors[name] ? "true" : undefined),
    };
}

function switchField(ed, name, labelKey, helpKey) {
    return wrap(
        ed,
        name,
        "col-lg-6",
        t.div(
            { className: fieldClass(ed, name) },
            t.input({
                ...controlAttrs(ed, name),
                type: "checkbox",
                className: "switch no-error",
                checked: () => !!ed.form[name],
                onchange: (e) => setValue(ed, name, e.target.checked),
            }),
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

function numberField(ed, name, labelKey, helpKey, min, max) {
    return wrap(
        ed,
        name,
        "col-lg-4",
        t.div(
            { className: fieldClass(ed, name) },
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
            t.input({
                ...controlAttrs(ed, name),
                type: "number",
                className: "no-error",
                min,
                max,
                step: 1,
                value: () => ed.form[name] ?? "",
                oninput: (e) => setValue(ed, name, e.target.value),
            }),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

function routesField(ed, name, labelKey, helpKey) {
    return wrap(
        ed,
        name,
        "col-lg-6",
        t.div(
            { className: fieldClass(ed, name) },
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
            t.textarea({
                ...controlAttrs(ed, name),
                className: "no-error txt-code",
                rows: 4,
                spellcheck: false,
                placeholder: name == "deniedRoutes" ? "POST /api/billing/*" : "POST /api/collections/notes/records",
                value: () => ed.form[name],
                oninput: (e) => setValue(ed, name, e.target.value),
            }),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

/** The collection: a choice among the free auth collections, fixed once saved. */
function collectionField(ed) {
    const { form, candidates } = ed;
    const listed = candidates.some((c) => c.name == form.collection) || !form.collection;
    return wrap(
        ed,
        "collection",
        "col-lg-6",
        t.div(
            { className: fieldClass(ed, "collection") },
            t.label({ htmlFor: ed.uid + "_collection" }, () => L("col.collection")),
            t.select(
                {
                    ...controlAttrs(ed, "collection"),
                    className: "no-error",
                    disabled: !!ed.policy,
                    onchange: (e) => setValue(ed, "collection", e.target.value),
                },
                ...(listed ? [] : [t.option({ value: form.collection, selected: true }, form.collection)]),
                ...candidates.map((c) =>
                    t.option({ value: c.name, selected: () => form.collection == c.name }, c.name),
                ),
            ),
        ),
        errorLine(ed, "collection"),
    );
}

/** A rule (the impersonator's, the approver's) in the dashboard's rule editor (autocomplete on the target collection). */
function ruleField(ed, name, labelKey, helpKey) {
    const targetCollection = () => app.store.collections?.find((c) => c.name == ed.form.collection);
    return wrap(
        ed,
        name,
        "col-lg-12",
        t.div(
            { className: fieldClass(ed, name) },
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
            app.components.codeEditor({
                id: ed.uid + "_" + name,
                language: "pbrule",
                className: "no-error imp-rule-editor",
                placeholder: () => L("policies.rulePlaceholder"),
                value: () => ed.form[name],
                autocomplete: (word) => app.utils.collectionAutocompleteKeys?.(targetCollection(), word) || [],
                oninput: (val) => setValue(ed, name, val),
            }),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

function emailField(ed, name, labelKey, helpKey) {
    return wrap(
        ed,
        name,
        "col-lg-6",
        t.div(
            { className: fieldClass(ed, name) },
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
            t.input({
                ...controlAttrs(ed, name),
                type: "email",
                className: "no-error",
                value: () => ed.form[name] ?? "",
                oninput: (e) => setValue(ed, name, e.target.value),
            }),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

/** A choice of field name among options ([value, label key]). */
function selectField(ed, name, labelKey, helpKey, options) {
    return wrap(
        ed,
        name,
        "col-lg-6",
        t.div(
            { className: fieldClass(ed, name) },
            t.label({ htmlFor: ed.uid + "_" + name }, () => L(labelKey)),
            t.select(
                {
                    ...controlAttrs(ed, name),
                    className: "no-error",
                    onchange: (e) => setValue(ed, name, e.target.value),
                },
                ...options.map(([value, key]) =>
                    t.option({ value, selected: () => ed.form[name] == value }, () => L(key)),
                ),
            ),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

/** One checkbox per mode, for the modes field `name` (modes, breakGlassModes). */
function modesField(ed, name, legendKey, helpKey) {
    const prefix = name == "modes" ? "mode" : name;
    const toggle = (m, on) => {
        const set = new Set(ed.form[name]);
        on ? set.add(m) : set.delete(m);
        setValue(
            ed,
            name,
            MODES.filter((x) => set.has(x)),
        );
    };
    return wrap(
        ed,
        name,
        "col-lg-12",
        t.fieldset(
            {
                className: "imp-modes",
                "html-data-testid": "policy-" + name,
                "html-aria-describedby": ed.uid + "_" + name + "_err",
            },
            t.legend({ className: "imp-legend" }, () => L(legendKey)),
            ...MODES.map((m) =>
                t.div(
                    { className: "field" },
                    t.input({
                        type: "checkbox",
                        id: ed.uid + "_" + prefix + "_" + m,
                        className: "no-error",
                        "html-data-testid": "policy-" + prefix + "-" + m,
                        checked: () => ed.form[name].includes(m),
                        onchange: (e) => toggle(m, e.target.checked),
                    }),
                    t.label({ htmlFor: ed.uid + "_" + prefix + "_" + m }, () => L("mode." + m)),
                ),
            ),
        ),
        help(helpKey),
        errorLine(ed, name),
    );
}

// ---------------------------------------------------------------------------
// Masked fields: {collection: [field, ...]}, hidden while impersonating.

/** A copy of a policy's masks without empty lists ({} for none). */
function masksOf(value) {
    const out = {};
    if (value && typeof value == "object" && !Array.isArray(value)) {
        for (const [c, fields] of Object.entries(value)) {
            if (Array.isArray(fields) && fields.length) {
                out[c] = fields.map(String);
            }
        }
    }
    return out;
}

/** The collection of the dashboard's store named exactly `name`, or undefined. */
function collectionNamed(name) {
    return (app.store.collections || []).find((c) => c.name == name);
}

/** The fields of a collection a mask may name: all but the id and the secrets PocketBase never serves. */
function maskableFields(collection) {
    return (collection?.fields || [])
        .map((f) => f.name)
        .filter((name) => !["id", "password", "tokenKey"].includes(name));
}

/** The masks that hide nothing: of a collection or a field that does not exist (any more). */
function unknownMasks(masked) {
    const out = [];
    for (const [name, fields] of Object.entries(masksOf(masked))) {
        const c = collectionNamed(name);
        for (const field of fields) {
            if (!c?.fields?.some((f) => f.name == field)) {
                out.push({ collection: name, field, missing: !c });
            }
        }
    }
    return out;
}

/** The table's cell: how many fields are masked, and how many masks hide nothing. */
function maskedSummary(value) {
    const masked = masksOf(value);
    const n = Object.values(masked).reduce((sum, fields) => sum + fields.length, 0);
    const unknown = unknownMasks(masked).length;
    const names = Object.entries(masked)
        .flatMap(([c, fields]) => fields.map((f) => c + "." + f))
        .join(", ");
    return t.div(
        { className: "imp-stack", "html-data-testid": "policies-masked", title: names },
        t.span({ className: n ? "" : "txt-hint" }, () =>
            n ? L("policies.maskedCount", { n }) : L("policies.maskedNone"),
        ),
        unknown ? badge("warning", () => L("policies.maskedUnknown", { n: unknown }), "policies-masked-unknown") : null,
    );
}

/** The editor's masks: one block per masked collection, and a choice of a collection to add. */
function maskedField(ed) {
    return wrap(
        ed,
        "maskedFields",
        "col-lg-12",
        t.fieldset(
            {
                className: "imp-masks",
                "html-data-testid": "policy-maskedFields",
                "html-aria-describedby": ed.uid + "_maskedFields_err",
            },
            t.legend({ className: "imp-legend" }, () => L("policies.masked")),
            () =>
                Object.keys(ed.form.maskedFields)
                    .sort()
                    .map((name) => maskedCollection(ed, name)),
            addMaskedCollection(ed),
        ),
        help("policies.maskedHelp"),
        errorLine(ed, "maskedFields"),
    );
}

/** Sets the masks of one collection (null: none). */
function setMasked(ed, name, fields) {
    const next = Object.assign({}, ed.form.maskedFields);
    if (fields) {
        next[name] = fields;
    } else {
        delete next[name];
    }
    setValue(ed, "maskedFields", next);
}

/** The block of one masked collection: a checkbox per field, and what hides nothing. */
function maskedCollection(ed, name) {
    const collection = collectionNamed(name);
    const masked = () => ed.form.maskedFields[name] || [];
    const toggle = (field, on) => setMasked(ed, name, on ? [...masked(), field] : masked().filter((f) => f != field));
    return t.div(
        { rid: "mask_" + name, className: "imp-mask", "html-data-testid": "policy-mask", "html-data-collection": name },
        t.div(
            { className: "imp-mask-head" },
            t.strong({ className: "txt-code" }, name),
            t.button(
                {
                    type: "button",
                    className: "btn sm secondary transparent",
                    ariaLabel: () => L("policies.maskedRemove", { collection: name }),
                    "html-data-testid": "policy-mask-remove",
                    onclick: () => setMasked(ed, name, null),
                },
                t.i({ className: "ri-close-line", ariaHidden: true }),
            ),
        ),
        t.div(
            {
                className: "imp-mask-fields",
                role: "group",
                ariaLabel: () => L("policies.maskedFieldsOf", { collection: name }),
            },
            ...maskableFields(collection).map((field) => {
                const id = ed.uid + "_mask_" + name + "_" + field;
                return t.div(
                    { className: "field" },
                    t.input({
                        type: "checkbox",
                        id,
                        className: "no-error",
                        "html-data-testid": "policy-mask-field",
                        "html-data-field": field,
                        checked: () => masked().includes(field),
                        onchange: (e) => toggle(field, e.target.checked),
                    }),
                    t.label({ htmlFor: id, className: "txt-code" }, field),
                );
            }),
        ),
        () =>
            unknownMasks({ [name]: masked() }).map((u) =>
                t.div(
                    {
                        rid: "unknown_" + u.field,
                        className: "imp-mask-unknown",
                        "html-data-testid": "policy-mask-unknown",
                    },
                    t.i({ className: "ri-error-warning-line", ariaHidden: true }),
                    t.span(null, () =>
                        u.missing
                            ? L("policies.maskedUnknownCollection", { collection: u.collection })
                            : L("policies.maskedUnknownField", { collection: u.collection, field: u.field }),
                    ),
                    t.button(
                        {
                            type: "button",
                            className: "btn sm secondary",
                            "html-data-testid": "policy-mask-drop",
                            onclick: () => toggle(u.field, false),
                        },
                        t.span({ className: "txt" }, () => L("policies.maskedDrop")),
                    ),
                ),
            ),
    );
}

/** A choice among the collections not masked yet; choosing one adds its block. */
function addMaskedCollection(ed) {
    const free = () =>
        (app.store.collections || []).filter((c) => !c.system && !(c.name in ed.form.maskedFields)).map((c) => c.name);
    return t.div(
        { className: "field imp-mask-add" },
        t.select(
            {
                id: ed.uid + "_mask_add",
                className: "no-error",
                ariaLabel: () => L("policies.maskedAdd"),
                "html-data-testid": "policy-mask-add",
                onchange: (e) => {
                    const name = e.target.value;
                    e.target.value = "";
                    if (name) {
                        setMasked(ed, name, []);
                    }
                },
            },
            t.option({ value: "", selected: true }, () => L("policies.maskedAdd") + "…"),
            () => free().map((name) => t.option({ rid: name, value: name }, name)),
        ),
    );
}
