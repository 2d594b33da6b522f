/// <reference path="../pb_data/types.d.ts" />

// Write sessions need a ticket number ("#123") in their reason; every start
// records its ticket in its session.started audit entry.
onImpersonationStart((e) => {
    const ticket = (e.reason.match(/#(\d+)/) || [])[1];
    if (e.mode === "write" && !ticket) {
        throw new ForbiddenError("Write sessions need a ticket number (#123) in the reason.");
    }
    e.data = { ticket: ticket || "none", by: e.actor.email() };
    e.next();
});

onImpersonationEnd((e) => {
    $app.logger().info("impersonation ended", "session", e.session.id, "cause", e.session.endCause);
    e.next();
});

// Any route can ask whether its request is made while impersonating.
routerAdd("GET", "/api/myapp/whoami", (e) => {
    const imp = $impersonation.fromRequest(e);
    if (!imp) {
        return e.json(200, { impersonated: false });
    }
    return e.json(200, {
        impersonated: true,
        by: imp.actor.id,
        session: imp.session.id,
        mode: imp.session.mode,
    });
});
