// The sign-in form shared by the user's page and the support console.
import { t, onLangChange } from "./i18n.js";
import { h, clear } from "./dom.js";

// renderLogin fills container with an email/password form for the auth
// collection `collection`. With allowCollection, another collection can be
// chosen: from `collections` (a list of names, shown as a choice when it
// has more than one), else typed under "Another account type".
// onSuccess(authData) runs after a successful sign-in.
export function renderLogin(
    container,
    {
        pb,
        collection = "users",
        collections = [],
        allowCollection = true,
        titleKey = "login.title",
        introKey,
        onSuccess,
    },
) {
    const c = loginControls(collection, allowCollection ? collections : []);
    const { form, paint } = loginForm(c, { titleKey, introKey, allowCollection });
    paint();
    const off = onLangChange(paint);
    form.addEventListener("submit", (e) => {
        e.preventDefault();
        signIn(pb, c, collection).then((auth) => {
            if (!auth) return;
            off();
            if (onSuccess) return onSuccess(auth);
        });
    });
    clear(container).appendChild(form);
    c.email.focus();
    return form;
}

// loginControls makes the form's controls: email, password, the collection
// (a choice among collections when there are several, else a text field),
// the error line and the submit button.
function loginControls(collection, collections) {
    const choice = collections.length > 1;
    const coll = choice
        ? h(
              "select",
              { id: "login-collection", name: "collection", dataset: { testid: "login-collection" } },
              collections.map((name) => h("option", { value: name, text: name })),
          )
        : h("input", {
              id: "login-collection",
              type: "text",
              name: "collection",
              value: collection,
              required: true,
              attrs: { autocomplete: "off", spellcheck: "false" },
          });
    if (choice) coll.value = collections.includes(collection) ? collection : collections[0];
    return {
        choice,
        coll,
        err: h("div", { class: "alert danger", id: "login-error", hidden: true, attrs: { role: "alert" } }),
        email: h("input", {
            id: "login-email",
            type: "email",
            name: "email",
            required: true,
            attrs: { autocomplete: "username" },
        }),
        password: h("input", {
            id: "login-password",
            type: "password",
            name: "password",
            required: true,
            attrs: { autocomplete: "current-password" },
        }),
        submit: h("button", {
            type: "submit",
            class: "btn block",
            id: "login-submit",
            dataset: { testid: "login-submit" },
        }),
    };
}

// loginForm lays the controls out; paint() writes its texts in the chosen
// language.
function loginForm(c, { titleKey, introKey, allowCollection }) {
    const labels = {};
    const label = (forId, key) => (labels[key] = h("label", { htmlFor: forId, dataset: { i18n: key } }));
    const title = h("h1", { class: "login-title" });
    const intro = introKey ? h("p", { class: "hint" }) : null;
    const summary = h("summary", {});
    const collField = h("div", { class: "field" }, label("login-collection", "login.collection"), c.coll);
    const form = h(
        "form",
        { class: "panel login-panel", id: "login-form", attrs: { novalidate: "" } },
        title,
        intro,
        // a choice of collections shows at once: where to sign in is no secret
        c.choice ? collField : null,
        h("div", { class: "field" }, label("login-email", "login.email"), c.email),
        h("div", { class: "field" }, label("login-password", "login.password"), c.password),
        allowCollection && !c.choice ? h("details", { class: "login-more" }, summary, collField) : null,
        c.err,
        c.submit,
    );
    const paint = () => {
        title.textContent = t(titleKey);
        if (intro) intro.textContent = t(introKey);
        for (const [key, el] of Object.entries(labels)) el.textContent = t(key);
        summary.textContent = t("login.otherCollection");
        c.submit.textContent = t("login.title");
    };
    return { form, paint };
}

// signIn checks the form and signs in; resolves the auth data, or null
// after showing why not.
async function signIn(pb, c, collection) {
    const { email, password, err, submit } = c;
    err.hidden = true;
    if (!email.value.trim() || !password.value) {
        err.textContent = t("login.missing");
        err.hidden = false;
        (email.value.trim() ? password : email).focus();
        return null;
    }
    submit.disabled = true;
    submit.classList.add("loading");
    try {
        return await pb
            .collection(c.coll.value.trim() || collection)
            .authWithPassword(email.value.trim(), password.value, { requestKey: null });
    } catch (ex) {
        // PocketBase answers 400 for a wrong email or password, 404 for an
        // unknown collection: both read as "cannot sign in with these".
        err.textContent =
            ex && (ex.status === 400 || ex.status === 404)
                ? t("login.failed")
                : (ex && ex.response && ex.response.message) || t("common.network");
        err.hidden = false;
        password.focus();
        return null;
    } finally {
        submit.disabled = false;
        submit.classList.remove("loading");
    }
}
