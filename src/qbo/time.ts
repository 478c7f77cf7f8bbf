/**
 * QBO's timestamps come in several spellings: `2015-10-05T14:42:19-0700` (classic webhooks),
 * `2015-10-05T14:42:19-07:00` (MetaData, CDC), `…Z` with milliseconds, CloudEvents' `time` with
 * nanoseconds, and epoch milliseconds (qbo-api.md A2, Part B 14). Comparing them as text is
 * wrong; this turns each into epoch seconds, or null when it is none of them.
 */
export function qboEpochSeconds(value: string | number | null | undefined): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return Number.isFinite(value) ? Math.floor(value / 1000) : null;
  if (/^\d{10,16}$/.test(value.trim())) return Math.floor(Number(value.trim()) / 1000);
  const m = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.(\d+))?\s*(Z|[+-]\d{2}:?\d{2})?$/i.exec(
    value.trim(),
  );
  if (!m) return null;
  const [, date, time, fraction = "", zone = "Z"] = m;
  const offset = zone.toUpperCase() === "Z" ? "Z" : `${zone.slice(0, 3)}:${zone.slice(-2)}`;
  const ms = Date.parse(
    `${date}T${time}${fraction ? `.${fraction.slice(0, 3).padEnd(3, "0")}` : ""}${offset}`,
  );
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null;
}
