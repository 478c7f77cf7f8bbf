/**
 * The conference's event endpoint and its deliveries, as the API manages them (SPEC §12).
 * The secret is generated here, returned once by `putEventEndpoint`, and otherwise only ever
 * exists sealed in D1 (src/events/secret-vault.ts); it is never logged.
 */
import type { Db } from "../db/client";
import {
  deleteEndpoint,
  type EventDeliveryRow,
  type EventEndpointRow,
  findDelivery,
  findEndpoint,
  listDeliveries,
  reopenDelivery,
  upsertEndpoint,
} from "../db/event-endpoints";
import type { PlatformEventType } from "../domain/events";
import {
  type DeliveryStatus,
  deliveryWebhookId,
  PREVIOUS_SECRET_GRACE_MS,
  RETRY_WINDOW_MS,
} from "../domain/platform-events";
import { ApiError, notFound } from "../lib/errors";
import { requireConference } from "../services/conferences";
import { enqueueDeliveries } from "./messages";
import { sealSecret } from "./secret-vault";
import { generateSecret } from "./signing";

export interface EndpointInput {
  url: string;
  events?: string[] | undefined;
}

export interface EndpointView {
  url: string;
  /** null: every event type. */
  events: string[] | null;
  createdAt: string;
  secretRotatedAt?: string;
  disabledAt?: string;
}

function endpointView(row: EventEndpointRow): EndpointView {
  return {
    url: row.url,
    events: row.events === null ? null : (JSON.parse(row.events) as string[]),
    createdAt: row.createdAt,
    ...(row.secretRotatedAt !== null ? { secretRotatedAt: row.secretRotatedAt } : {}),
    ...(row.disabledAt !== null ? { disabledAt: row.disabledAt } : {}),
  };
}

/**
 * Sets the endpoint and returns it with a new secret. On an existing endpoint this rotates the
 * secret: the old one keeps signing, beside the new one, for 24 hours.
 */
export async function putEventEndpoint(
  env: Env,
  db: Db,
  slug: string,
  input: EndpointInput,
): Promise<EndpointView & { secret: string }> {
  await requireConference(db, slug);
  const secret = generateSecret();
  const now = new Date();
  const events = input.events ? [...new Set(input.events)] : null;
  const row = await upsertEndpoint(
    db,
    {
      conferenceSlug: slug,
      url: input.url,
      events: events === null ? null : JSON.stringify(events),
      secretSealed: await sealSecret(env, slug, secret),
    },
    now.toISOString(),
    new Date(now.getTime() + PREVIOUS_SECRET_GRACE_MS).toISOString(),
  );
  return { ...endpointView(row), secret };
}

export async function getEventEndpoint(db: Db, slug: string): Promise<EndpointView> {
  await requireConference(db, slug);
  const row = await findEndpoint(db, slug);
  if (!row) throw notFound(`The event endpoint of '${slug}'`);
  return endpointView(row);
}

/** Stops delivery: the endpoint goes, its pending deliveries become `disabled`. Idempotent. */
export async function deleteEventEndpoint(db: Db, slug: string): Promise<void> {
  await requireConference(db, slug);
  await deleteEndpoint(db, slug, new Date().toISOString());
}

export interface DeliveryView {
  id: number;
  eventId: string;
  type: PlatformEventType;
  status: DeliveryStatus;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  nextAttemptAt: string | null;
}

export function deliveryView(row: EventDeliveryRow): DeliveryView {
  return {
    id: row.id,
    eventId: deliveryWebhookId(row),
    type: row.type,
    status: row.status,
    attempts: row.attempts,
    lastStatus: row.lastStatus,
    lastError: row.lastError,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    nextAttemptAt: row.nextAttemptAt,
  };
}

export async function listEventDeliveries(
  db: Db,
  slug: string,
  limit: number,
  status?: DeliveryStatus,
): Promise<DeliveryView[]> {
  await requireConference(db, slug);
  return (await listDeliveries(db, slug, limit, status)).map(deliveryView);
}

/**
 * Sends the delivery again (same `webhook-id`), with a fresh 24-hour retry window. Only to the
 * endpoint it was made for, and only while that endpoint delivers.
 */
export async function retryEventDelivery(env: Env, db: Db, slug: string, id: number): Promise<DeliveryView> {
  await requireConference(db, slug);
  const [endpoint, existing] = await Promise.all([findEndpoint(db, slug), findDelivery(db, id)]);
  if (!existing || existing.conferenceSlug !== slug) throw notFound(`Delivery ${id}`);
  if (!endpoint || endpoint.id !== existing.endpointId || endpoint.disabledAt !== null) {
    throw new ApiError(
      "invalid_state",
      "The endpoint this delivery was made for no longer delivers; PUT the event endpoint first.",
    );
  }
  const now = new Date();
  const expiresAt = new Date(now.getTime() + RETRY_WINDOW_MS).toISOString();
  const row = await reopenDelivery(db, slug, id, now.toISOString(), expiresAt);
  if (!row) throw notFound(`Delivery ${id}`);
  await enqueueDeliveries(env.EVENTS_QUEUE, [row.id]);
  return deliveryView(row);
}
