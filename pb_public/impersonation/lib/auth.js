// The sign-in form shared by the user's page and the support console.
import { t, onLangChange } from "./i18n.js";
import { h, clear } from "./dom.js";

// renderLogin fills container with an email/password form for the auth
// collection `collection` (changeable under "Another account type" when
// allowCollection). onSuccess(authData) runs after a successful sign-in.
export function renderLogin(
    container,
    { pb, collection = "users", allowCollection = true, titleKey = "login.title", introKey, onSuccess },
) {
    const err = h("div", { class: "alert danger", id: "login-error", hidden: true, attrs: { role: "alert" } });
    const email = h("input", {
        id: "login-email",
        type: "email",
        name: "email",
        required: true,
        attrs: { autocomplete: "username" },
    });
    const password = h("input", {
        id: "login-password",
        type: "password",
        name: "password",
        required: true,
        attrs: { autocomplete: "current-password" },
    });
    const coll = h("input", {
        id: "login-collection",
        type: "text",
        name: "collection",
        value: collection,
        required: true,
        attrs: { autocomplete: "off", spellcheck: "false" },
    });
    const submit = h("button", {
        type: "submit",
        class: "btn block",
        id: "login-submit",
        dataset: { testid: "login-submit" },
    });

    const labels = {};
    const label = (forId, key) => (labels[key] = h("label", { htmlFor: forId, dataset: { i18n: key } }));
    const title = h("h1", { class: "login-title" });
    const intro = introKey ? h("p", { class: "hint" }) : null;
    const summary = h("summary", {});

    const form = h(
        "form",
        { class: "panel login-panel", id: "login-form", attrs: { novalidate: "" } },
        title,
        intro,
        h("div", { class: "field" }, label("login-email", "login.email"), email),
        h("div", { class: "field" }, label("login-password", "login.password"), password),
        allowCollection
            ? h(
                  "details",
                  { class: "login-more" },
                  summary,
                  h("div", { class: "field" }, label("login-collection", "login.collection"), coll),
              )
            : null,
        err,
        submit,
    );

    function paint() {
        title.textContent = t(titleKey);
        if (intro) intro.textContent = t(introKey);
        for (const [key, el] of Object.entries(labels)) el.textContent = t(key);
        summary.textContent = t("login.otherCollection");
        submit.textContent = t("login.title");
    }
    paint();
    const off = onLangChange(paint);

    form.addEventListener("submit", async (e) => {
        e.preventDefault();
        err.hidden = true;
        if (!email.value.trim() || !password.value) {
            err.textContent = t("login.missing");
            err.hidden = false;
            (email.value.trim() ? password : email).focus();
            return;
        }
        submit.disabled = true;
        submit.classList.add("loading");
        try {
            const auth = await pb
                .collection(coll.value.trim() || collection)
                .authWithPassword(email.value.trim(), password.value, { requestKey: null });
            off();
            if (onSuccess) await onSuccess(auth);
        } catch (ex) {
            // PocketBase answers 400 for a wrong email or password, 404 for an
            // unknown collection: both read as "cannot sign in with these".
            err.textContent =
                ex && (ex.status === 400 || ex.status === 404)
                    ? t("login.failed")
                    : (ex && ex.response && ex.response.message) || t("common.network");
            err.hidden = false;
            password.focus();
        } finally {
            submit.disabled = false;
            submit.classList.remove("loading");
        }
    });

    clear(container).appendChild(form);
    email.focus();
    return form;
}
