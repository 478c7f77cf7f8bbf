/**
 * The ledger push's vocabulary (SPEC §9 "Ours → QBO", "Outbox"), declared once: the D1 schema,
 * the queue message and the wire schemas import it.
 */

/** Which local row an outbox entry is about: a payment (→ QBO Payment) or a credit note (→ CreditMemo). */
export const LEDGER_PUSH_KINDS = ["payment", "credit_note"] as const;
export type LedgerPushKind = (typeof LEDGER_PUSH_KINDS)[number];

/** `create` its QBO counterpart, or `void` it (the row was voided here after it was pushed). */
export const LEDGER_PUSH_ACTIONS = ["create", "void"] as const;
export type LedgerPushAction = (typeof LEDGER_PUSH_ACTIONS)[number];

/** An outbox entry: `pending` until done; `failed` after its last retry (retryable by hand). */
export const OUTBOX_STATES = ["pending", "done", "failed"] as const;
export type OutboxState = (typeof OUTBOX_STATES)[number];

/** A pending entry untouched for this long lost its queue message: the 15-minute cron sends it again. */
export const OUTBOX_REDRIVE_AFTER_MS = 5 * 60 * 1000;

/** QBO's `PaymentRefNum` holds at most 21 characters. */
export const PAYMENT_REF_NUM_MAX = 21;

/** `PaymentRefNum` from our reference, cut to what QBO keeps (by code points, never half a character). */
export function paymentRefNum(reference: string): string {
  return [...reference.trim()].slice(0, PAYMENT_REF_NUM_MAX).join("");
}

/**
 * The QBO `requestid` of one push step. Derived from the conference, the row and the step only
 * (plus the manual-retry generation), so a retry after a lost answer replays the same request.
 * Hashed because slugs can be 63 characters and QBO allows 50: `qpo-` + step + 40 hex ≤ 50.
 */
export async function ledgerRequestId(
  step: "pay" | "cm" | "cmap" | "pvd" | "cmvd",
  conferenceSlug: string,
  rowId: number,
  generation: number,
  /** Tells apart two requests of one step (a credit memo of another line amount); none: as before. */
  variant?: string,
): Promise<string> {
  const text = `${conferenceSlug}\n${step}\n${rowId}\n${generation}${variant === undefined ? "" : `\n${variant}`}`;
  const data = new TextEncoder().encode(text);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `qpo-${step}-${hex.slice(0, 40)}`;
}

/**
 * The line amount (before tax) of a credit memo whose total is `totalCents` once QuickBooks adds
 * tax at `rate` (`taxCents` on `taxableCents`: an invoice's or a memo's own), rounded half up to
 * the cent; the amount itself when there is no tax; null when no line amount lands exactly.
 *
 * Why: a credit note is what the PO's balance goes down by, tax included. In an Automated Sales
 * Tax company QuickBooks adds tax to a taxable memo line, so a line of the full amount would
 * credit the customer the tax on top (SPEC §8 "Sales tax", §9 "Ours → QBO").
 */
export function preTaxCents(
  totalCents: number,
  rate: { taxCents: number; taxableCents: number },
): number | null {
  if (rate.taxCents <= 0 || rate.taxableCents <= 0) return totalCents;
  const tax = BigInt(rate.taxCents);
  const taxable = BigInt(rate.taxableCents);
  // Half up, in integers: floor((2·line·tax + taxable) / (2·taxable)).
  const taxOn = (line: number) => Number((2n * BigInt(line) * tax + taxable) / (2n * taxable));
  const guess = Number((BigInt(totalCents) * taxable + (taxable + tax) / 2n) / (taxable + tax));
  for (const step of [0, -1, 1, -2, 2]) {
    const line = guess + step;
    if (line > 0 && line + taxOn(line) === totalCents) return line;
  }
  return null;
}
