// Opener side of the impersonation hand-off (see README "The UI").
//
//   button.addEventListener('click', () => {
//     openImpersonation({ pb, collection: 'users', record: id, reason, minutes: 30, mode: 'read' })
//       .then(({ session, record }) => flash('success', ...))
//       .catch((err) => flash('error', errorText(err)));   // lib/errors.js
//   });
//
// It must be called synchronously inside the click handler: it opens the
// new tab first (popup blockers allow that), then starts the session with
// the caller's own auth (pb) and posts the token to the tab only, by
// postMessage to this origin. The token never appears in a URL and is never
// stored by this page; the caller's own login is untouched.

import { impersonationApi } from "./api.js";

export const HANDOFF_PATH = "/impersonation/handoff.html";
const READY_TIMEOUT = 15000;

// HandoffError is the rejection for a failure of the hand-off itself (the
// tab was blocked or closed, or never answered). Its message is in English;
// `code` is one of "popup_blocked", "tab_closed", "no_answer".
export class HandoffError extends Error {
    constructor(code, message) {
        super(message);
        this.name = "HandoffError";
        this.code = code;
    }
}

// openImpersonation opens the hand-off tab, starts a session on record (an
// id) of collection as the user of pb, and hands the token to the tab.
// Resolves {session, record}; rejects with the SDK's ClientResponseError
// when the start is refused (err.response.message is the refusal), or with
// a HandoffError. productURL (where the tab goes) defaults to the one
// GET /api/impersonation/policies answers.
export function openImpersonation({ pb, collection, record, reason = "", minutes, mode, productURL, breakGlass } = {}) {
    const tab = window.open(HANDOFF_PATH, "_blank");
    if (!tab) {
        return Promise.reject(
            new HandoffError(
                "popup_blocked",
                "The browser blocked the new tab. Allow pop-ups for this site and try again.",
            ),
        );
    }

    let readyResolve;
    const ready = new Promise((resolve) => {
        readyResolve = resolve;
    });
    const onMessage = (e) => {
        if (e.origin !== location.origin || e.source !== tab) return;
        if (e.data && e.data.type === "impersonation:ready") readyResolve();
    };
    window.addEventListener("message", onMessage);
    const cleanup = () => window.removeEventListener("message", onMessage);

    const body = { collection, record, reason };
    if (minutes !== undefined && minutes !== null && minutes !== "") body.minutes = Number(minutes);
    if (mode) body.mode = mode;
    if (breakGlass) body.breakGlass = true;

    const api = impersonationApi(pb);
    const target =
        productURL !== undefined
            ? Promise.resolve(productURL)
            : api.policies().then(
                  (r) => (r && typeof r.productURL === "string" ? r.productURL : "/"),
                  () => "/",
              );

    const start = api.start(body);

    return start
        .then(
            async (res) => {
                const session = res.session;
                try {
                    await waitReady(tab, ready);
                } catch (err) {
                    // nobody holds the token: end the session at once
                    if (session && session.id) api.end(session.id).catch(() => {});
                    throw err;
                }
                const url = await target;
                tab.postMessage(
                    { type: "impersonation:handoff", token: res.token, record: res.record, productURL: url },
                    location.origin,
                );
                return { session, record: res.record };
            },
            (err) => {
                try {
                    tab.close();
                } catch {
                    /* already gone */
                }
                throw err;
            },
        )
        .finally(cleanup);
}

// waitReady resolves once the tab said it is ready, rejects when it was
// closed or did not answer in time.
function waitReady(tab, ready) {
    return new Promise((resolve, reject) => {
        const started = Date.now();
        const poll = setInterval(() => {
            if (tab.closed) {
                clearInterval(poll);
                reject(new HandoffError("tab_closed", "The new tab was closed before the session was handed over."));
            } else if (Date.now() - started > READY_TIMEOUT) {
                clearInterval(poll);
                try {
                    tab.close();
                } catch {
                    /* ignore */
                }
                reject(new HandoffError("no_answer", "The new tab did not answer."));
            }
        }, 250);
        ready.then(() => {
            clearInterval(poll);
            resolve();
        });
    });
}
