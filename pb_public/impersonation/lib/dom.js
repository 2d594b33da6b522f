// The minimal renderer of the pages, the console and the banner (the
// dashboard uses PocketBase's own toolkit): h() builds elements, and every
// string goes in as text (textContent / text nodes), never as HTML.
//
//   fill(box, h("p", { class: "hint", text: t("user.intro") }), h("a", { href }, name));

// h creates an element. props: class, id, text, type, href, for, hidden,
// disabled, value, dataset {}, attrs {} (any attribute, e.g. aria-*), on {}
// (event listeners), style {} (CSSOM, allowed under a strict CSP).
// Children: nodes, strings (as text), null/false (skipped) or arrays.
export function h(tag, props = {}, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
        if (v === undefined || v === null || v === false) continue;
        switch (k) {
            case "class":
                el.className = v;
                break;
            case "text":
                el.textContent = String(v);
                break;
            case "dataset":
                Object.assign(el.dataset, v);
                break;
            case "attrs":
                for (const [a, av] of Object.entries(v))
                    if (av !== undefined && av !== null && av !== false) el.setAttribute(a, String(av));
                break;
            case "on":
                for (const [ev, fn] of Object.entries(v)) el.addEventListener(ev, fn);
                break;
            case "style":
                for (const [sk, sv] of Object.entries(v)) el.style.setProperty(sk, sv);
                break;
            case "hidden":
            case "disabled":
            case "required":
            case "checked":
            case "open":
                el[k] = Boolean(v);
                break;
            case "value":
                el.value = v;
                break;
            default:
                el.setAttribute(k === "htmlFor" ? "for" : k, String(v));
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
