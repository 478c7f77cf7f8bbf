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
  "payment.pushed",
  "credit_note.recorded",
  "credit_note.voided",
  "credit_note.pushed",
  "qbo.invoice_created",
  "qbo.invoice_emailed",
  "qbo.invoice_voided",
  "qbo.discrepancy",
  "qbo.discrepancy_acknowledged",
] as const;
export type PoEventType = (typeof PO_EVENT_TYPES)[number];

/**
 * Conference-level events (SPEC §12): about the conference's QuickBooks connection and its sync,
 * not about one PO, so they are not timeline rows; `conference_events` holds them. Each is
 * written in the D1 batch of what it reports where D1 holds that (a dead-lettered sync), or
 * idempotently by the Worker code that first learns of it (the token vault is a Durable Object
 * without D1 access). `qbo.read_budget` is written for every conference of the realm whose
 * monthly read meter crossed 80% or 100% (src/budget/).
 */
export const CONFERENCE_EVENT_TYPES = ["qbo.reconnect_required", "qbo.read_budget", "sync.failed"] as const;
export type ConferenceEventType = (typeof CONFERENCE_EVENT_TYPES)[number];

/** Every type an event endpoint can receive. */
export const PLATFORM_EVENT_TYPES = [...PO_EVENT_TYPES, ...CONFERENCE_EVENT_TYPES] as const;
export type PlatformEventType = (typeof PLATFORM_EVENT_TYPES)[number];

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
