// The hand-off tab (see lib/handoff.js for the opener side). It accepts the
// token only from the window that opened it, on this origin, keeps it in
// this tab's sessionStorage (never localStorage, never a URL), cuts the link
// to the opener and goes to the product, where banner.js picks it up.
import { t, onLangChange, translatePage } from "./lib/i18n.js";
import { mountLangSwitch } from "./lib/ui.js";

const KEY = "pocketbase_impersonation";
const TIMEOUT = 15000;

const status = document.getElementById("handoff-status");
let state = "waiting";
function show(next) {
    state = next;
    status.dataset.state = next;
    status.textContent = t("handoff." + next);
    if (next !== "waiting")
        document.getElementById("handoff-title").textContent = t(
            next === "done" ? "handoff.title" : "handoff.failedTitle",
        );
}
translatePage(document);
onLangChange(() => {
    translatePage(document);
    show(state);
});
mountLangSwitch(document.getElementById("lang"));

// productTarget keeps the hand-off on this origin: anything else goes to /.
function productTarget(url) {
    try {
        const u = new URL(url || "/", location.origin);
        return u.origin === location.origin ? u.href : location.origin + "/";
    } catch {
        return location.origin + "/";
    }
}

const opener = window.opener;
if (!opener) {
    show("noOpener");
} else {
    let done = false;
    const onMessage = (e) => {
        if (done || e.origin !== location.origin || e.source !== opener) return;
        const d = e.data;
        if (!d || d.type !== "impersonation:handoff" || typeof d.token !== "string" || !d.token) return;
        done = true;
        window.removeEventListener("message", onMessage);
        clearInterval(ping);
        clearTimeout(timer);
        const record = d.record && typeof d.record === "object" ? d.record : null;
        sessionStorage.setItem(KEY, JSON.stringify({ token: d.token, record }));
        window.opener = null;
        show("done");
        location.replace(productTarget(d.productURL));
    };
    window.addEventListener("message", onMessage);

    // say "ready" until the opener answers (it may still be starting the session)
    const ready = () => {
        try {
            opener.postMessage({ type: "impersonation:ready" }, location.origin);
        } catch {
            /* opener gone */
        }
    };
    ready();
    const ping = setInterval(ready, 300);
    const timer = setTimeout(() => {
        if (done) return;
        done = true;
        clearInterval(ping);
        window.removeEventListener("message", onMessage);
        window.opener = null;
        show("timeout");
    }, TIMEOUT);
}
