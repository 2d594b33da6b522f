// The pages' widgets, built with dom.js: flash messages, the modal dialog,
// the language switch. Every string goes in as text, never as HTML.
import { t, getLang, setLang, onLangChange, translatePage } from "./i18n.js";
import { h, clear } from "./dom.js";

// ---------------------------------------------------------------------------
// Flash messages (toasts)

let flashBox = null;

function flashContainer() {
    if (flashBox && document.body.contains(flashBox)) return flashBox;
    flashBox = document.getElementById("flashes");
    if (!flashBox) {
        flashBox = h("div", { id: "flashes", class: "flashes" });
        document.body.appendChild(flashBox);
    }
    return flashBox;
}

// flash shows a message: type is "success", "error" or "info". Success and
// info messages go after 6 s, errors after 12 s; each has a close button.
export function flash(type, message) {
    if (!message) return null;
    const box = flashContainer();
    const close = h("button", {
        type: "button",
        class: "flash-close",
        text: "×",
        attrs: { "aria-label": t("common.close") },
    });
    const item = h(
        "div",
        {
            class: `flash ${type}`,
            dataset: { testid: "flash", type },
            attrs: { role: type === "error" ? "alert" : "status" },
        },
        h("span", { class: "flash-text", text: message }),
        close,
    );
    const remove = () => item.remove();
    close.addEventListener("click", remove);
    box.appendChild(item);
    setTimeout(remove, type === "error" ? 12000 : 6000);
    return item;
}

// ---------------------------------------------------------------------------
// Modal dialog: native <dialog> (the rest of the page becomes inert), with
// the focus kept inside by Tab/Shift+Tab and Escape to close.

const FOCUSABLE =
    'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// openDialog shows a modal. content: nodes for the body; actions: nodes for
// the footer. Returns {el, close}. onClose runs once when it closes.
export function openDialog({ id, title, content = [], actions = [], onClose, testid } = {}) {
    const opener = document.activeElement;
    let closed = false;
    const close = () => {
        if (closed) return;
        closed = true;
        if (dlg.open) dlg.close();
        dlg.remove();
        focusOpener(opener);
        if (onClose) onClose();
    };
    const dlg = dialogShell({ id, title, content, actions, testid, close });
    dlg.addEventListener("cancel", (e) => {
        e.preventDefault();
        close();
    });
    dlg.addEventListener("keydown", (e) => {
        if (e.key === "Escape") {
            e.preventDefault();
            close();
        } else if (e.key === "Tab") {
            keepFocusIn(dlg, e);
        }
    });
    // a click on the backdrop (outside the dialog box) closes it
    dlg.addEventListener("mousedown", (e) => {
        if (e.target === dlg) close();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
    const autofocus =
        dlg.querySelector("[autofocus]") ||
        dlg.querySelector(".modal-body " + FOCUSABLE.split(",").join(", .modal-body "));
    if (autofocus) autofocus.focus();
    return { el: dlg, close };
}

// dialogShell builds the <dialog>: header with the title and ×, body, footer.
function dialogShell({ id, title, content, actions, testid, close }) {
    const titleId = (id || "dialog") + "-title";
    return h(
        "dialog",
        {
            class: "modal",
            id,
            dataset: testid ? { testid } : undefined,
            attrs: { "aria-labelledby": titleId },
        },
        h(
            "div",
            { class: "modal-header" },
            h("h2", { id: titleId, class: "modal-title", text: title }),
            h("button", {
                type: "button",
                class: "btn-icon modal-close",
                text: "×",
                attrs: { "aria-label": t("common.close") },
                on: { click: () => close() },
            }),
        ),
        h("div", { class: "modal-body" }, content),
        h("div", { class: "modal-footer" }, actions),
    );
}

// focusOpener gives the focus back to what opened the dialog, or to its twin
// when the opener was re-rendered meanwhile.
function focusOpener(opener) {
    let back = opener;
    if (back && !document.contains(back)) {
        const sel = back.id
            ? `#${CSS.escape(back.id)}`
            : back.dataset && back.dataset.testid
              ? `[data-testid="${CSS.escape(back.dataset.testid)}"]` +
                (back.dataset.recordId ? `[data-record-id="${CSS.escape(back.dataset.recordId)}"]` : "")
              : null;
        back = sel ? document.querySelector(sel) : null;
    }
    if (back && typeof back.focus === "function") back.focus();
}

// keepFocusIn makes Tab and Shift+Tab cycle within dlg.
function keepFocusIn(dlg, e) {
    const items = Array.from(dlg.querySelectorAll(FOCUSABLE)).filter(
        (x) => x.offsetParent !== null || x === document.activeElement,
    );
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    const outside = !dlg.contains(document.activeElement);
    if (e.shiftKey && (document.activeElement === first || outside)) {
        e.preventDefault();
        last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || outside)) {
        e.preventDefault();
        first.focus();
    }
}

// ---------------------------------------------------------------------------
// Language switch

// mountLangSwitch fills container with a labelled <select> (id lang-switch)
// that switches the language of the page (and the banner).
export function mountLangSwitch(container) {
    const select = h(
        "select",
        {
            id: "lang-switch",
            class: "lang-switch",
            dataset: { testid: "lang-switch" },
            attrs: { "aria-label": t("common.language") },
        },
        h("option", { value: "en", text: "English", attrs: { lang: "en" } }),
        h("option", { value: "es", text: "Español", attrs: { lang: "es" } }),
    );
    select.value = getLang();
    select.addEventListener("change", () => setLang(select.value));
    onLangChange((lang) => {
        select.value = lang;
        select.setAttribute("aria-label", t("common.language"));
    });
    clear(container).appendChild(select);
    return select;
}

// initPage translates the static markup (data-i18n attributes) now and on
// every language change, and mounts the language switch into #lang.
export function initPage() {
    translatePage(document);
    onLangChange(() => translatePage(document));
    const slot = document.getElementById("lang");
    if (slot) mountLangSwitch(slot);
}

// debounce returns fn delayed until calls stop for ms.
export function debounce(fn, ms) {
    let timer = null;
    return (...args) => {
        clearTimeout(timer);
        timer = setTimeout(() => fn(...args), ms);
    };
}
