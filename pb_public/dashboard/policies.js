// Policies tab: one impersonation_policies record per collection, edited
// through the records API; the plugin validates a policy (its collection,
// rule and route rules, besides the fields' own limits) and the server's
// message for each field is shown next to it.
import { L } from "./state.js";
import { POLICIES, flashError, flashSuccess, invalidatePolicies, notifyChanged } from "./api.js";
import { badge, cell, emptyRow, errorMessage, head, dialogKeys } from "./ui.js";

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
];

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

    function onSaved() {
        invalidatePolicies();
        notifyChanged();
        load();
    }

    return t.div(
        {
            className: "imp-tab imp-policies",
            "html-data-testid": "policies-tab",
            onmount: () => load(),
            onunmount: () => app.pb.cancelRequest(uid),
        },
        t.div(
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
                    // every auth collection has its policy already
                    disabled: () => !data.loaded || !freeCollections(data.items).length,
                    title: () => (data.loaded && !freeCollections(data.items).length ? L("policies.allCovered") : ""),
                    onclick: () => openPolicyEditor(null, data.items, onSaved),
                },
                t.i({ className: "ri-add-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("policies.new")),
            ),
        ),
        t.div(
            { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
            t.table(
                { className: "responsive-table imp-table" },
                t.thead(
                    null,
                    t.tr(
                        null,
                        head("ri-database-2-line", "col.collection"),
                        head("ri-toggle-line", "policies.state"),
                        head("ri-shield-user-line", "policies.rule"),
                        head("ri-shield-check-line", "col.consent"),
                        head("ri-timer-line", "policies.maxMinutes"),
                        head("ri-eye-line", "policies.modes"),
                        t.th(
                            { className: "col-meta" },
                            t.span({ className: "imp-sr-only" }, () => L("col.actions")),
                        ),
                    ),
                ),
                t.tbody({ "html-data-testid": "policies-rows" }, () => {
                    if (!data.items.length) {
                        return emptyRow(() => data.isLoading || !data.loaded, "policies.empty");
                    }
                    return data.items.map((p) =>
                        t.tr(
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
                                    ? t.span(
                                          { className: "imp-mono imp-path", title: p.impersonatorRule },
                                          p.impersonatorRule,
                                      )
                                    : t.span({ className: "txt-hint" }, () => L("policies.superusersOnly")),
                            ),
                            cell("col.consent", null, () =>
                                L(p.consent == "none" ? "consent.notRequired" : "policies.consentRequired"),
                            ),
                            cell("policies.maxMinutes", null, () => L("dash.minutes", { n: p.maxMinutes })),
                            cell("policies.modes", null, () => (p.modes || []).map((m) => L("mode." + m)).join(", ")),
                            t.td(
                                { className: "col-meta" },
                                t.button(
                                    {
                                        type: "button",
                                        className: "btn sm secondary",
                                        "html-data-testid": "policies-edit",
                                        ariaLabel: () => L("policies.editFor", { collection: p.collection }),
                                        onclick: () => openPolicyEditor(p, data.items, onSaved),
                                    },
                                    t.i({ className: "ri-pencil-line", ariaHidden: true }),
                                    t.span({ className: "txt" }, () => L("dash.edit")),
                                ),
                            ),
                        ),
                    );
                }),
            ),
        ),
    );
}

/** Auth collections (not _superusers) without a policy yet. */
function freeCollections(policies) {
    const used = new Set(policies.map((p) => p.collection));
    return (app.store.collections || []).filter(
        (c) => c.type == "auth" && c.name != "_superusers" && !used.has(c.name),
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

/**
 * The edit (or create, when `policy` is null) dialog of one policy.
 */
export function openPolicyEditor(policy, existing, onSaved) {
    const uid = "imp_policy_" + app.utils.randomString();
    const isNew = !policy;

    const usedCollections = new Set(existing.map((p) => p.collection));
    const candidates = (app.store.collections || []).filter(
        (c) =>
            c.type == "auth" &&
            c.name != "_superusers" &&
            (!usedCollections.has(c.name) || c.name == policy?.collection),
    );

    const form = store({
        collection: policy?.collection || candidates[0]?.name || "",
        enabled: policy ? !!policy.enabled : true,
        impersonatorRule: policy?.impersonatorRule || "",
        consent: policy?.consent || "required",
        reasonRequired: policy ? !!policy.reasonRequired : true,
        maxMinutes: policy?.maxMinutes ?? 60,
        modes: policy?.modes?.length ? [...policy.modes] : ["read", "write"],
        attemptsPerMinute: policy?.attemptsPerMinute ?? 5,
        consentMaxHours: policy?.consentMaxHours ?? 168,
        deniedRoutes: routesText(policy?.deniedRoutes),
        allowedRoutes: routesText(policy?.allowedRoutes),
        showLiveSessions: policy ? !!policy.showLiveSessions : true,
        notifyTarget: policy ? !!policy.notifyTarget : true,
    });

    const data = store({
        saving: false,
        errors: {},
    });

    function clearError(name) {
        if (data.errors[name]) {
            data.errors = Object.assign({}, data.errors, { [name]: "" });
        }
    }

    const num = (v) => (v === "" || v == null ? null : Number(v));

    async function save() {
        if (data.saving) {
            return;
        }
        data.saving = true;
        data.errors = {};
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
        };
        if (isNew || form.collection != policy.collection) {
            body.collection = form.collection;
        }
        try {
            if (isNew) {
                await app.pb.collection(POLICIES).create(body, { requestKey: null });
            } else {
                await app.pb.collection(POLICIES).update(policy.id, body, { requestKey: null });
            }
            data.saving = false;
            flashSuccess(L("policies.saved", { collection: form.collection }));
            app.modals.close(modal, true);
            onSaved?.();
        } catch (err) {
            data.saving = false;
            const errs = {};
            const fieldErrs = err?.response?.data || {};
            for (const k in fieldErrs) {
                errs[FIELDS.includes(k) ? k : "_other"] = errorMessage(fieldErrs[k]);
            }
            data.errors = errs;
            flashError(err);
            setTimeout(
                () =>
                    modal
                        .querySelector(
                            ".imp-has-error input, .imp-has-error select, .imp-has-error textarea, .imp-has-error [contenteditable]",
                        )
                        ?.focus(),
                0,
            );
        }
    }

    const err = (name) =>
        t.div(
            {
                className: "field-help error imp-field-error",
                hidden: () => !data.errors[name],
                role: "alert",
                id: uid + "_" + name + "_err",
                "html-data-testid": "policy-error-" + name,
            },
            () => data.errors[name] || "",
        );

    const help = (key) => t.div({ className: "field-help" }, () => L(key));

    const wrap = (name, cols, ...children) =>
        t.div({ className: () => `${cols} ${data.errors[name] ? "imp-has-error" : ""}` }, ...children);

    const fieldClass = (name) => () => `field ${data.errors[name] ? "error" : ""}`;

    const switchField = (name, labelKey, helpKey) =>
        wrap(
            name,
            "col-lg-6",
            t.div(
                { className: fieldClass(name) },
                t.input({
                    type: "checkbox",
                    id: uid + "_" + name,
                    className: "switch no-error",
                    "html-data-testid": "policy-" + name,
                    "html-aria-describedby": uid + "_" + name + "_err",
                    checked: () => !!form[name],
                    onchange: (e) => {
                        form[name] = e.target.checked;
                        clearError(name);
                    },
                }),
                t.label({ htmlFor: uid + "_" + name }, () => L(labelKey)),
            ),
            helpKey ? help(helpKey) : null,
            err(name),
        );

    const numberField = (name, labelKey, helpKey, min, max) =>
        wrap(
            name,
            "col-lg-4",
            t.div(
                { className: fieldClass(name) },
                t.label({ htmlFor: uid + "_" + name }, () => L(labelKey)),
                t.input({
                    type: "number",
                    id: uid + "_" + name,
                    className: "no-error",
                    min,
                    max,
                    step: 1,
                    "html-data-testid": "policy-" + name,
                    "html-aria-describedby": uid + "_" + name + "_err",
                    "html-aria-invalid": () => (data.errors[name] ? "true" : undefined),
                    value: () => form[name] ?? "",
                    oninput: (e) => {
                        form[name] = e.target.value;
                        clearError(name);
                    },
                }),
            ),
            helpKey ? help(helpKey) : null,
            err(name),
        );

    const routesField = (name, labelKey, helpKey) =>
        wrap(
            name,
            "col-lg-6",
            t.div(
                { className: fieldClass(name) },
                t.label({ htmlFor: uid + "_" + name }, () => L(labelKey)),
                t.textarea({
                    id: uid + "_" + name,
                    className: "no-error txt-code",
                    rows: 4,
                    spellcheck: false,
                    placeholder: name == "deniedRoutes" ? "POST /api/billing/*" : "POST /api/collections/notes/records",
                    "html-data-testid": "policy-" + name,
                    "html-aria-describedby": uid + "_" + name + "_err",
                    "html-aria-invalid": () => (data.errors[name] ? "true" : undefined),
                    value: () => form[name],
                    oninput: (e) => {
                        form[name] = e.target.value;
                        clearError(name);
                    },
                }),
            ),
            help(helpKey),
            err(name),
        );

    const targetCollection = () => app.store.collections?.find((c) => c.name == form.collection);

    const modal = t.div(
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
                isNew ? L("policies.newTitle") : L("policies.editTitle", { collection: policy.collection }),
            ),
        ),
        t.form(
            {
                id: uid + "_form",
                className: "modal-content",
                noValidate: true,
                onsubmit: (e) => {
                    e.preventDefault();
                    save();
                },
            },
            t.div(
                { className: "grid" },
                // collection
                wrap(
                    "collection",
                    "col-lg-6",
                    t.div(
                        { className: fieldClass("collection") },
                        t.label({ htmlFor: uid + "_collection" }, () => L("col.collection")),
                        t.select(
                            {
                                id: uid + "_collection",
                                className: "no-error",
                                "html-data-testid": "policy-collection",
                                "html-aria-describedby": uid + "_collection_err",
                                disabled: !isNew,
                                onchange: (e) => {
                                    form.collection = e.target.value;
                                    clearError("collection");
                                },
                            },
                            ...(candidates.some((c) => c.name == form.collection) || !form.collection
                                ? []
                                : [t.option({ value: form.collection, selected: true }, form.collection)]),
                            ...candidates.map((c) =>
                                t.option({ value: c.name, selected: () => form.collection == c.name }, c.name),
                            ),
                        ),
                    ),
                    err("collection"),
                ),
                switchField("enabled", "policies.enabled", "policies.enabledHelp"),
                // impersonator rule
                wrap(
                    "impersonatorRule",
                    "col-lg-12",
                    t.div(
                        { className: fieldClass("impersonatorRule") },
                        t.label({ htmlFor: uid + "_impersonatorRule" }, () => L("policies.rule")),
                        app.components.codeEditor({
                            id: uid + "_impersonatorRule",
                            language: "pbrule",
                            className: "no-error imp-rule-editor",
                            placeholder: () => L("policies.rulePlaceholder"),
                            value: () => form.impersonatorRule,
                            autocomplete: (word) =>
                                app.utils.collectionAutocompleteKeys?.(targetCollection(), word) || [],
                            oninput: (val) => {
                                form.impersonatorRule = val;
                                clearError("impersonatorRule");
                            },
                        }),
                    ),
                    help("policies.ruleHelp"),
                    err("impersonatorRule"),
                ),
                // consent
                wrap(
                    "consent",
                    "col-lg-6",
                    t.div(
                        { className: fieldClass("consent") },
                        t.label({ htmlFor: uid + "_consent" }, () => L("col.consent")),
                        t.select(
                            {
                                id: uid + "_consent",
                                className: "no-error",
                                "html-data-testid": "policy-consent",
                                "html-aria-describedby": uid + "_consent_err",
                                onchange: (e) => {
                                    form.consent = e.target.value;
                                    clearError("consent");
                                },
                            },
                            t.option({ value: "required", selected: () => form.consent == "required" }, () =>
                                L("policies.consentRequired"),
                            ),
                            t.option({ value: "none", selected: () => form.consent == "none" }, () =>
                                L("consent.notRequired"),
                            ),
                        ),
                    ),
                    err("consent"),
                ),
                switchField("reasonRequired", "policies.reasonRequired", null),
                // modes
                wrap(
                    "modes",
                    "col-lg-12",
                    t.fieldset(
                        {
                            className: "imp-modes",
                            "html-data-testid": "policy-modes",
                            "html-aria-describedby": uid + "_modes_err",
                        },
                        t.legend({ className: "imp-legend" }, () => L("policies.modes")),
                        ...["read", "write"].map((m) =>
                            t.div(
                                { className: "field" },
                                t.input({
                                    type: "checkbox",
                                    id: uid + "_mode_" + m,
                                    className: "no-error",
                                    "html-data-testid": "policy-mode-" + m,
                                    checked: () => form.modes.includes(m),
                                    onchange: (e) => {
                                        const set = new Set(form.modes);
                                        e.target.checked ? set.add(m) : set.delete(m);
                                        form.modes = ["read", "write"].filter((x) => set.has(x));
                                        clearError("modes");
                                    },
                                }),
                                t.label({ htmlFor: uid + "_mode_" + m }, () => L("mode." + m)),
                            ),
                        ),
                    ),
                    help("policies.modesHelp"),
                    err("modes"),
                ),
                numberField("maxMinutes", "policies.maxMinutes", "policies.maxMinutesHelp", 1, 10080),
                numberField("consentMaxHours", "policies.consentMaxHours", "policies.consentMaxHoursHelp", 1, 8760),
                numberField("attemptsPerMinute", "policies.attemptsPerMinute", "policies.attemptsHelp", 1, 10000),
                routesField("deniedRoutes", "policies.deniedRoutes", "policies.deniedRoutesHelp"),
                routesField("allowedRoutes", "policies.allowedRoutes", "policies.allowedRoutesHelp"),
                switchField("showLiveSessions", "policies.showLiveSessions", "policies.showLiveSessionsHelp"),
                switchField("notifyTarget", "policies.notifyTarget", "policies.notifyTargetHelp"),
                t.div({ className: "col-lg-12" }, err("_other")),
            ),
        ),
        t.footer(
            { className: "modal-footer" },
            t.button(
                {
                    type: "button",
                    className: "btn transparent m-r-auto",
                    disabled: () => data.saving,
                    onclick: () => app.modals.close(modal),
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
        ),
    );

    document.body.appendChild(modal);
    app.modals.open(modal);
}
