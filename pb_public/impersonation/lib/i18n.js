// The chosen language and the texts of the catalogue (messages.js) in it,
// for the pages, the console, the banner and the dashboard extension.
//
//   import { t, setLang, onLangChange } from "/impersonation/lib/i18n.js";
//   t("banner.left", { time: "42 min" })   // "42 min left" / "Quedan 42 min"
//
// The language is the one chosen last (localStorage "pb_impersonation_lang";
// in an impersonation tab, sessionStorage, so that tab writes nothing to
// localStorage), else the browser's (navigator.languages), else English.
// Dates and durations: dates.js; server errors: errors.js.
import { messages } from "./messages.js";

export const LANGS = ["en", "es"];
export const LANG_KEY = "pb_impersonation_lang";
const TAB_KEY = "pocketbase_impersonation";

/** Merges a dictionary (flat "key": "text") into a language: an app's own texts. */
export function addMessages(lang, obj) {
    if (!messages[lang]) {
        messages[lang] = {};
    }
    Object.assign(messages[lang], obj);
}

// ---------------------------------------------------------------------------
// Language

function storageGet(store, key) {
    try {
        return store.getItem(key);
    } catch {
        return null;
    }
}

// inImpersonationTab: banner.js keeps the impersonation in this tab's
// sessionStorage; such a tab writes nothing to localStorage.
function inImpersonationTab() {
    return storageGet(window.sessionStorage, TAB_KEY) !== null;
}

function detect() {
    const chosen = storageGet(window.sessionStorage, LANG_KEY) || storageGet(window.localStorage, LANG_KEY);
    if (LANGS.includes(chosen)) {
        return chosen;
    }
    const prefs = navigator.languages?.length ? navigator.languages : [navigator.language || "en"];
    for (const p of prefs) {
        const base = String(p || "")
            .toLowerCase()
            .split("-")[0];
        if (LANGS.includes(base)) {
            return base;
        }
    }
    return "en";
}

let lang = detect();
const listeners = new Set();
document.documentElement.lang = lang;

export function getLang() {
    return lang;
}

function switchTo(next) {
    if (next === lang) {
        return;
    }
    lang = next;
    document.documentElement.lang = lang;
    for (const fn of [...listeners]) {
        try {
            fn(lang);
        } catch (e) {
            setTimeout(() => {
                throw e;
            });
        }
    }
}

/** Switches the language, remembers it and tells every listener. */
export function setLang(next) {
    if (!LANGS.includes(next)) {
        return;
    }
    try {
        const store = inImpersonationTab() ? window.sessionStorage : window.localStorage;
        store.setItem(LANG_KEY, next);
    } catch {
        // storage disabled: this page only
    }
    switchTo(next);
}

/** Calls fn(lang) after every switch; returns the unsubscriber. */
export function onLangChange(fn) {
    listeners.add(fn);
    return () => listeners.delete(fn);
}

// another tab chose a language: follow it (except in an impersonation tab
// that chose its own)
window.addEventListener("storage", (e) => {
    if (e.key !== LANG_KEY || !LANGS.includes(e.newValue)) {
        return;
    }
    if (storageGet(window.sessionStorage, LANG_KEY)) {
        return;
    }
    switchTo(e.newValue);
});

// ---------------------------------------------------------------------------
// Texts

/** Whether the catalogue has a text for key (in English, the fallback). */
export function has(key) {
    return Object.prototype.hasOwnProperty.call(messages.en, key);
}

/**
 * The text of key in the current language (English, then the key itself,
 * when missing), with {name} placeholders filled from vars. A text
 * "one|other" picks its form by vars.n (Intl.PluralRules).
 */
export function t(key, vars) {
    let s = messages[lang]?.[key] ?? messages.en[key] ?? key;
    if (s.includes("|") && typeof vars?.n === "number") {
        const [one, other] = s.split("|");
        s = new Intl.PluralRules(lang).select(vars.n) === "one" ? one : other;
        vars = { ...vars, n: new Intl.NumberFormat(lang).format(vars.n) };
    }
    if (!vars) {
        return s;
    }
    return s.replace(/\{(\w+)\}/g, (m, k) => (Object.prototype.hasOwnProperty.call(vars, k) ? String(vars[k]) : m));
}

/** The text with its first letter in upper case ("stopped" as a label: "Stopped"). */
export function capitalized(key, vars) {
    const s = t(key, vars);
    return s.charAt(0).toLocaleUpperCase(lang) + s.slice(1);
}

const ATTRS = [
    ["placeholder", "i18nPlaceholder", "data-i18n-placeholder"],
    ["aria-label", "i18nAriaLabel", "data-i18n-aria-label"],
    ["title", "i18nTitle", "data-i18n-title"],
];

/**
 * Sets the text of every [data-i18n] element under root (and the
 * data-i18n-placeholder / -aria-label / -title attributes).
 */
export function translatePage(root = document) {
    for (const el of root.querySelectorAll("[data-i18n]")) {
        el.textContent = t(el.dataset.i18n);
    }
    for (const [attr, data, selector] of ATTRS) {
        for (const el of root.querySelectorAll(`[${selector}]`)) {
            el.setAttribute(attr, t(el.dataset[data]));
        }
    }
}
