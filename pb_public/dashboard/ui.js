// Small view helpers built from the dashboard's own CSS classes. Every value
// that comes from a user (names, emails, reasons, paths...) is given to the
// tag builder as a string, so it becomes a text node and is never parsed as
// HTML.
import { L, fmtDate, fmtRelative, lib, ui } from "./state.js";
import { person } from "./api.js";

/** "Name (email)" or the email or the id of a person, as text. */
export function personText(collectionId, id) {
    if (!id) {
        return "";
    }
    const p = person(collectionId, id);
    if (p === null) {
        return id;
    }
    if (!p) {
        return id;
    }
    if (p.name && p.email) {
        return `${p.name} (${p.email})`;
    }
    return p.name || p.email || id;
}

/** A person cell: name on top, email and id below. */
export function personView(collectionId, id, testid = "") {
    return t.div({ className: "imp-person", "html-data-testid": testid || undefined }, () => {
        if (!id) {
            return t.span({ className: "txt-hint" }, "—");
        }
        const p = person(collectionId, id);
        if (p === null) {
            return [
                t.span({ className: "imp-person-name txt-hint" }, () => L("person.unknown")),
                t.small({ className: "imp-person-meta txt-hint" }, id),
            ];
        }
        const main = p?.name || p?.email || id;
        const sub = p?.name ? p?.email : p?.email ? id : "";
        return [
            t.span({ className: "imp-person-name txt-ellipsis", title: main }, main),
            sub ? t.small({ className: "imp-person-meta txt-hint txt-ellipsis", title: sub }, sub) : null,
        ];
    });
}

/** A date, with the relative time as a hint ("in 5 minutes"). */
export function dateView(value) {
    return t.span(
        {
            className: "imp-date txt-nowrap",
            title: () => (value ? fmtRelative(value) : ""),
        },
        () => (value ? fmtDate(value) : "—"),
    );
}

/** A <td> carrying its column label for the phone layout. */
export function cell(labelKey, props, ...children) {
    return t.td(
        // reactive: a row kept across a language switch (same rid) relabels itself
        Object.assign({ "html-data-name": () => L(labelKey) }, props || {}),
        ...children,
    );
}

/** A <th> with an icon and a translated label. */
export function head(icon, labelKey, className = "") {
    return t.th(
        { className },
        t.div(
            { className: "inline-flex gap-5" },
            icon ? t.i({ className: icon, ariaHidden: true }) : null,
            t.span({ className: "txt" }, () => L(labelKey)),
        ),
    );
}

/**
 * A list's table: a header cell per [icon, label key] of `heads` (after the
 * cells of `lead`), a last header for the rows' actions named by
 * `metaKey`, and a body of `row(item)` for each of `data.items`, or the
 * loading / `emptyKey` row. `name` makes the body's test id (NAME-rows).
 */
export function listTable({ name, data, heads, metaKey, emptyKey, row, lead = [], className = "" }) {
    return t.table(
        { className: ("responsive-table imp-table " + className).trim() },
        t.thead(
            null,
            t.tr(
                null,
                ...lead,
                ...heads.map(([icon, key]) => head(icon, key)),
                t.th(
                    { className: "col-meta" },
                    t.span({ className: "imp-sr-only" }, () => L(metaKey)),
                ),
            ),
        ),
        t.tbody({ "html-data-testid": name + "-rows" }, () => {
            if (!data.items.length) {
                return emptyRow(() => data.isLoading || !data.loaded, emptyKey);
            }
            return data.items.flatMap(row);
        }),
    );
}

/** The table's "nothing here" / loading row. */
export function emptyRow(isLoading, emptyKey) {
    return t.tr(
        null,
        t.td({ colSpan: 99 }, () => {
            if (isLoading()) {
                return t.span({ className: "skeleton-loader" });
            }
            return t.div(
                { className: "sticky-content txt-center txt-hint p-sm" },
                t.div({ className: "txt-bold" }, () => L(emptyKey)),
            );
        }),
    );
}

/**
 * Pager: "Page 2 of 7 · 190 items" with previous/next buttons.
 * `state` has page, totalPages, totalItems; `go(page)` loads a page. A list
 * loaded without its total (totalItems -1) shows only the page number, and
 * totalPages is then the last page known to exist.
 */
export function pager(state, go, testid) {
    return t.nav(
        {
            className: "imp-pager",
            ariaLabel: () => L("common.pagination"),
            "html-data-testid": testid,
        },
        t.button(
            {
                type: "button",
                className: "btn sm secondary transparent",
                disabled: () => state.isLoading || state.page <= 1,
                onclick: () => go(state.page - 1),
                "html-data-testid": testid + "-prev",
            },
            t.i({ className: "ri-arrow-left-s-line", ariaHidden: true }),
            t.span({ className: "txt" }, () => L("common.prev")),
        ),
        t.span({ className: "txt txt-hint", "html-data-testid": testid + "-info", ariaLive: "polite" }, () =>
            state.totalItems < 0
                ? L("pager.page", { page: state.page })
                : L("pager.info", {
                      page: state.page,
                      pages: Math.max(1, state.totalPages || 1),
                      total: state.totalItems || 0,
                  }),
        ),
        t.button(
            {
                type: "button",
                className: "btn sm secondary transparent",
                disabled: () => state.isLoading || state.page >= (state.totalPages || 1),
                onclick: () => go(state.page + 1),
                "html-data-testid": testid + "-next",
            },
            t.span({ className: "txt" }, () => L("common.next")),
            t.i({ className: "ri-arrow-right-s-line", ariaHidden: true }),
        ),
    );
}

/** A labelled form field (`.field` of the dashboard's forms). */
export function field(id, labelFn, input, extra = null) {
    return t.div({ className: "field" }, t.label({ htmlFor: id }, labelFn), input, extra);
}

/** Server or local error message under a field. */
export function fieldError(errors, name, testidPrefix) {
    return t.div(
        {
            className: "field-help error imp-field-error",
            hidden: () => !errors[name],
            "html-data-testid": testidPrefix + "-" + name,
            role: "alert",
        },
        () => errors[name] || "",
    );
}

/** The message of a PocketBase field error in the chosen language (errors.fieldText). */
export function errorMessage(err) {
    ui.lang; // dependency for reactive callers
    return lib.errors.fieldText(err);
}

/** Status label (success / warning / danger / info / plain). */
export function badge(kind, textFn, testid) {
    return t.span(
        {
            className: `label sm ${kind || ""}`,
            "html-data-testid": testid || undefined,
        },
        textFn,
    );
}

const FOCUSABLE =
    "a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), " +
    "textarea:not([disabled]), [contenteditable]:not([contenteditable='false']), [tabindex]:not([tabindex='-1'])";

/**
 * Keydown handler of the extension's dialogs: Escape closes the dialog from
 * inside its fields too, and Tab cycles within it instead of leaving it.
 */
export function dialogKeys(e) {
    const modal = e.currentTarget;
    if (e.key == "Escape" && e.target !== modal && !e.defaultPrevented && !e.target.closest?.(".dropdown")) {
        e.preventDefault();
        app.modals.close(modal);
        return;
    }
    if (e.key != "Tab") {
        return;
    }
    const items = [...modal.querySelectorAll(FOCUSABLE)].filter(
        (el) => el.offsetParent !== null || el === document.activeElement,
    );
    if (!items.length) {
        return;
    }
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || document.activeElement === modal)) {
        e.preventDefault();
        last.focus();
    } else if (!e.shiftKey && document.activeElement === last) {
        e.preventDefault();
        first.focus();
    }
}
