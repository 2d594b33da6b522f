// Users tab: the records of each collection under a policy that the
// superuser may impersonate (GET /api/impersonation/targets), searchable and
// paged, with consent status, expiry, whether a session is live, and the
// Impersonate action.
import { L, fmtDate, fmtDuration, lib, msLeft, startClock } from "./state.js";
import { cachedPolicies, flashError, loadPolicies, peopleVersion, resolvePeople } from "./api.js";
import { badge, cell, listTable, pager, personText } from "./ui.js";
import { openImpersonateDialog } from "./impersonate.js";

const PER_PAGE = 30;

export function usersTab(route) {
    const u = usersModel(route);
    const onChanged = () => u.load();
    let stopClock;
    return t.div(
        {
            className: "imp-tab imp-users",
            "html-data-testid": "users-tab",
            onmount: () => {
                stopClock = startClock();
                document.addEventListener("impersonation:changed", onChanged);
                u.init();
            },
            onunmount: () => {
                stopClock?.();
                u.stopSearch();
                app.pb.cancelRequest(u.uid);
                document.removeEventListener("impersonation:changed", onChanged);
            },
        },
        t.div({ className: "imp-toolbar" }, () => collectionPicker(u), searchForm(u), refresh(u)),
        () => noPolicyNote(u.data),
        usersTable(u.data),
        pager(u.data, (p) => u.load(p), "users-pager"),
    );
}

/** The tab's state (the policy collections, the search, the page) and its loaders. */
function usersModel(route) {
    const uid = "imp_users_" + app.utils.randomString();
    const data = store({
        collections: [],
        collection: route?.query?.collection?.[0] || "",
        searchInput: "",
        search: "",
        page: 1,
        totalPages: 0,
        totalItems: 0,
        items: [],
        isLoading: false,
        loaded: false,
        error: "",
    });
    const u = { uid, data };
    u.load = (page = data.page) => loadUsers(u, page);
    u.init = () => initUsers(u);
    let searchTimer;
    u.stopSearch = () => clearTimeout(searchTimer);
    /** Searches now (submit), or once typing pauses. */
    u.search = (now) => {
        clearTimeout(searchTimer);
        const run = () => {
            if (now || data.search != data.searchInput.trim()) {
                data.search = data.searchInput.trim();
                u.load(1);
            }
        };
        if (now) {
            run();
        } else {
            searchTimer = setTimeout(run, 350);
        }
    };
    return u;
}

async function initUsers(u) {
    const data = u.data;
    data.isLoading = true;
    try {
        const cache = await loadPolicies();
        data.collections = [...cache.enabled.keys()];
        if (!data.collections.includes(data.collection)) {
            data.collection = data.collections[0] || "";
        }
    } catch (err) {
        data.isLoading = false;
        data.error = err?.response?.message || err?.message || "";
        flashError(err);
        return;
    }
    await u.load(1);
}

async function loadUsers({ uid, data }, page) {
    if (!data.collection) {
        data.items = [];
        data.isLoading = false;
        data.loaded = true;
        return;
    }
    data.isLoading = true;
    try {
        const res = await app.pb.send("/api/impersonation/targets", {
            query: { collection: data.collection, search: data.search, page, perPage: PER_PAGE },
            requestKey: uid,
        });
        data.items = res.items || [];
        data.page = res.page || page;
        data.totalPages = res.totalPages || 0;
        data.totalItems = res.totalItems || 0;
        data.error = "";
        data.isLoading = false;
        data.loaded = true;
        // actors of live sessions, when the route did not name them
        const su = app.store.collections?.find((c) => c.name == "_superusers")?.id;
        resolvePeople(
            data.items
                .filter((i) => i.liveSession?.actor && !i.liveSession.actorName)
                .map((i) => [su, i.liveSession.actor]),
        ).catch(() => {});
    } catch (err) {
        if (err?.isAbort) {
            return;
        }
        data.isLoading = false;
        data.loaded = true;
        data.items = [];
        data.error = err?.response?.message || err?.message || "";
        flashError(err);
    }
}

/** The collection choice, when more than one policy is enabled. */
function collectionPicker({ uid, data, load }) {
    if (data.collections.length < 2) {
        return null;
    }
    return t.div(
        { className: "field imp-collection-field" },
        t.label({ htmlFor: uid + "_collection", className: "imp-sr-only" }, () => L("col.collection")),
        t.select(
            {
                id: uid + "_collection",
                "html-data-testid": "users-collection",
                onchange: (e) => {
                    data.collection = e.target.value;
                    load(1);
                },
            },
            ...data.collections.map((c) => t.option({ value: c, selected: () => data.collection == c }, c)),
        ),
    );
}

function searchForm({ uid, data, search }) {
    return t.form(
        {
            className: "fields searchbar imp-searchbar",
            role: "search",
            onsubmit: (e) => {
                e.preventDefault();
                search(true);
            },
        },
        t.div(
            { className: "field" },
            t.label({ htmlFor: uid + "_search", className: "imp-sr-only" }, () => L("users.search")),
            t.input({
                id: uid + "_search",
                type: "search",
                className: "p-l-20",
                autocomplete: "off",
                "html-data-testid": "users-search",
                placeholder: () => L("users.searchPlaceholder"),
                value: () => data.searchInput,
                oninput: (e) => {
                    data.searchInput = e.target.value;
                    search(false);
                },
            }),
        ),
    );
}

function refresh(u) {
    return app.components.refreshButton({
        tooltip: () => L("dash.refresh"),
        onclick: () => u.load(),
    });
}

function noPolicyNote(data) {
    if (data.loaded && !data.isLoading && !data.collections.length) {
        return t.div(
            { className: "alert info m-t-sm", "html-data-testid": "users-no-policy" },
            t.div({ className: "content" }, () => L("users.noPolicy")),
        );
    }
    return null;
}

function usersTable(data) {
    return t.div(
        { className: "page-table-wrapper imp-table-wrapper m-t-sm" },
        listTable({
            name: "users",
            data,
            heads: [
                ["ri-user-line", "col.user"],
                ["ri-key-line", "users.id"],
                ["ri-shield-check-line", "col.consent"],
                ["ri-broadcast-line", "users.live"],
            ],
            metaKey: "col.actions",
            emptyKey: "users.empty",
            row: (item) => userRow(item),
        }),
    );
}

function userRow(item) {
    const displayName = item.name || item.email || item.id;

    return t.tr(
        {
            rid: JSON.stringify(item),
            className: "imp-row",
            "html-data-testid": "users-row",
            "html-data-id": item.id,
        },
        cell(
            "col.user",
            { className: "imp-col-user" },
            t.div(
                { className: "imp-person" },
                t.span(
                    { className: "imp-person-name txt-ellipsis", "html-data-testid": "users-name", title: displayName },
                    displayName,
                ),
                item.name && item.email
                    ? t.small({ className: "imp-person-meta txt-hint txt-ellipsis", title: item.email }, item.email)
                    : null,
            ),
        ),
        cell("users.id", null, t.span({ className: "label sm txt-code" }, item.id)),
        cell("col.consent", { "html-data-testid": "users-consent" }, consentView(item.consent), requestView(item)),
        cell("users.live", { "html-data-testid": "users-live" }, liveView(item.liveSession)),
        t.td(
            { className: "col-meta imp-col-actions" },
            askButtons(item, displayName),
            t.button(
                {
                    type: "button",
                    className: "btn sm warning",
                    "html-data-testid": "users-impersonate",
                    ariaLabel: () => L("dialog.title", { name: displayName }),
                    onclick: () =>
                        openImpersonateDialog({
                            collection: item.collectionName,
                            id: item.id,
                            target: item,
                        }),
                },
                t.i({ className: "ri-spy-line", ariaHidden: true }),
                t.span({ className: "txt" }, () => L("dialog.action")),
            ),
        ),
    );
}

/** Where the superuser's newest request about the user stands (pending, approved...), if any. */
function requestView(item) {
    return t.div({ className: "imp-stack" }, () => {
        const state = lib.impersonate.requestState(item);
        if (!state) {
            return null;
        }
        const kind = { pending: "warning", approved: "success", declined: "danger" }[state] || "";
        return badge(kind, () => L("request." + state), "request-" + state);
    });
}

/** Ask (consent missing, nothing asked) and Break glass (when the policy allows it). */
function askButtons(item, displayName) {
    const policy = cachedPolicies()?.enabled.get(item.collectionName);
    const breakGlass = policy?.breakGlass && lib.impersonate.targetConsent(item) == "missing";
    return [
        lib.impersonate.canAsk(item) ? kindButton(item, displayName, "ask", "secondary", "ri-mail-send-line") : null,
        breakGlass ? kindButton(item, displayName, "breakGlass", "danger", "ri-alarm-warning-line") : null,
    ];
}

/** The button that opens the dialog of kind ("ask", "breakGlass") on item. */
function kindButton(item, displayName, kind, className, icon) {
    return t.button(
        {
            type: "button",
            className: `btn sm ${className} m-r-5`,
            "html-data-testid": kind == "ask" ? "users-ask" : "users-break-glass",
            ariaLabel: () => L(`dialog.${kind}Title`, { name: displayName }),
            onclick: () => openImpersonateDialog({ collection: item.collectionName, id: item.id, target: item, kind }),
        },
        t.i({ className: icon, ariaHidden: true }),
        t.span({ className: "txt" }, () => L("dialog." + kind)),
    );
}

function consentView(consent) {
    return t.div({ className: "imp-stack" }, () => {
        if (!consent || !consent.required) {
            return badge("info", () => L("consent.notRequired"), "consent-not-required");
        }
        const left = msLeft(consent.expires);
        if (consent.active && left > 0) {
            return [
                badge("success", () => L("consent.given"), "consent-active"),
                t.small({ className: "txt-hint" }, () =>
                    L("consent.until", { date: fmtDate(consent.expires), left: fmtDuration(left) }),
                ),
            ];
        }
        if (consent.expires) {
            return [
                badge("", () => L("consent.inactive"), "consent-inactive"),
                t.small({ className: "txt-hint" }, () => L("consent.endedAt", { date: fmtDate(consent.expires) })),
            ];
        }
        return badge("", () => L("consent.notGiven"), "consent-none");
    });
}

function liveView(live) {
    return t.div({ className: "imp-stack" }, () => {
        const left = live ? msLeft(live.expires) : 0;
        if (!live || left <= 0) {
            return badge("", () => L("common.no"), "live-no");
        }
        peopleVersion.v;
        const su = app.store.collections?.find((c) => c.name == "_superusers")?.id;
        const actor = live.actorName || personText(su, live.actor);
        return [
            badge("warning", () => L("common.yes"), "live-yes"),
            t.small({ className: "txt-hint" }, () =>
                L("users.liveDetail", { actor, mode: L("mode." + live.mode), left: fmtDuration(left) }),
            ),
        ];
    });
}
