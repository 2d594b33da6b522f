// The API client of the plugin's UI: every /api/impersonation/* route, for
// a PocketBase JS SDK client (the dashboard's app.pb, a page's own). Errors
// are the SDK's ClientResponseError; errors.js turns them into text.
//
//   const api = impersonationApi(pb);
//   const { policies, productURL } = await api.policies();

const BASE = "/api/impersonation";

/** The routes, by meaning. */
export const ROUTES = {
    consent: BASE + "/consent",
    current: BASE + "/current",
    digests: BASE + "/digests",
    policies: BASE + "/policies",
    targets: BASE + "/targets",
    signIn: BASE + "/sign-in",
    sessions: BASE + "/sessions",
    end: (id) => `${BASE}/sessions/${encodeURIComponent(id)}/end`,
    requests: BASE + "/requests",
    approve: (id) => `${BASE}/requests/${encodeURIComponent(id)}/approve`,
    decline: (id) => `${BASE}/requests/${encodeURIComponent(id)}/decline`,
    verify: BASE + "/audit/verify",
    export: BASE + "/audit/export",
    health: BASE + "/health",
};

/** The calls of the plugin's routes through the SDK client pb. */
export function impersonationApi(pb) {
    // requestKey null: never cancelled by the SDK's auto-cancellation
    const send = (path, options = {}) => pb.send(path, { method: "GET", requestKey: null, ...options });
    return {
        /** The enabled policies the caller may act under, and the product's URL. */
        policies: () => send(ROUTES.policies),
        /** The auth collections staff can sign in to (anyone may ask). */
        signInCollections: () => send(ROUTES.signIn),
        /** A page of the records of collection the caller may impersonate. */
        targets: ({ collection, search = "", page = 1, perPage = 20 }) => {
            const query = { collection, page, perPage };
            if (search) {
                query.search = search;
            }
            return send(ROUTES.targets, { query });
        },
        /** Starts a session: {collection, record, reason, minutes, mode} -> {token, record, session}. */
        start: (body) => send(ROUTES.sessions, { method: "POST", body }),
        /** Ends a session now. */
        end: (id) => send(ROUTES.end(id), { method: "POST" }),
        /** Who the caller is acting as, or the sessions live on them. */
        current: () => send(ROUTES.current),
        /** Asks for access: {collection, record, reason, minutes, mode} -> the request. */
        ask: (body) => send(ROUTES.requests, { method: "POST", body }),
        /** The requests the caller asked ({asked}) and may answer ({toAnswer}). */
        requests: () => send(ROUTES.requests),
        /** Approves a request, maybe narrowed: {minutes?, mode?}. */
        approve: (id, body = {}) => send(ROUTES.approve(id), { method: "POST", body }),
        /** Declines a pending request, or withdraws an approved one. */
        decline: (id) => send(ROUTES.decline(id), { method: "POST" }),
        /** A page of the digests of the ended sessions on the caller, the latest first. */
        digests: ({ page = 1, perPage = 30 } = {}) => send(ROUTES.digests, { query: { page, perPage } }),
        /** The caller's own consent. */
        consent: () => send(ROUTES.consent),
        grantConsent: (hours) => send(ROUTES.consent, { method: "PUT", body: { hours } }),
        revokeConsent: () => send(ROUTES.consent, { method: "DELETE" }),
        /** The audit's state: the journal's backlog and lag, its size, the last verify (superusers). */
        health: (options = {}) => send(ROUTES.health, options),
        /** Whether the audit chain is whole (superusers). */
        verifyAudit: (options = {}) => send(ROUTES.verify, options),
        /** The URL of the audit export (superusers; the token goes in a header, never in it). */
        exportURL: (query) => {
            const url = new URL(pb.buildURL(ROUTES.export), window.location.href);
            for (const [k, v] of Object.entries(query || {})) {
                url.searchParams.set(k, v);
            }
            return url.href;
        },
    };
}
