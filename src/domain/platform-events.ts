/**
 * Outgoing events to the conference platform (SPEC §12), the pure part: which timeline types an
 * endpoint subscribes to (timeline and conference-level), the delivery statuses, and the retry schedule. No I/O.
 */
import { PLATFORM_EVENT_TYPES, type PlatformEventType } from "./events";

export const DELIVERY_STATUSES = ["pending", "delivered", "failed", "disabled"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * A subscription entry: an exact event type (`payment.recorded`) or a prefix ending in `*`
 * (`po.*`, `qbo.invoice_*`). A prefix must match at least one known type, so a typo is a 400,
 * not a silent subscription to nothing.
 */
export function isValidEventFilter(entry: string): boolean {
  if (entry.endsWith("*")) {
    const prefix = entry.slice(0, -1);
    return prefix.length > 0 && PLATFORM_EVENT_TYPES.some((t) => t.startsWith(prefix));
  }
  return (PLATFORM_EVENT_TYPES as readonly string[]).includes(entry);
}

/** Whether an endpoint with `filters` (null: every type) wants `type`. */
export function subscribes(filters: readonly string[] | null, type: PlatformEventType): boolean {
  if (filters === null) return true;
  return filters.some((f) => (f.endsWith("*") ? type.startsWith(f.slice(0, -1)) : f === type));
}

/** A delivery is retried for this long after it was created (or re-sent by hand), then `failed`. */
export const RETRY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** After a rotation the previous secret still signs, beside the new one, for this long. */
export const PREVIOUS_SECRET_GRACE_MS = 24 * 60 * 60 * 1000;

/**
 * Seconds to wait after failed attempt number `attempts` (1-based): quick at first (a receiver
 * restarting), then hourly. 5 s, 30 s, 2 min, 10 min, 1 h, 1 h, … — about 27 attempts in 24 h.
 */
export function retryDelaySeconds(attempts: number): number {
  const schedule = [5, 30, 120, 600];
  return schedule[attempts - 1] ?? 3600;
}

/** `whsec_` + base64 of 32 random bytes (Standard Webhooks' secret form). */
export const SECRET_PREFIX = "whsec_";

/** The Standard Webhooks id of a timeline event. */
export const webhookId = (eventId: number) => `evt_${eventId}`;
/** The Standard Webhooks id of a conference-level event (its own id space, hence its own prefix). */
export const conferenceWebhookId = (conferenceEventId: number) => `cevt_${conferenceEventId}`;

/** The `webhook-id` of a delivery row, whichever source its event comes from. */
export function deliveryWebhookId(delivery: {
  eventId: number | null;
  conferenceEventId: number | null;
}): string {
  if (delivery.eventId !== null) return webhookId(delivery.eventId);
  if (delivery.conferenceEventId !== null) return conferenceWebhookId(delivery.conferenceEventId);
  throw new Error("delivery row names no event");
}
