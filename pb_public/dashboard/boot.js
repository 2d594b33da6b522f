// Bootstraps the extension once the dashboard has loaded it: the header link
// (its label follows the chosen language), the extension's stylesheet and the
// records view integration.
import { L, ui } from "./state.js";
import { installRecordsIntegration } from "./records.js";

const HREF = "#/impersonation";

export function boot() {
    const link = document.createElement("link");
    link.rel = "stylesheet";
    link.href = new URL("style.css", import.meta.url).href;
    document.head.appendChild(link);

    if (!app.store.headerLinks.some((l) => l.href == HREF)) {
        // before "Settings", like the dashboard's own sections
        const settings = app.store.headerLinks.findIndex((l) => l.href == "#/settings");
        const entry = { href: HREF, icon: "ri-spy-line", label: L("dash.nav") };
        if (settings >= 0) {
            app.store.headerLinks.splice(settings, 0, entry);
        } else {
            app.store.headerLinks.push(entry);
        }
    }
    watch(
        () => ui.lang,
        () => {
            const entry = app.store.headerLinks.find((l) => l.href == HREF);
            if (entry) {
                entry.label = L("dash.nav");
            }
        },
    );

    installRecordsIntegration();
}
