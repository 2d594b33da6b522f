// The one date module of the plugin's UI: it reads the server's dates and
// formats dates, times and durations with Intl in the chosen language.
//
//   import { parseDate, formatDate, formatRelative, formatDuration } from "/impersonation/lib/dates.js";
//   formatDate("2026-01-02 03:04:05.678Z")   // "Jan 2, 2026, 3:04 AM" / "2 ene 2026, 3:04"
import { getLang } from "./i18n.js";

/**
 * Reads a PocketBase date ("2026-01-02 03:04:05.678Z"), an ISO string, a
 * Date or a timestamp (ms); null for an empty or invalid value.
 */
export function parseDate(value) {
    if (value instanceof Date) {
        return isNaN(value.getTime()) ? null : value;
    }
    if (typeof value === "number") {
        return new Date(value);
    }
    if (!value) {
        return null;
    }
    const d = new Date(String(value).replace(" ", "T"));
    return isNaN(d.getTime()) ? null : d;
}

/** The ISO string of a date ("" for none), e.g. for a filter. */
export function isoOf(value) {
    return parseDate(value)?.toISOString() || "";
}

/** Milliseconds from `now` (default: the clock) until `value`; 0 for none. */
export function msUntil(value, now = Date.now()) {
    const d = parseDate(value);
    return d ? d.getTime() - now : 0;
}

/**
 * Date and time in the chosen language, with seconds when precision is
 * "seconds"; "" for an empty or invalid value.
 */
export function formatDate(value, precision) {
    const d = parseDate(value);
    if (!d) {
        return "";
    }
    const timeStyle = precision === "seconds" ? "medium" : "short";
    return new Intl.DateTimeFormat(getLang(), { dateStyle: "medium", timeStyle }).format(d);
}

/** n of unit ("minute", "hour", "day"...): "24 hours", "24 horas". */
export function formatUnit(n, unit, display = "long") {
    return new Intl.NumberFormat(getLang(), {
        style: "unit",
        unit,
        unitDisplay: display,
        maximumFractionDigits: 0,
    }).format(n);
}

/**
 * Milliseconds as days, hours and minutes ("1 hr, 5 min"), or seconds
 * under a minute.
 */
export function formatDuration(ms) {
    ms = Math.max(0, Number(ms) || 0);
    const totalMin = Math.floor(ms / 60000);
    const parts = [];
    if (totalMin < 1) {
        parts.push(formatUnit(Math.floor(ms / 1000), "second", "short"));
    } else {
        const d = Math.floor(totalMin / 1440);
        const hr = Math.floor((totalMin % 1440) / 60);
        const min = totalMin % 60;
        if (d) {
            parts.push(formatUnit(d, "day", "short"));
        }
        if (hr) {
            parts.push(formatUnit(hr, "hour", "short"));
        }
        if (min && !d) {
            parts.push(formatUnit(min, "minute", "short"));
        }
    }
    try {
        return new Intl.ListFormat(getLang(), { type: "unit", style: "narrow" }).format(parts);
    } catch {
        return parts.join(" ");
    }
}

const RELATIVE = [
    ["year", 365 * 24 * 3600e3],
    ["month", 30 * 24 * 3600e3],
    ["week", 7 * 24 * 3600e3],
    ["day", 24 * 3600e3],
    ["hour", 3600e3],
    ["minute", 60e3],
    ["second", 1e3],
];

/** How far a date is from now ("in 3 hours", "hace 2 días"); "" for none. */
export function formatRelative(value, now = Date.now()) {
    const d = parseDate(value);
    if (!d) {
        return "";
    }
    const diff = d.getTime() - now;
    const rtf = new Intl.RelativeTimeFormat(getLang(), { numeric: "auto" });
    for (const [unit, size] of RELATIVE) {
        if (Math.abs(diff) >= size || unit === "second") {
            return rtf.format(Math.round(diff / size), unit);
        }
    }
    return "";
}

/**
 * A date as PocketBase writes it in filters ("2026-11-21 10:00:00.000Z",
 * UTC), from any value parseDate reads (a datetime-local input's value is
 * local time); "" for none.
 */
export function pbDate(value) {
    return isoOf(value).replace("T", " ");
}
