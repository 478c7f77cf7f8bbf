/**
 * Structured logging: one JSON object per line, which Workers Logs indexes by field.
 * Callers pass identifiers and counts only; never a token, secret or request body.
 */
type Fields = Record<string, string | number | boolean | null | undefined | string[]>;

export function log(level: "info" | "warn" | "error", event: string, fields: Fields = {}): void {
  const line = JSON.stringify({ level, event, ...fields });
  if (level === "error") console.error(line);
  else if (level === "warn") console.warn(line);
  else console.log(line);
}
