// Server errors in the chosen language. The plugin's refusals carry a
// stable code in their data (data.impersonation.code, hooks/errors.go) and
// field errors PocketBase's {code, message, params}: the UI shows the
// catalogue's text for a code it knows, never matches the English message,
// and falls back to the server's own message for a code it does not know.
import { t, has } from "./i18n.js";

/** The refusal code of an SDK error (ClientResponseError), or "". */
export function refusalCode(err) {
    const code = err?.response?.data?.impersonation?.code;
    return typeof code === "string" ? code : "";
}

/**
 * The message to show for a failed request: the catalogue's text of its
 * refusal code, else the server's message, else a text by status; "" for
 * an aborted request.
 */
export function errorText(err) {
    if (!err || err.isAbort) {
        return "";
    }
    const code = refusalCode(err);
    if (code && has("error." + code)) {
        // a refusal that names something (a masked field) has params
        const params = err.response.data.impersonation.params;
        return t("error." + code, params && typeof params === "object" ? params : {});
    }
    if (err.status === 0) {
        return t("common.network");
    }
    const message = err.response?.message;
    if (!code && has("error.status_" + err.status)) {
        // PocketBase's own refusals carry no code: their text by status
        return t("error.status_" + err.status);
    }
    return typeof message === "string" && message ? message : t("common.error");
}

/** One field error ({code, message, params}) in the chosen language. */
export function fieldText(fieldErr) {
    if (!fieldErr) {
        return "";
    }
    if (typeof fieldErr === "string") {
        return fieldErr;
    }
    const key = "field." + fieldErr.code;
    if (fieldErr.code && has(key)) {
        return t(key, fieldErr.params || {});
    }
    if (typeof fieldErr.message === "string") {
        return fieldErr.message;
    }
    // nested errors (a JSON field's items)
    return Object.values(fieldErr).map(fieldText).filter(Boolean).join(" ");
}

/**
 * The field errors of a failed request ({field: text}), without the
 * refusal code's entry.
 */
export function fieldTexts(err) {
    const out = {};
    const data = err?.response?.data;
    if (data && typeof data === "object") {
        for (const [k, v] of Object.entries(data)) {
            if (k !== "impersonation" && v && typeof v === "object") {
                out[k] = fieldText(v);
            }
        }
    }
    return out;
}
