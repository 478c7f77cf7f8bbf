/**
 * The PO timeline's vocabulary (SPEC §11 "History"), declared once: the D1 schema, the writes
 * in db/ and the wire schemas import it. A timeline row is written in the same D1 batch as the
 * change it describes, so the history can never miss a change nor tell of one that did not happen.
 */

export const PO_EVENT_TYPES = [
  "po.created",
  "po.sent",
  "po.cancelled",
  "po.status_changed",
  "payment.recorded",
  "payment.voided",
  "credit_note.recorded",
  "credit_note.voided",
  "qbo.invoice_created",
  "qbo.invoice_emailed",
  "qbo.invoice_voided",
  "qbo.discrepancy",
] as const;
export type PoEventType = (typeof PO_EVENT_TYPES)[number];

/**
 * Who made a change: the deployment token, a conference API key, QuickBooks itself (money that
 * reconciliation found there), or the system (the cron and queue acting on their own).
 */
export const ACTOR_TYPES = ["deployment", "api_key", "qbo", "system"] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

export interface Actor {
  type: ActorType;
  id?: string;
  name?: string;
}

/** What every mutation carries down to its write: who, and under which request (null off-request). */
export interface EventContext {
  actor: Actor;
  requestId: string | null;
}

export const QBO_ACTOR: Actor = { type: "qbo" };

/** The context of work nobody asked for in a request: the cron and the queue consumer. */
export const SYSTEM_CONTEXT: EventContext = { actor: { type: "system" }, requestId: null };
