/**
 * Instants as QBO writes them. The emulator keeps instants as ISO strings in UTC; the company's
 * `timestampOffset` decides how they leave: "Z" as stored, or in local time with the offset
 * (`2026-11-28T01:23:45-07:00`), which is what real companies answer.
 */

export function nowIso(): string {
  return new Date().toISOString();
}

/**
 * `instant` (any ISO string) in the given offset. `millis` keeps the milliseconds: QBO's body
 * `time` has them, `MetaData` times do not (Intuit's own samples: `2013-07-02T04:37:24-07:00`).
 * With "Z" the instant is returned as the emulator always wrote it (milliseconds included).
 */
export function formatInstant(
  instant: string | number,
  offset: string,
  options: { millis: boolean },
): string {
  const ms = typeof instant === "number" ? instant : Date.parse(instant);
  if (offset === "Z") return new Date(ms).toISOString();
  const sign = offset.startsWith("-") ? -1 : 1;
  const [hours = 0, minutes = 0] = offset.slice(1).split(":").map(Number);
  const local = new Date(ms + sign * (hours * 60 + minutes) * 60_000).toISOString();
  const clock = options.millis ? local.slice(0, 23) : local.slice(0, 19);
  return `${clock}${offset}`;
}
