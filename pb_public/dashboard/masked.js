// What a live session cannot see: the fields its policy masks now, shown on
// the session's row ("cardNumber hidden"). The masks in force apply to a
// live session from its next request, so an ended session shows none.
import { L } from "./state.js";
import { collectionName, loadPolicies } from "./api.js";

// the masked fields of each collection's policy, by collection name
const masks = store({ byPolicy: {} });

/** Loads the policies' masks (cached with the policies; `force` reloads). */
export async function loadSessionMasks(force = false) {
    try {
        const cache = await loadPolicies(force);
        const byPolicy = {};
        for (const p of cache?.records || []) {
            byPolicy[p.collection] = p.maskedFields && typeof p.maskedFields == "object" ? p.maskedFields : {};
        }
        masks.byPolicy = byPolicy;
    } catch {
        // unknown: no masks shown
    }
}

/** "cardNumber hidden" for each field the policy of a live session masks. */
export function maskedView(s, live) {
    return t.div({ className: "imp-masked-fields", "html-data-testid": "sessions-masked" }, () => {
        if (!live()) {
            return null;
        }
        const masked = masks.byPolicy[collectionName(s.targetCollection)] || {};
        return Object.keys(masked)
            .sort()
            .flatMap((collection) =>
                (Array.isArray(masked[collection]) ? masked[collection] : []).map((field) =>
                    t.span(
                        {
                            className: "label sm warning",
                            title: () => L("sessions.maskedTitle", { collection }),
                            "html-data-testid": "sessions-field-hidden",
                            "html-data-collection": collection,
                        },
                        () => L("sessions.fieldHidden", { field }),
                    ),
                ),
            );
    });
}
