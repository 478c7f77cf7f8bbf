/**
 * Money is integer cents inside the emulator. QBO sends and receives JSON numbers, so the edges
 * convert exactly: a number whose shortest decimal form has more than two places (the typical
 * float-drift symptom, e.g. 0.30000000000000004) is rejected instead of being rounded away.
 */

const DECIMAL = /^(-)?(\d+)(?:\.(\d+))?$/;
const MAX_CENTS = 99_999_999_999_99;

export type MoneyProblem = "not_a_number" | "too_many_decimals" | "too_large";

/** Converts a QBO money value (JSON number or numeric string) to cents, or names the problem. */
export function parseCents(value: unknown): number | MoneyProblem {
  const text = decimalText(value);
  if (text === undefined) return "not_a_number";
  const match = DECIMAL.exec(text);
  if (!match) return "not_a_number";
  const [, sign, whole = "0", fraction = ""] = match;
  if (fraction.length > 2) return "too_many_decimals";
  const cents = Number(whole) * 100 + Number(fraction.padEnd(2, "0"));
  if (cents > MAX_CENTS) return "too_large";
  return sign ? -cents : cents;
}

/** Cents as the JSON number QBO writes (1200.5 for 120050 cents). c / 100 prints exactly. */
export function centsToNumber(cents: number): number {
  return cents / 100;
}

/** Cents as a two-place decimal string ("1200.50"), for PDFs and messages. */
export function formatCents(cents: number): string {
  const sign = cents < 0 ? "-" : "";
  const abs = Math.abs(cents);
  return `${sign}${Math.trunc(abs / 100)}.${String(abs % 100).padStart(2, "0")}`;
}

/** A quantity kept as a scaled integer so that Qty × UnitPrice is computed without floats. */
export interface Quantity {
  scaled: bigint;
  scale: number;
}

/** Parses a QBO quantity (up to 5 decimal places, like QBO's Qty field). */
export function parseQuantity(value: unknown): Quantity | undefined {
  return parseDecimal(value, 5);
}

/** An exact decimal as a scaled integer, or undefined past `maxPlaces` decimal places. */
function parseDecimal(value: unknown, maxPlaces: number): Quantity | undefined {
  const text = decimalText(value);
  if (text === undefined) return undefined;
  const match = DECIMAL.exec(text);
  if (!match) return undefined;
  const [, sign, whole = "0", fraction = ""] = match;
  if (fraction.length > maxPlaces) return undefined;
  const scaled = BigInt(`${sign ?? ""}${whole}${fraction}`);
  return { scaled, scale: fraction.length };
}

export function quantityToNumber(quantity: Quantity): number {
  return Number(quantity.scaled) / 10 ** quantity.scale;
}

/** Qty × UnitPrice rounded half away from zero to the cent, as QBO checks line amounts. */
export function lineAmountCents(quantity: Quantity, unitPriceCents: number): number {
  return roundedQuotient(quantity.scaled * BigInt(unitPriceCents), 10n ** BigInt(quantity.scale));
}

/**
 * `ratePercent` % of an amount, rounded half up to the cent, in integer maths: 1000.00 at
 * 8.875 % is exactly 88.75, never 88.74999…. The rate has at most 8 decimal places.
 */
export function percentOfCents(cents: number, ratePercent: number): number {
  const rate = exactFactor(ratePercent);
  return roundedQuotient(BigInt(cents) * rate.scaled, 10n ** BigInt(rate.scale + 2));
}

/** An amount × an exchange rate (home units per foreign unit), rounded half up to the cent. */
export function convertCents(cents: number, rate: number): number {
  const factor = exactFactor(rate);
  return roundedQuotient(BigInt(cents) * factor.scaled, 10n ** BigInt(factor.scale));
}

function exactFactor(value: number): Quantity {
  const factor = parseDecimal(value, 8);
  if (!factor) throw new RangeError(`${value} is not a decimal with at most 8 places`);
  return factor;
}

/** dividend / divisor rounded half away from zero. */
function roundedQuotient(dividend: bigint, divisor: bigint): number {
  const negative = dividend < 0n;
  const magnitude = negative ? -dividend : dividend;
  const rounded = (magnitude * 2n + divisor) / (2n * divisor);
  return Number(negative ? -rounded : rounded);
}

function decimalText(value: unknown): string | undefined {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return undefined;
    // String() gives the shortest round-tripping form; exponent forms fail the pattern.
    return String(value);
  }
  if (typeof value === "string" && value.trim() !== "") return value.trim();
  return undefined;
}
