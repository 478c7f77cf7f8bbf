/**
 * One attempt of one delivery, and the `platform-events` queue consumer around it (SPEC §12).
 * The body is built at attempt time (the PO as the API shows it now, so a receiver needs no call
 * back); the `webhook-id` is the event's (`evt_<po_events.id>`, or `cevt_<conference_events.id>`
 * for a conference-level event), the same on every retry, so a receiver de-duplicates on it. 2xx ends the delivery; 410 disables the endpoint;
 * anything else (or no answer within 10 s) is retried on the schedule of
 * src/domain/platform-events.ts until 24 h after creation, then `failed`.
 */
import type { Db } from "../db/client";
import { makeDb } from "../db/client";
import { findConferenceEvent } from "../db/conference-events";
import {
  disableEndpoint,
  type EventDeliveryRow,
  type EventEndpointRow,
  findDelivery,
  findEndpointById,
  findPoEvent,
  recordAttempt,
} from "../db/event-endpoints";
import { findPoById, loadAggregate } from "../db/purchase-orders";
import {
  conferenceWebhookId,
  deliveryWebhookId,
  retryDelaySeconds,
  webhookId,
} from "../domain/platform-events";
import { purchaseOrderView } from "../http/views";
import { log } from "../lib/log";
import { DeliveryMessage } from "./messages";
import { openSecret } from "./secret-vault";
import { signatureHeader } from "./signing";

export const EVENTS_QUEUE_NAME = "platform-events";
/** Per attempt: a receiver that takes longer is treated as down. */
export const ATTEMPT_TIMEOUT_MS = 10_000;

export type AttemptResult = { kind: "done" } | { kind: "retry"; delaySeconds: number };

/**
 * The JSON body of a delivery: `{id, type, occurredAt, conference, data}`, where `data` is
 * `{purchaseOrder, event}` for a timeline event and the event's own data for a conference-level one.
 */
export async function deliveryBody(db: Db, delivery: EventDeliveryRow): Promise<string | null> {
  if (delivery.conferenceEventId !== null) {
    const event = await findConferenceEvent(db, delivery.conferenceEventId);
    if (!event) return null;
    return JSON.stringify({
      id: conferenceWebhookId(event.id),
      type: event.type,
      occurredAt: event.at,
      conference: event.conferenceSlug,
      data: JSON.parse(event.data) as unknown,
    });
  }
  if (delivery.eventId === null) return null;
  const event = await findPoEvent(db, delivery.eventId);
  const po = event && (await findPoById(db, event.purchaseOrderId));
  if (!event || !po) return null;
  const purchaseOrder = purchaseOrderView(await loadAggregate(db, po));
  return JSON.stringify({
    id: webhookId(event.id),
    type: event.type,
    occurredAt: event.at,
    conference: event.conferenceSlug,
    data: {
      purchaseOrder,
      event: {
        actor: {
          type: event.actorType,
          ...(event.actorId !== null ? { id: event.actorId } : {}),
          ...(event.actorName !== null ? { name: event.actorName } : {}),
        },
        data: JSON.parse(event.data) as unknown,
        ...(event.requestId !== null ? { requestId: event.requestId } : {}),
      },
    },
  });
}

/** The secrets that sign now: the current one, and the previous one within its 24 hours. */
async function signingSecrets(env: Env, endpoint: EventEndpointRow, now: Date): Promise<string[]> {
  const secrets = [await openSecret(env, endpoint.conferenceSlug, endpoint.secretSealed)];
  if (
    endpoint.previousSecretSealed &&
    endpoint.previousSecretExpiresAt &&
    endpoint.previousSecretExpiresAt > now.toISOString()
  ) {
    secrets.push(await openSecret(env, endpoint.conferenceSlug, endpoint.previousSecretSealed));
  }
  return secrets;
}

type Sent = { status: number } | { error: string };

async function send(url: string, headers: Record<string, string>, body: string): Promise<Sent> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers,
      body,
      redirect: "manual",
      signal: AbortSignal.timeout(ATTEMPT_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return { status: res.status };
  } catch (error) {
    const name = (error as Error).name;
    return {
      error:
        name === "TimeoutError" ? "timeout after 10 s" : `${name}: ${(error as Error).message}`.slice(0, 300),
    };
  }
}

/** Attempts the delivery once and records the outcome on its row. */
export async function attemptDelivery(
  env: Env,
  db: Db,
  deliveryId: number,
  now = new Date(),
): Promise<AttemptResult> {
  const delivery = await findDelivery(db, deliveryId);
  if (delivery?.status !== "pending") return { kind: "done" };
  const endpoint = await findEndpointById(db, delivery.endpointId);
  // Deleted or disabled: deleteEndpoint/disableEndpoint already marked the row `disabled`.
  if (!endpoint || endpoint.disabledAt !== null) return { kind: "done" };

  const at = now.toISOString();
  const body = await deliveryBody(db, delivery);
  if (body === null) {
    await recordAttempt(
      db,
      delivery.id,
      { status: "failed", lastStatus: null, lastError: "event or PO missing", nextAttemptAt: null },
      at,
    );
    return { kind: "done" };
  }
  const timestamp = Math.floor(now.getTime() / 1000);
  const id = deliveryWebhookId(delivery);
  let sent: Sent;
  try {
    const signature = await signatureHeader(await signingSecrets(env, endpoint, now), id, timestamp, body);
    sent = await send(
      endpoint.url,
      {
        "content-type": "application/json",
        "user-agent": "qbo-po-invoicing-events/1",
        "webhook-id": id,
        "webhook-timestamp": String(timestamp),
        "webhook-signature": signature,
      },
      body,
    );
  } catch (error) {
    // The secret does not open (key rotated away): retried, it heals once the key is configured.
    sent = { error: `cannot sign: ${(error as Error).name}` };
  }

  const lastStatus = "status" in sent ? sent.status : null;
  const lastError =
    "error" in sent
      ? sent.error
      : lastStatus !== null && (lastStatus < 200 || lastStatus > 299)
        ? `HTTP ${lastStatus}`
        : null;
  if (lastStatus !== null && lastStatus >= 200 && lastStatus <= 299) {
    await recordAttempt(
      db,
      delivery.id,
      { status: "delivered", lastStatus, lastError: null, nextAttemptAt: null },
      at,
    );
    return { kind: "done" };
  }
  if (lastStatus === 410) {
    await recordAttempt(
      db,
      delivery.id,
      { status: "disabled", lastStatus, lastError, nextAttemptAt: null },
      at,
    );
    await disableEndpoint(db, endpoint.id, at);
    log("warn", "events.endpoint_gone", { conference: endpoint.conferenceSlug });
    return { kind: "done" };
  }
  const delaySeconds = retryDelaySeconds(delivery.attempts + 1);
  const next = new Date(now.getTime() + delaySeconds * 1000);
  if (next.toISOString() > delivery.expiresAt) {
    await recordAttempt(
      db,
      delivery.id,
      { status: "failed", lastStatus, lastError, nextAttemptAt: null },
      at,
    );
    log("warn", "events.delivery_failed", { conference: endpoint.conferenceSlug, delivery: delivery.id });
    return { kind: "done" };
  }
  await recordAttempt(
    db,
    delivery.id,
    { status: "pending", lastStatus, lastError, nextAttemptAt: next.toISOString() },
    at,
  );
  return { kind: "retry", delaySeconds };
}

/** The `platform-events` consumer: each message acked or retried on its own, nothing thrown. */
export async function handleEventsBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = makeDb(env.DB);
  await Promise.all(
    batch.messages.map(async (msg) => {
      const parsed = DeliveryMessage.safeParse(msg.body);
      if (!parsed.success) {
        log("error", "events.invalid_message", { id: msg.id });
        msg.ack();
        return;
      }
      try {
        const result = await attemptDelivery(env, db, parsed.data.deliveryId);
        if (result.kind === "retry") msg.retry({ delaySeconds: result.delaySeconds });
        else msg.ack();
      } catch (error) {
        log("error", "events.attempt_crashed", {
          delivery: parsed.data.deliveryId,
          error: (error as Error).name,
        });
        msg.retry({ delaySeconds: 30 });
      }
    }),
  );
}
