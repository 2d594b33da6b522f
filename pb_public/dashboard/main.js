// PocketBase impersonation plugin: dashboard extension.
//
// PocketBase concatenates this file into /_/extensions.js (inside an async
// function of a module script); the other files of this directory are served
// under /_/extensions/impersonation/. The route is registered first and
// synchronously, while the dashboard still accepts routes; the rest loads
// from boot.js, and the dashboard's router may start before it has.
// It adds an "Impersonation" entry to the header (#/impersonation: Users,
// Sessions, Audit, Policies) and the Impersonate action to the records view
// of collections under a policy. The dashboard's extension API is
// experimental: what this relies on is listed in the README and pinned by the
// browser tests.
{
    const moduleURL = (name) => new URL("extensions/impersonation/" + name, import.meta.url).href;

    app.routes.superuserOnly("#/impersonation", async (route) => {
        try {
            const { impersonationPage } = await import(moduleURL("page.js"));
            return impersonationPage(route);
        } catch (err) {
            console.error("[impersonation] the page failed to load:", err);
            return t.div(
                { className: "page" },
                t.div(
                    { className: "page-content" },
                    t.div(
                        { className: "alert danger" },
                        "The impersonation page failed to load: " + (err?.message || err),
                    ),
                ),
            );
        }
    });

    try {
        const { boot } = await import(moduleURL("boot.js"));
        boot();
    } catch (err) {
        // the rest of the dashboard keeps working
        console.error("[impersonation] the dashboard extension failed to load:", err);
    }
}
