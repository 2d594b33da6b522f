// Server access shared by the views: the policies (which collections are under
// one, and what they allow), names of actors and targets, and the dashboard's
// own flash messages for errors.
import { L, lib } from "./state.js";

export const SESSIONS = "impersonation_sessions";
export const AUDIT = "impersonation_audit";
export const POLICIES = "impersonation_policies";

const POLICY_TTL = 30 * 1000;

let policiesCache = null; // {at, productURL, enabled: Map(name -> policy), records: [policy records]}
let policiesPending = null;

/**
 * Loads the policy records (every collection under a policy, enabled or
 * not) and GET /api/impersonation/policies (the enabled ones, as the start
 * route sees them). Cached for a short while; `force` reloads.
 */
export function loadPolicies(force = false) {
    if (!force && policiesCache && Date.now() - policiesCache.at < POLICY_TTL) {
        return Promise.resolve(policiesCache);
    }
    if (!force && policiesPending) {
        return policiesPending;
    }
    policiesPending = (async () => {
        try {
            const [records, active] = await Promise.all([
                app.pb.collection(POLICIES).getFullList({ sort: "collection", requestKey: null }),
                lib.api.policies(),
            ]);
            const enabled = new Map();
            for (const p of active?.policies || []) {
                enabled.set(p.collection, p);
            }
            policiesCache = {
                at: Date.now(),
                productURL: active?.productURL || "/",
                enabled,
                records,
            };
            return policiesCache;
        } finally {
            policiesPending = null;
        }
    })();
    return policiesPending;
}

export function invalidatePolicies() {
    policiesCache = null;
}

/** The cached policies, or null when not loaded yet. */
export function cachedPolicies() {
    return policiesCache;
}

/** Name of the collection with this id or name (from the dashboard's store). */
export function collectionName(idOrName) {
    const c = app.store.collections?.find((c) => c.id == idOrName || c.name == idOrName);
    return c?.name || idOrName || "";
}

/** Whether a policy record (enabled or not) names this collection. */
export function hasPolicyRecord(cache, idOrName) {
    const name = collectionName(idOrName);
    return !!cache?.records?.some((r) => r.collection == name);
}

// ---------------------------------------------------------------------------
// Names of actors and targets

const people = new Map(); // "collectionId/id" -> {id, name, email, collectionName} | null (not found)
export const peopleVersion = store({ v: 0 });

function personKey(collectionId, id) {
    return (collectionId || "") + "/" + (id || "");
}

/** The known person, undefined while unknown, null when not found. */
export function person(collectionId, id) {
    peopleVersion.v; // dependency for reactive callers
    return people.get(personKey(collectionId, id));
}

export function rememberPerson(collectionId, record) {
    if (record?.id) {
        people.set(personKey(collectionId, record.id), {
            id: record.id,
            name: record.name || "",
            email: record.email || "",
            collectionName: record.collectionName || collectionName(collectionId),
        });
    }
}

/**
 * Resolves [collectionId, id] pairs to names and emails (superusers read
 * every collection), in few requests; unknown records are remembered as null.
 */
export async function resolvePeople(pairs) {
    const byCollection = new Map();
    for (const [collectionId, id] of pairs) {
        if (!collectionId || !id || people.has(personKey(collectionId, id))) {
            continue;
        }
        if (!byCollection.has(collectionId)) {
            byCollection.set(collectionId, new Set());
        }
        byCollection.get(collectionId).add(id);
    }
    if (!byCollection.size) {
        return;
    }

    await Promise.all(
        [...byCollection].map(async ([collectionId, idSet]) => {
            const ids = [...idSet];
            for (let i = 0; i < ids.length; i += 40) {
                const chunk = ids.slice(i, i + 40);
                const filter = chunk.map((id, n) => app.pb.filter(`id = {:id${n}}`, { ["id" + n]: id })).join(" || ");
                try {
                    const items = await app.pb.collection(collectionId).getFullList({
                        filter,
                        fields: "id,name,email,collectionName",
                        requestKey: null,
                    });
                    for (const r of items) {
                        rememberPerson(collectionId, r);
                    }
                } catch (err) {
                    if (err?.status == 401) {
                        app.checkApiError(err, false);
                    }
                    // an unknown or deleted collection: show the ids
                }
                for (const id of chunk) {
                    if (!people.has(personKey(collectionId, id))) {
                        people.set(personKey(collectionId, id), null);
                    }
                }
            }
        }),
    );
    peopleVersion.v++;
}

/**
 * Record ids whose email is `email` in the given collections (for filters
 * typed as an email).
 */
export async function idsByEmail(email, collectionIds) {
    const ids = [];
    await Promise.all(
        collectionIds.map(async (cid) => {
            try {
                const items = await app.pb.collection(cid).getFullList({
                    filter: app.pb.filter("email = {:email}", { email }),
                    fields: "id,name,email,collectionName",
                    requestKey: null,
                });
                for (const r of items) {
                    rememberPerson(cid, r);
                    ids.push(r.id);
                }
            } catch {
                // not an auth collection, or gone
            }
        }),
    );
    return ids;
}

/** Ids of the collections actors and targets may come from. */
export function peopleCollectionIds(cache) {
    const ids = new Set();
    const su = app.store.collections?.find((c) => c.name == "_superusers");
    if (su) {
        ids.add(su.id);
    }
    for (const r of cache?.records || []) {
        const c = app.store.collections?.find((c) => c.name == r.collection);
        if (c) {
            ids.add(c.id);
        }
    }
    for (const c of app.store.collections || []) {
        if (c.type == "auth") {
            ids.add(c.id);
        }
    }
    return [...ids];
}

// ---------------------------------------------------------------------------
// Messages

/**
 * Shows an API error as the dashboard's error toast: the catalogue's text of
 * its refusal code (errors.errorText), or `message` when given.
 */
export function flashError(err, message = "") {
    if (!err || err.isAbort) {
        return;
    }
    app.toasts.error(message || lib.errors.errorText(err) || err.message || L("common.error"), { duration: 6000 });
    if (err?.status << 0 === 401) {
        // the superuser's own login expired: the dashboard logs out
        app.checkApiError(err, false);
    }
}

export function flashSuccess(msg) {
    app.toasts.success(msg, { duration: 4000 });
}

/** Tells open views that sessions or consents changed. */
export function notifyChanged() {
    document.dispatchEvent(new CustomEvent("impersonation:changed"));
}
