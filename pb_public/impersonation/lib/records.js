// What the UI reads of records and tokens, for display only.

// displayName is a record's name, else its username, email or id.
export function displayName(rec) {
    if (!rec) return "";
    return String(rec.name || rec.username || rec.email || rec.id || "");
}

// tokenClaims decodes a JWT's payload without verifying it (display only).
export function tokenClaims(token) {
    try {
        const part = String(token || "").split(".")[1];
        if (!part) return null;
        const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
        const json = decodeURIComponent(
            Array.from(
                atob(b64 + "===".slice((b64.length + 3) % 4)),
                (c) => "%" + c.charCodeAt(0).toString(16).padStart(2, "0"),
            ).join(""),
        );
        const claims = JSON.parse(json);
        return claims && typeof claims === "object" ? claims : null;
    } catch {
        return null;
    }
}
