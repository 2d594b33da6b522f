// Settings tab: the one impersonation_settings record (the alert address and
// threshold, the audit's retention, the revoke and product pages, the extra
// redaction keys), edited through the records API. The plugin validates it
// and audits every change; a change that weakens the evidence is alerted.
// The server's field codes are shown through the catalogue.
import { L } from "./state.js";
import { flashError, flashSuccess, invalidatePolicies } from "./api.js";
import { errorMessage } from "./ui.js";

export const SETTINGS = "impersonation_settings";

const FIELDS = [
    "alertEmail",
    "alertAfterRefusals",
    "auditRetentionHours",
    "revokeURL",
    "productURL",
    "extraRedactKeys",
];

function keysText(value) {
    return Array.isArray(value) ? value.join("\n") : "";
}

function keysValue(text) {
    return text
        .split(/[\n,]/)
        .map((l) => l.trim())
        .filter(Boolean);
}

const num = (v) => (v === "" || v == null ? null : Number(v));

export function settingsTab() {
    const uid = "imp_settings_" + app.utils.randomString();
    const data = store({ record: null, loaded: false, saving: false, errors: {} });
    const form = store({
        alertEmail: "",
        alertAfterRefusals: "",
        auditRetentionHours: "",
        revokeURL: "",
        productURL: "",
        extraRedactKeys: "",
    });

    function fill(r) {
        data.record = r;
        form.alertEmail = r?.alertEmail || "";
        form.alertAfterRefusals = r?.alertAfterRefusals ?? 5;
        form.auditRetentionHours = r?.auditRetentionHours ?? 0;
        form.revokeURL = r?.revokeURL || "";
        form.productURL = r?.productURL || "";
        form.extraRedactKeys = keysText(r?.extraRedactKeys);
    }

    async function load() {
        try {
            const items = await app.pb.collection(SETTINGS).getList(1, 1, { sort: "created", requestKey: uid });
            fill(items.items[0] || null);
            data.loaded = true;
        } catch (err) {
            if (!err?.isAbort) {
                data.loaded = true;
                flashError(err);
            }
        }
    }

    async function save() {
        if (data.saving) {
            return;
        }
        data.saving = true;
        data.errors = {};
        const body = {
            alertEmail: form.alertEmail.trim(),
            alertAfterRefusals: num(form.alertAfterRefusals),
            auditRetentionHours: num(form.auditRetentionHours),
            revokeURL: form.revokeURL.trim(),
            productURL: form.productURL.trim(),
            extraRedactKeys: keysValue(form.extraRedactKeys),
        };
        try {
            const saved = data.record
                ? await app.pb.collection(SETTINGS).update(data.record.id, body, { requestKey: null })
                : await app.pb.collection(SETTINGS).create(body, { requestKey: null });
            fill(saved);
            invalidatePolicies(); // the product page is in the policies' answer
            flashSuccess(L("settings.saved"));
        } catch (err) {
            const errs = {};
            const fieldErrs = err?.response?.data || {};
            // kept as the server sent them: shown in the language chosen now
            for (const k in fieldErrs) {
                if (k != "impersonation") {
                    errs[FIELDS.includes(k) ? k : "_other"] = fieldErrs[k];
                }
            }
            data.errors = errs;
            flashError(err);
        } finally {
            data.saving = false;
        }
    }

    const clearError = (name) => {
        if (data.errors[name]) {
            data.errors = Object.assign({}, data.errors, { [name]: null });
        }
    };

    const err = (name) =>
        t.div(
            {
                className: "field-help error imp-field-error",
                hidden: () => !data.errors[name],
                role: "alert",
                id: uid + "_" + name + "_err",
                "html-data-testid": "settings-error-" + name,
            },
            () => (data.errors[name] ? errorMessage(data.errors[name]) : ""),
        );

    const input = (name, props) =>
        Object.assign(
            {
                id: uid + "_" + name,
                className: "no-error",
                "html-data-testid": "settings-" + name,
                "html-aria-describedby": uid + "_" + name + "_err " + uid + "_" + name + "_help",
                "html-aria-invalid": () => (data.errors[name] ? "true" : undefined),
                value: () => form[name] ?? "",
                oninput: (e) => {
                    form[name] = e.target.value;
                    clearError(name);
                },
            },
            props,
        );

    const fieldOf = (name, cols, control) =>
        t.div(
            { className: cols },
            t.div(
                { className: () => `field ${data.errors[name] ? "error" : ""}` },
                t.label({ htmlFor: uid + "_" + name }, () => L("settings." + name)),
                control,
            ),
            t.div({ className: "field-help", id: uid + "_" + name + "_help" }, () => L("settings." + name + "Help")),
            err(name),
        );

    return t.div(
        {
            className: "imp-tab imp-settings",
            "html-data-testid": "settings-tab",
            onmount: () => load(),
            onunmount: () => app.pb.cancelRequest(uid),
        },
        t.p({ className: "txt-hint" }, () => L("settings.intro")),
        t.form(
            {
                id: uid + "_form",
                noValidate: true,
                "html-data-testid": "settings-form",
                onsubmit: (e) => {
                    e.preventDefault();
                    save();
                },
            },
            t.div(
                { className: "grid" },
                fieldOf("alertEmail", "col-lg-6", t.input(input("alertEmail", { type: "email", autocomplete: "off" }))),
                fieldOf(
                    "alertAfterRefusals",
                    "col-lg-3",
                    t.input(input("alertAfterRefusals", { type: "number", min: 1, max: 10000, step: 1 })),
                ),
                fieldOf(
                    "auditRetentionHours",
                    "col-lg-3",
                    t.input(input("auditRetentionHours", { type: "number", min: 0, max: 876000, step: 1 })),
                ),
                fieldOf(
                    "revokeURL",
                    "col-lg-6",
                    t.input(input("revokeURL", { type: "text", placeholder: "/impersonation/", spellcheck: false })),
                ),
                fieldOf(
                    "productURL",
                    "col-lg-6",
                    t.input(input("productURL", { type: "text", placeholder: "/", spellcheck: false })),
                ),
                fieldOf(
                    "extraRedactKeys",
                    "col-lg-12",
                    t.textarea(
                        input("extraRedactKeys", { rows: 3, className: "no-error txt-code", spellcheck: false }),
                    ),
                ),
                t.div({ className: "col-lg-12" }, err("_other")),
                t.div(
                    { className: "col-lg-12 imp-settings-actions" },
                    t.small({ className: "txt-hint flex-fill" }, () => L("settings.weakenHint")),
                    t.button(
                        {
                            type: "submit",
                            className: () => `btn ${data.saving ? "loading" : ""}`,
                            disabled: () => data.saving || !data.loaded,
                            "html-data-testid": "settings-save",
                        },
                        t.span({ className: "txt" }, () => L("dash.save")),
                    ),
                ),
            ),
        ),
    );
}
