// Whether the user was told of a session: the email's outcome the plugin
// records on the session (notified, or notifyError, a hidden field that
// superusers read), and whether the policy asked for one (notifyTarget).
import { L } from "./state.js";
import { collectionName, loadPolicies } from "./api.js";
import { badge, dateView } from "./ui.js";

// notifyTarget of each collection's policy, by collection name
const policies = store({ loaded: false, notify: {} });

/** Loads which policies email the user (once; `force` reloads). */
export async function loadMailPolicies(force = false) {
    try {
        const cache = await loadPolicies(force);
        const notify = {};
        for (const p of cache?.records || []) {
            notify[p.collection] = !!p.notifyTarget;
        }
        policies.notify = notify;
        policies.loaded = true;
    } catch {
        // unknown: shown as "no outcome yet"
    }
}

/** The mail cell of a session: told (when), not told (why) or not asked. */
export function mailView(s) {
    return t.div({ className: "imp-stack", "html-data-testid": "sessions-mail" }, () => {
        if (s.notified) {
            return [badge("success", () => L("mail.told"), "sessions-mail-told"), t.small(null, dateView(s.notified))];
        }
        if (s.notifyError) {
            return [
                badge("danger", () => L("mail.notTold"), "sessions-mail-failed"),
                t.small(
                    {
                        className: "txt-hint imp-mail-error",
                        title: s.notifyError,
                        "html-data-testid": "sessions-mail-error",
                    },
                    s.notifyError,
                ),
            ];
        }
        if (policies.loaded && policies.notify[collectionName(s.targetCollection)] === false) {
            return badge("", () => L("mail.notAsked"), "sessions-mail-not-asked");
        }
        return t.small({ className: "txt-hint", "html-data-testid": "sessions-mail-pending" }, () => L("mail.pending"));
    });
}
