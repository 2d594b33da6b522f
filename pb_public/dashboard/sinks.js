// Sinks tab: the impersonation_sinks records (log stores that get every
// audit entry and checkpoint), listed with how far behind each is and its
// last error, and added, edited, enabled, disabled or deleted through the
// records API. The plugin validates a sink, audits every change, never
// answers its secret and keeps its delivery state its own.
import { L, lib, ui } from "./state.js";
import { flashError, flashSuccess } from "./api.js";
import { badge, cell, dateView, errorMessage, listTable } from "./ui.js";

export const SINKS = "impersonation_sinks";

const FIELDS = [
    "name",
    "type",
    "url",
    "path",
    "format",
    "secret",
    "enabled",
    "startFromNow",
    "batchSize",
    "batchSeconds",
];

const num = (v) => (v === "" || v == null ? 0 : Number(v));

export function sinksTab() {
    const uid = "imp_sinks_" + app.utils.randomString();
    const data = store({ items: [], isLoading: false, loaded: false, head: 0, editing: null });

    async function load() {
        data.isLoading = true;
        try {
            const [items, health] = await Promise.all([
                app.pb.collection(SINKS).getFullList({ sort: "created", requestKey: uid + "_list" }),
                lib.api.health({ requestKey: uid + "_health" }),
            ]);
            data.items = items;
            data.head = health?.head?.seq || 0;
        } catch (err) {
            if (err?.isAbort) {
                return;
            }
            flashError(err);
        }
        data.isLoading = false;
        data.loaded = true;
    }

    async function setEnabled(sink, enabled) {
        try {
            await app.pb.collection(SINKS).update(sink.id, { enabled }, { requestKey: null });
        } catch (err) {
            flashError(err);
        }
        load();
    }

    const edit = (sink) => {
        data.editing = { sink };
    };
    const done = () => {
        data.editing = null;
        load();
    };

    return t.div(
        {
            className: "imp-tab imp-sinks",
            "html-data-testid": "sinks-tab",
            onmount: () => load(),
            onunmount: () => app.pb.cancelRequest(uid),
        },
        t.div(
            { className: "imp-toolbar" },
            t.p({ className: "txt-hint m-0 flex-fill" }, () => L("sinks.intro")),
            app.components.refreshButton({ tooltip: () => L("dash.refresh"), onclick: () => load() }),
            t.button(
                {
                    type: "button",
                    className: "btn sm",
                    "html-data-testid": "sinks-new",
                    disabled: () => !data.loaded || !!data.editing,
                    onclick: () => edit(null),
                },
                t.i({ className: "ri-add-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("sinks.new")),
            ),
        ),
        t.div(
            { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
            listTable({
                name: "sinks",
                data,
                heads: [
                    ["ri-price-tag-3-line", "sinks.name"],
                    ["ri-send-plane-line", "sinks.target"],
                    ["ri-file-code-line", "sinks.format"],
                    ["ri-toggle-line", "sinks.state"],
                    ["ri-hourglass-line", "sinks.lag"],
                    ["ri-error-warning-line", "sinks.lastError"],
                    ["ri-time-line", "sinks.lastAttempt"],
                ],
                metaKey: "col.actions",
                emptyKey: "sinks.empty",
                row: (s) => sinkRow(s, data, edit, setEnabled),
            }),
        ),
        () => (data.editing ? sinkForm(data.editing.sink, done) : null),
    );
}

function sinkRow(s, data, onEdit, setEnabled) {
    const behind = Math.max(0, data.head - (s.deliveredSeq || 0));
    const state = !s.enabled ? "disabled" : s.lastError ? "failing" : "enabled";
    return t.tr(
        { rid: JSON.stringify(s) + data.head, className: "imp-row", "html-data-testid": "sinks-row" },
        cell("sinks.name", null, t.strong(null, s.name)),
        cell(
            "sinks.target",
            { className: "imp-col-path" },
            t.small({ className: "txt-hint" }, () => L("sinks.type." + s.type) + " "),
            t.span({ className: "imp-mono imp-path", title: s.url || s.path }, s.url || s.path),
        ),
        cell("sinks.format", null, () => L("sinks.format." + s.format)),
        cell(
            "sinks.state",
            null,
            badge(
                { enabled: "success", failing: "danger", disabled: "" }[state],
                () => L("sinks." + state),
                "sinks-state",
            ),
        ),
        cell("sinks.lag", { "html-data-testid": "sinks-lag" }, () =>
            behind ? L("sinks.behind", { n: behind }) : L("sinks.caughtUp"),
        ),
        cell(
            "sinks.lastError",
            { className: "imp-col-path" },
            t.span(
                { className: "txt-danger", "html-data-testid": "sinks-error", title: s.lastError },
                s.lastError || "",
            ),
        ),
        cell("sinks.lastAttempt", null, dateView(s.lastAttempt)),
        t.td(
            { className: "col-meta" },
            t.div(
                { className: "inline-flex gap-5" },
                t.button(
                    {
                        type: "button",
                        className: "btn sm secondary",
                        "html-data-testid": "sinks-toggle",
                        onclick: () => setEnabled(s, !s.enabled),
                    },
                    t.span({ className: "txt" }, () => L(s.enabled ? "sinks.disable" : "sinks.enable")),
                ),
                t.button(
                    {
                        type: "button",
                        className: "btn sm secondary",
                        "html-data-testid": "sinks-edit",
                        ariaLabel: () => L("sinks.editFor", { name: s.name }),
                        disabled: () => !!data.editing,
                        onclick: () => onEdit(s),
                    },
                    t.i({ className: "ri-pencil-line", ariaHidden: true }),
                    t.span({ className: "txt" }, () => L("dash.edit")),
                ),
            ),
        ),
    );
}

/** The form of a sink (a new one when `sink` is null), under the table. */
function sinkForm(sink, done) {
    const uid = "imp_sink_" + app.utils.randomString();
    const form = store({
        name: sink?.name || "",
        type: sink?.type || "webhook",
        url: sink?.url || "",
        path: sink?.path || "",
        format: sink?.format || "jsonl",
        secret: "",
        enabled: sink ? !!sink.enabled : true,
        startFromNow: false,
        batchSize: sink?.batchSize || 0,
        batchSeconds: sink?.batchSeconds || 0,
    });
    const data = store({ saving: false, errors: {} });

    async function save() {
        if (data.saving) {
            return;
        }
        data.saving = true;
        data.errors = {};
        const body = {
            name: form.name.trim(),
            type: form.type,
            url: form.type == "webhook" ? form.url.trim() : "",
            path: form.type == "file" ? form.path.trim() : "",
            format: form.format,
            enabled: form.enabled,
            batchSize: num(form.batchSize),
            batchSeconds: num(form.batchSeconds),
        };
        if (form.secret) {
            body.secret = form.secret; // empty: the stored one stays
        }
        try {
            if (sink) {
                await app.pb.collection(SINKS).update(sink.id, body, { requestKey: null });
            } else {
                body.startFromNow = form.startFromNow;
                await app.pb.collection(SINKS).create(body, { requestKey: null });
            }
            flashSuccess(L("sinks.saved", { name: body.name }));
            done();
        } catch (err) {
            // kept as the server sent them: shown in the language chosen now
            const errs = {};
            for (const [k, v] of Object.entries(err?.response?.data || {})) {
                if (k == "impersonation") {
                    errs._other = err;
                } else {
                    errs[FIELDS.includes(k) ? k : "_other"] = v;
                }
            }
            data.errors = errs;
            data.saving = false;
            flashError(err);
        }
    }

    function remove() {
        app.modals.confirm(
            L("sinks.deleteConfirm", { name: sink.name }),
            async () => {
                try {
                    await app.pb.collection(SINKS).delete(sink.id, { requestKey: null });
                    flashSuccess(L("sinks.deleted", { name: sink.name }));
                } catch (err) {
                    flashError(err);
                }
                done();
            },
            null,
            { yesButton: L("sinks.delete"), noButton: L("common.cancel") },
        );
    }

    const ctx = { uid, form, data };
    return t.form(
        {
            className: "imp-sink-form m-t-sm",
            noValidate: true,
            "html-data-testid": "sink-form",
            "html-aria-labelledby": uid + "_title",
            onsubmit: (e) => {
                e.preventDefault();
                save();
            },
        },
        t.h6({ id: uid + "_title" }, () => (sink ? L("sinks.editTitle", { name: sink.name }) : L("sinks.newTitle"))),
        t.div(
            { className: "grid" },
            inputField(ctx, "name", "col-lg-4", { type: "text", maxLength: 100 }),
            selectField(ctx, "type", "col-lg-4", ["webhook", "file"], (v) => L("sinks.type." + v)),
            selectField(ctx, "format", "col-lg-4", ["jsonl", "ocsf"], (v) => L("sinks.format." + v)),
            () =>
                form.type == "webhook"
                    ? inputField(ctx, "url", "col-lg-8", { type: "url", spellcheck: false, placeholder: "https://" })
                    : inputField(ctx, "path", "col-lg-8", {
                          type: "text",
                          spellcheck: false,
                          placeholder: "audit.jsonl",
                      }),
            inputField(ctx, "secret", "col-lg-4", {
                type: "password",
                autocomplete: "new-password",
                placeholder: sink ? L("sinks.secretKept") : "",
            }),
            inputField(ctx, "batchSize", "col-lg-4", { type: "number", min: 0, max: 10000, step: 1 }),
            inputField(ctx, "batchSeconds", "col-lg-4", { type: "number", min: 0, max: 3600, step: 1 }),
            switchField(ctx, "enabled", "col-lg-2"),
            sink ? null : switchField(ctx, "startFromNow", "col-lg-2"),
            t.div({ className: "col-lg-12" }, errorLine(ctx, "_other")),
            t.div(
                { className: "col-lg-12 imp-settings-actions" },
                sink
                    ? t.button(
                          {
                              type: "button",
                              className: "btn sm danger transparent",
                              "html-data-testid": "sink-delete",
                              onclick: remove,
                          },
                          t.span({ className: "txt" }, () => L("sinks.delete")),
                      )
                    : null,
                t.div({ className: "flex-fill" }),
                t.button(
                    {
                        type: "button",
                        className: "btn sm transparent",
                        onclick: done,
                        "html-data-testid": "sink-cancel",
                    },
                    t.span({ className: "txt" }, () => L("common.cancel")),
                ),
                t.button(
                    {
                        type: "submit",
                        className: () => `btn sm ${data.saving ? "loading" : ""}`,
                        disabled: () => data.saving,
                        "html-data-testid": "sink-save",
                    },
                    t.span({ className: "txt" }, () => L("dash.save")),
                ),
            ),
        ),
    );
}

function errorLine({ uid, data }, name) {
    return t.div(
        {
            className: "field-help error imp-field-error",
            hidden: () => !data.errors[name],
            role: "alert",
            id: uid + "_" + name + "_err",
            "html-data-testid": "sink-error-" + name,
        },
        () => errorText(data.errors[name]),
    );
}

/** The text of a field error, or of a refusal (an error with a response). */
function errorText(e) {
    ui.lang; // dependency: the text follows the language
    if (!e) {
        return "";
    }
    return e.response ? lib.errors.errorText(e) : errorMessage(e);
}

/** The attributes every control has: id, test id, its help and error. */
function controlAttrs({ uid, data }, name) {
    return {
        id: uid + "_" + name,
        "html-data-testid": "sink-" + name,
        "html-aria-describedby": uid + "_" + name + "_err " + uid + "_" + name + "_help",
        "html-aria-invalid": () => (data.errors[name] ? "true" : undefined),
    };
}

function labelled(ctx, name, cols, control) {
    const { uid, data } = ctx;
    const helpKey = "sinks." + name + "Help";
    return t.div(
        { className: cols },
        t.div(
            { className: () => `field ${data.errors[name] ? "error" : ""}` },
            t.label({ htmlFor: uid + "_" + name }, () => L("sinks." + name)),
            control,
        ),
        t.div({ className: "field-help", id: uid + "_" + name + "_help" }, () =>
            lib.i18n.has(helpKey) ? L(helpKey) : "",
        ),
        errorLine(ctx, name),
    );
}

function inputField(ctx, name, cols, props) {
    const { form } = ctx;
    return labelled(
        ctx,
        name,
        cols,
        t.input({
            ...controlAttrs(ctx, name),
            className: "no-error",
            value: () => form[name] ?? "",
            oninput: (e) => {
                form[name] = e.target.value;
            },
            ...props,
        }),
    );
}

function selectField(ctx, name, cols, values, text) {
    const { form } = ctx;
    return labelled(
        ctx,
        name,
        cols,
        t.select(
            { ...controlAttrs(ctx, name), onchange: (e) => (form[name] = e.target.value) },
            ...values.map((v) => t.option({ value: v, selected: () => form[name] == v }, () => text(v))),
        ),
    );
}

function switchField(ctx, name, cols) {
    const { uid, form } = ctx;
    return t.div(
        { className: cols },
        t.div(
            { className: "field" },
            t.input({
                ...controlAttrs(ctx, name),
                type: "checkbox",
                className: "switch no-error",
                checked: () => !!form[name],
                onchange: (e) => (form[name] = e.target.checked),
            }),
            t.label({ htmlFor: uid + "_" + name }, () => L("sinks." + name)),
        ),
        t.div({ className: "field-help", id: uid + "_" + name + "_help" }, () =>
            lib.i18n.has("sinks." + name + "Help") ? L("sinks." + name + "Help") : "",
        ),
    );
}
