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
): Promise<string> {
  const data = new TextEncoder().encode(`${conferenceSlug}\n${step}\n${rowId}\n${generation}`);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  return `qpo-${step}-${hex.slice(0, 40)}`;
}
