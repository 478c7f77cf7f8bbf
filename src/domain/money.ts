/**
 * Money is integer cents inside the service and a decimal string with two places outside.
 * Conversions go through strings and BigInt, never through float arithmetic.
 */

/** Largest amount accepted anywhere (cents): 10 trillion, safely below 2^53. */
export const MAX_CENTS = 1_000_000_000_000_000;

const DECIMAL = /^(\d{1,16})(?:\.(\d{1,2}))?$/;

/** Parses "12", "12.3", "12.34" (or the same as a JSON number) into cents; null when not exact. */
export function parseCents(input: string | number): number | null {
  let text: string;
  if (typeof input === "number") {
    if (!Number.isFinite(input)) return null;
    text = String(input);
  } else {
    text = input.trim();
  }
  const negative = text.startsWith("-");
  const m = DECIMAL.exec(negative ? text.slice(1) : text);
  if (!m) return null;
  const cents = BigInt(m[1] ?? "0") * 100n + BigInt((m[2] ?? "").padEnd(2, "0"));
  if (cents > BigInt(MAX_CENTS)) return null;
  return Number(negative ? -cents : cents);
}

/**
 * 120000 → "1200.00"; -500 → "-5.00". Takes a bigint too: sums of many stored amounts (say, a
 * PO's payments) can pass 2^53 cents, where number addition stops being exact.
 */
export function formatCents(cents: number | bigint): string {
  const big = BigInt(cents);
  const negative = big < 0n;
  const abs = negative ? -big : big;
  const whole = abs / 100n;
  const frac = (abs % 100n).toString().padStart(2, "0");
  return `${negative ? "-" : ""}${whole}.${frac}`;
}

/** quantity × unit price in cents, or null when the product exceeds MAX_CENTS. */
export function multiplyCents(quantity: number, unitCents: number): number | null {
  const product = BigInt(quantity) * BigInt(unitCents);
  return product > BigInt(MAX_CENTS) ? null : Number(product);
}

/** A QBO JSON number (e.g. 1200.5) as cents, exact; null when it has more than two places. */
export function qboAmountToCents(amount: number): number | null {
  return parseCents(amount);
}

/** Cents as the JSON number QBO expects (e.g. 1200.5); exact because it is built from the string. */
export function centsToQboAmount(cents: number): number {
  return Number(formatCents(cents));
}
