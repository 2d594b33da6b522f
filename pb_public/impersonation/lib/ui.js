// Small DOM helpers shared by the impersonation pages. Every string goes in
// as text (textContent / text nodes), never as HTML.
import { t, getLang, setLang, onLangChange, translatePage, serverText, fieldText } from './i18n.js';

// h creates an element. props: class, id, text, type, href, for, hidden,
// disabled, value, dataset {}, attrs {} (any attribute, e.g. aria-*), on {}
// (event listeners), style {} (CSSOM, allowed under a strict CSP).
// Children: nodes, strings (as text), null/false (skipped) or arrays.
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    switch (k) {
      case 'class': el.className = v; break;
      case 'text': el.textContent = String(v); break;
      case 'dataset': Object.assign(el.dataset, v); break;
      case 'attrs': for (const [a, av] of Object.entries(v)) if (av !== undefined && av !== null && av !== false) el.setAttribute(a, String(av)); break;
      case 'on': for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn); break;
      case 'style': for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, sv); break;
      case 'hidden': case 'disabled': case 'required': case 'checked': case 'open': el[k] = Boolean(v); break;
      case 'value': el.value = v; break;
      default: el.setAttribute(k === 'htmlFor' ? 'for' : k, String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// clear removes every child of el.
export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// fill replaces the children of el (children as for h: null/false skipped).
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// parseDate reads a PocketBase date ("2026-01-02 03:04:05.678Z") or an ISO
// string; null for empty or invalid values.
export function parseDate(s) {
  if (!s) return null;
  const d = new Date(String(s).replace(' ', 'T'));
  return isNaN(d.getTime()) ? null : d;
}

// errorMessage is the message to show for a failed request: the server's
// (a refusal explains itself; known ones in the page's language), or a
// generic one.
export function errorMessage(err) {
  if (err && err.isAbort) return '';
  const msg = err && err.response && typeof err.response.message === 'string' ? err.response.message : '';
  if (msg) return serverText(msg);
  if (err && err.status === 0) return t('common.network');
  return t('common.error');
}

// fieldErrors flattens PocketBase's field errors ({data: {field: {code,
// message, params}}}) into texts in the page's language.
export function fieldErrors(err) {
  const out = {};
  const data = err && err.response && err.response.data;
  if (data && typeof data === 'object') {
    for (const [k, v] of Object.entries(data)) {
      if (v && typeof v.message === 'string') out[k] = fieldText(v);
    }
  }
  return out;
}

// tokenClaims decodes a JWT's payload without verifying it (display only).
export function tokenClaims(token) {
  try {
    const part = String(token || '').split('.')[1];
    if (!part) return null;
    const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(b64 + '==='.slice((b64.length + 3) % 4)),
      (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')).join(''));
    const claims = JSON.parse(json);
    return claims && typeof claims === 'object' ? claims : null;
  } catch {
    return null;
  }
}

// displayName is a record's name, else its username, email or id.
export function displayName(rec) {
  if (!rec) return '';
  return String(rec.name || rec.username || rec.email || rec.id || '');
}

// ---------------------------------------------------------------------------
// Flash messages (toasts)

let flashBox = null;

function flashContainer() {
  if (flashBox && document.body.contains(flashBox)) return flashBox;
  flashBox = document.getElementById('flashes');
  if (!flashBox) {
    flashBox = h('div', { id: 'flashes', class: 'flashes' });
    document.body.appendChild(flashBox);
  }
  return flashBox;
}

// flash shows a message: type is "success", "error" or "info". Success and
// info messages go after 6 s, errors after 12 s; each has a close button.
export function flash(type, message) {
  if (!message) return null;
  const box = flashContainer();
  const close = h('button', {
    type: 'button', class: 'flash-close', text: '×',
    attrs: { 'aria-label': t('common.close') },
  });
  const item = h('div', {
    class: `flash ${type}`,
    dataset: { testid: 'flash', type },
    attrs: { role: type === 'error' ? 'alert' : 'status' },
  }, h('span', { class: 'flash-text', text: message }), close);
  const remove = () => item.remove();
  close.addEventListener('click', remove);
  box.appendChild(item);
  setTimeout(remove, type === 'error' ? 12000 : 6000);
  return item;
}

// ---------------------------------------------------------------------------
// Modal dialog: native <dialog> (the rest of the page becomes inert), with
// the focus kept inside by Tab/Shift+Tab and Escape to close.

const FOCUSABLE = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

// openDialog shows a modal. content: nodes for the body; actions: nodes for
// the footer. Returns {el, close}. onClose runs once when it closes.
export function openDialog({ id, title, content = [], actions = [], onClose, testid } = {}) {
  const titleId = (id || 'dialog') + '-title';
  const opener = document.activeElement;
  const dlg = h('dialog', {
    class: 'modal', id, dataset: testid ? { testid } : undefined,
    attrs: { 'aria-labelledby': titleId },
  },
  h('div', { class: 'modal-header' },
    h('h2', { id: titleId, class: 'modal-title', text: title }),
    h('button', { type: 'button', class: 'btn-icon modal-close', text: '×', attrs: { 'aria-label': t('common.close') }, on: { click: () => close() } })),
  h('div', { class: 'modal-body' }, content),
  h('div', { class: 'modal-footer' }, actions));

  let closed = false;
  function close() {
    if (closed) return;
    closed = true;
    if (dlg.open) dlg.close();
    dlg.remove();
    let back = opener;
    if (back && !document.contains(back)) {
      // the opener was re-rendered meanwhile: find its twin
      const sel = back.id ? `#${CSS.escape(back.id)}`
        : back.dataset && back.dataset.testid ? `[data-testid="${CSS.escape(back.dataset.testid)}"]` + (back.dataset.recordId ? `[data-record-id="${CSS.escape(back.dataset.recordId)}"]` : '')
          : null;
      back = sel ? document.querySelector(sel) : null;
    }
    if (back && typeof back.focus === 'function') back.focus();
    if (onClose) onClose();
  }
  dlg.addEventListener('cancel', (e) => { e.preventDefault(); close(); });
  dlg.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') { e.preventDefault(); close(); return; }
    if (e.key !== 'Tab') return;
    const items = Array.from(dlg.querySelectorAll(FOCUSABLE)).filter((x) => x.offsetParent !== null || x === document.activeElement);
    if (!items.length) return;
    const first = items[0];
    const last = items[items.length - 1];
    if (e.shiftKey && (document.activeElement === first || !dlg.contains(document.activeElement))) {
      e.preventDefault(); last.focus();
    } else if (!e.shiftKey && (document.activeElement === last || !dlg.contains(document.activeElement))) {
      e.preventDefault(); first.focus();
    }
  });
  // a click on the backdrop (outside the dialog box) closes it
  dlg.addEventListener('mousedown', (e) => { if (e.target === dlg) close(); });
  document.body.appendChild(dlg);
  dlg.showModal();
  const autofocus = dlg.querySelector('[autofocus]') || dlg.querySelector('.modal-body ' + FOCUSABLE.split(',').join(', .modal-body '));
  if (autofocus) autofocus.focus();
  return { el: dlg, close };
}

// ---------------------------------------------------------------------------
// Language switch

// mountLangSwitch fills container with a labelled <select> (id lang-switch)
// that switches the language of the page (and the banner).
export function mountLangSwitch(container) {
  const select = h('select', {
    id: 'lang-switch', class: 'lang-switch',
    dataset: { testid: 'lang-switch' },
    attrs: { 'aria-label': t('common.language') },
  },
  h('option', { value: 'en', text: 'English', attrs: { lang: 'en' } }),
  h('option', { value: 'es', text: 'Español', attrs: { lang: 'es' } }));
  select.value = getLang();
  select.addEventListener('change', () => setLang(select.value));
  onLangChange((lang) => {
    select.value = lang;
    select.setAttribute('aria-label', t('common.language'));
  });
  clear(container).appendChild(select);
  return select;
}

// initPage translates the static markup (data-i18n attributes) now and on
// every language change, and mounts the language switch into #lang.
export function initPage() {
  translatePage(document);
  onLangChange(() => translatePage(document));
  const slot = document.getElementById('lang');
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
