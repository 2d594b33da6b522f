// Acme Notes, the demo product. An ordinary PocketBase JS SDK app with the
// default auth store (localStorage "pocketbase_auth"); /impersonation/banner.js,
// loaded before this module, gives an impersonation tab its own store.
import PocketBase from "/impersonation/vendor/pocketbase.es.mjs";
import { t, onLangChange } from "/impersonation/lib/i18n.js";
import { formatDate, formatRelative, msUntil } from "/impersonation/lib/dates.js";
import { h, clear, fill } from "/impersonation/lib/dom.js";
import { flash, initPage } from "/impersonation/lib/ui.js";
import { errorText } from "/impersonation/lib/errors.js";
import { displayName, tokenClaims } from "/impersonation/lib/records.js";
import { impersonationApi } from "/impersonation/lib/api.js";
import "./messages.js";
import { renderLogin } from "/impersonation/lib/auth.js";

const pb = new PocketBase("/");
pb.autoCancellation(false);

const app = document.getElementById("app");
const who = document.getElementById("who");

let record = null; // the signed-in user's record, fresh from the API
let live = []; // sessions live on the user (GET /api/impersonation/current)
let loadError = "";
let shownToken = null;

initPage();
document.getElementById("logout").addEventListener("click", () => pb.authStore.clear());
onLangChange(() => paint());
// the store changes on login, logout, and when the banner ends an impersonation
pb.authStore.onChange(() => {
    if (pb.authStore.token !== shownToken) show();
});
show();

function impersonating() {
    const c = tokenClaims(pb.authStore.token);
    return !!(c && c.act);
}

async function show() {
    shownToken = pb.authStore.token;
    record = null;
    live = [];
    loadError = "";
    if (!pb.authStore.isValid || !pb.authStore.record) {
        who.hidden = true;
        app.removeAttribute("aria-busy");
        const wrap = h("div", { class: "login-wrap" });
        clear(app).appendChild(wrap);
        renderLogin(wrap, {
            pb,
            collection: "users",
            allowCollection: false,
            titleKey: "product.loginTitle",
            introKey: "product.loginIntro",
        });
        return;
    }
    who.hidden = false;
    app.setAttribute("aria-busy", "true");
    const auth = pb.authStore.record;
    try {
        record = await pb.collection(auth.collectionName || auth.collectionId).getOne(auth.id);
        if (!impersonating()) {
            const cur = await impersonationApi(pb).current();
            live = Array.isArray(cur.liveSessions) ? cur.liveSessions : [];
        }
    } catch (err) {
        if (err && err.isAbort) return;
        record = auth;
        loadError = errorText(err);
    }
    paint();
}

function paint() {
    if (!record) return;
    app.removeAttribute("aria-busy");
    const name = displayName(record);
    fill(
        app,
        h(
            "div",
            { class: "page-header" },
            h("h1", { text: t("product.hello", { name }) }),
            h("p", { class: "hint", text: t("product.intro") }),
        ),
        loadError ? h("p", { class: "alert danger", attrs: { role: "alert" }, text: loadError }) : null,
        supportNotice(live.filter((s) => msUntil(s.expires) > 0)),
        yourData(name),
        h(
            "section",
            { class: "panel", attrs: { "aria-labelledby": "profile-title" } },
            h("h2", { id: "profile-title", text: t("product.profile") }),
            h("p", { class: "hint", text: t("product.profileHint") }),
            profileForm(),
        ),
        h(
            "section",
            { class: "panel", attrs: { "aria-labelledby": "support-title" } },
            h("h2", { id: "support-title", text: t("product.supportTitle") }),
            h("p", { class: "hint", text: t("product.supportHint") }),
            h("p", {}, h("a", { class: "btn secondary", href: "/impersonation/", text: t("product.settingsLink") })),
        ),
    );
}

// supportNotice: "support is viewing your account" while sessions are live
// on the user.
function supportNotice(liveNow) {
    if (!liveNow.length) return null;
    return h(
        "div",
        {
            class: "alert warning",
            id: "support-viewing",
            dataset: { testid: "support-viewing" },
            attrs: { role: "status" },
        },
        liveNow.map((s) =>
            h("p", {
                text: t("product.supportViewing", {
                    actor: (s.actor && (s.actor.name || s.actor.email)) || "",
                    until: formatDate(s.expires),
                }),
            }),
        ),
        h("p", {}, h("a", { href: "/impersonation/", text: t("product.manage") })),
    );
}

function avatarOf(name) {
    if (record.avatar) {
        return h("img", {
            class: "avatar lg",
            src: pb.files.getURL(record, record.avatar, { thumb: "144x144" }),
            alt: "",
        });
    }
    return h("span", {
        class: "avatar lg",
        attrs: { "aria-hidden": "true" },
        text: (name.trim()[0] || "?").toUpperCase(),
    });
}

// yourData: the user's record, as the product shows it.
function yourData(name) {
    return h(
        "section",
        {
            class: "panel",
            id: "your-data",
            dataset: { testid: "your-data" },
            attrs: { "aria-labelledby": "your-data-title" },
        },
        h("h2", { id: "your-data-title", class: "visually-hidden", text: t("product.yourData") }),
        h(
            "div",
            { class: "profile" },
            avatarOf(name),
            h(
                "div",
                { class: "profile-body" },
                h("h2", { dataset: { testid: "user-name" }, text: name }),
                h("p", { class: "hint", dataset: { testid: "user-email" }, text: record.email || "" }),
                facts(),
            ),
        ),
    );
}

function facts() {
    return h(
        "dl",
        { class: "facts" },
        h("dt", { text: t("product.id") }),
        h("dd", { class: "mono", dataset: { testid: "user-id" }, text: record.id }),
        h("dt", { text: t("product.email") }),
        // absent when the user hides it, or when support may not see it (a masked field)
        h("dd", { dataset: { testid: "user-email-fact" }, text: record.email || t("product.hidden") }),
        h("dt", { text: t("product.verified") }),
        h("dd", { text: record.verified ? t("common.yes") : t("common.no") }),
        record.created
            ? [
                  h("dt", { text: t("product.joined") }),
                  h("dd", { text: `${formatDate(record.created)} (${formatRelative(record.created)})` }),
              ]
            : null,
    );
}

// profileForm edits the user's name (a write: refused in a read-only
// impersonation).
function profileForm() {
    const nameInput = h("input", {
        id: "profile-name",
        name: "name",
        type: "text",
        value: record.name || "",
        maxlength: "255",
        attrs: { autocomplete: "name" },
    });
    const save = h("button", {
        type: "submit",
        class: "btn",
        id: "profile-save",
        dataset: { testid: "profile-save" },
        text: t("product.save"),
    });
    const form = h(
        "form",
        { class: "edit-name", id: "profile-form" },
        h("div", { class: "field" }, h("label", { htmlFor: "profile-name", text: t("product.name") }), nameInput),
        save,
    );
    form.addEventListener("submit", async (e) => {
        e.preventDefault();
        save.disabled = true;
        try {
            record = await pb.collection(record.collectionName).update(record.id, { name: nameInput.value.trim() });
            flash("success", t("product.saved"));
            paint();
            document.getElementById("profile-name")?.focus();
        } catch (err) {
            flash("error", errorText(err));
            save.disabled = false;
        }
    });
    return form;
}
