// The Impersonate action inside the dashboard's own records view, for the
// records of collections under a policy, through the plugin's route:
//
//  - app.modals.openRecordImpersontate (the "Impersonate" item of the record
//    edit panel's menu) is wrapped: for a policy collection it opens the
//    plugin's dialog instead of the built-in token generator (whose route the
//    plugin refuses with 403 for these collections);
//  - each row of the records list of a policy collection gets an Impersonate
//    button (the list's "mount:recordsList" event, then its rows as they
//    render);
//  - the record preview panel (app.modals.openRecordPreview) of such a record
//    gets an Impersonate button in its footer.
import { L } from "./state.js";
import { cachedPolicies, collectionName, hasPolicyRecord, loadPolicies } from "./api.js";
import { openImpersonateDialog } from "./impersonate.js";

function isPolicyCollectionNow(idOrName) {
    return hasPolicyRecord(cachedPolicies(), idOrName);
}

async function isPolicyCollection(idOrName) {
    try {
        return hasPolicyRecord(await loadPolicies(), idOrName);
    } catch {
        return false;
    }
}

function wrapImpersonateModal() {
    const builtin = app.modals.openRecordImpersontate;
    if (typeof builtin != "function" || builtin.__impersonationPlugin) {
        return;
    }
    const wrapped = async function (record, ...rest) {
        const collection = record?.collectionName || record?.collectionId;
        if (record?.id && collection && (await isPolicyCollection(collection))) {
            return openImpersonateDialog({ collection: collectionName(collection), id: record.id });
        }
        return builtin.call(this, record, ...rest);
    };
    wrapped.__impersonationPlugin = true;
    app.modals.openRecordImpersontate = wrapped;
}

function impersonateButton(collection, id, extraClass = "") {
    return t.button(
        {
            type: "button",
            className: `btn sm transparent secondary imp-records-btn ${extraClass}`,
            "html-data-testid": "records-impersonate",
            "html-data-id": id,
            ariaLabel: app.attrs.tooltip(() => L("dialog.action"), "left"),
            onclick: (e) => {
                e.preventDefault();
                e.stopPropagation();
                openImpersonateDialog({ collection, id });
            },
            // the row opens the record on Enter/Space: keep those keys here
            onkeypress: (e) => e.stopPropagation(),
            onkeydown: (e) => {
                if (e.key == "Enter" || e.key == " ") {
                    e.stopPropagation();
                }
            },
        },
        t.i({ className: "ri-spy-line", ariaHidden: true }),
    );
}

// ---------------------------------------------------------------------------
// Records list rows

const observers = new WeakMap();

function decorateRows(listEl) {
    const collection = app.store.activeCollection;
    if (!collection?.id || collection.type != "auth" || !isPolicyCollectionNow(collection.name)) {
        listEl.querySelectorAll(".imp-records-btn").forEach((b) => b.remove());
        return;
    }
    // the list's row checkboxes are "<uniqueId><record id>", its header one "all_<uniqueId>"
    const all = listEl.querySelector("thead .col-bulk-select input[type=checkbox]");
    const prefix = all?.id?.startsWith("all_") ? all.id.slice(4) : "";
    if (!prefix) {
        return;
    }
    for (const row of listEl.querySelectorAll("tbody tr")) {
        const meta = row.querySelector(":scope > td.col-meta");
        const cb = row.querySelector(":scope > td.col-bulk-select input[type=checkbox]");
        if (!meta || !cb?.id?.startsWith(prefix)) {
            continue;
        }
        const id = cb.id.slice(prefix.length);
        const existing = meta.querySelector(".imp-records-btn");
        if (existing && existing.dataset.id == id && existing.dataset.collection == collection.name) {
            continue;
        }
        existing?.remove();
        const btn = impersonateButton(collection.name, id);
        btn.dataset.collection = collection.name;
        meta.prepend(btn);
    }
}

function watchRecordsList(e) {
    const listEl = e.detail;
    if (!listEl || observers.has(listEl)) {
        return;
    }
    let scheduled = false;
    const schedule = () => {
        if (scheduled) {
            return;
        }
        scheduled = true;
        queueMicrotask(() => {
            scheduled = false;
            if (listEl.isConnected) {
                decorateRows(listEl);
            }
        });
    };
    const observer = new MutationObserver((mutations) => {
        // ignore our own buttons
        if (
            mutations.every((m) =>
                [...m.addedNodes, ...m.removedNodes].every((n) => n.classList?.contains("imp-records-btn")),
            )
        ) {
            return;
        }
        schedule();
    });
    observer.observe(listEl, { childList: true, subtree: true });
    observers.set(listEl, observer);

    // the policies may not be loaded yet
    isPolicyCollection(app.store.activeCollection?.name).then(schedule);
    schedule();
}

function unwatchRecordsList(e) {
    const listEl = e.detail;
    observers.get(listEl)?.disconnect();
    observers.delete(listEl);
}

// ---------------------------------------------------------------------------
// Record preview

function wrapRecordPreview() {
    const builtin = app.modals.openRecordPreview;
    if (typeof builtin != "function" || builtin.__impersonationPlugin) {
        return;
    }
    const wrapped = function (record, ...rest) {
        const before = new Set(document.querySelectorAll(".record-preview-modal"));
        const result = builtin.call(this, record, ...rest);
        const modal = [...document.querySelectorAll(".record-preview-modal")].find((m) => !before.has(m));
        const collection = record?.collectionName || record?.collectionId;
        if (modal && record?.id && collection) {
            isPolicyCollection(collection).then((yes) => {
                const footer = modal.querySelector(".modal-footer");
                if (!yes || !footer || footer.querySelector(".imp-records-btn")) {
                    return;
                }
                const btn = t.button(
                    {
                        type: "button",
                        className: "btn secondary imp-records-btn",
                        "html-data-testid": "preview-impersonate",
                        onclick: () => {
                            app.modals.close(modal);
                            openImpersonateDialog({ collection: collectionName(collection), id: record.id });
                        },
                    },
                    t.i({ className: "ri-spy-line", ariaHidden: true }),
                    t.span({ className: "txt" }, () => L("dialog.action")),
                );
                footer.lastElementChild ? footer.lastElementChild.before(btn) : footer.append(btn);
            });
        }
        return result;
    };
    wrapped.__impersonationPlugin = true;
    app.modals.openRecordPreview = wrapped;
}

export function installRecordsIntegration() {
    wrapImpersonateModal();
    wrapRecordPreview();
    document.addEventListener("mount:recordsList", watchRecordsList);
    document.addEventListener("unmount:recordsList", unwatchRecordsList);
    // a records list mounted before this ran (the router may start while
    // the extension's modules are still loading)
    for (const el of document.querySelectorAll('[data-pb="recordsList"]')) {
        watchRecordsList({ detail: el });
    }

    // warm the policies cache once the superuser is known
    watch(
        () => app.store.superuser?.id,
        (id) => {
            if (id) {
                loadPolicies().catch(() => {});
            }
        },
    );
}
