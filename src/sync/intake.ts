/**
 * What a drained inbox row does (src/sync/inbox.ts): keep the events that matter, drop replays,
 * and queue one message per realm, for one delivery or several together. No QBO call and no per-PO work here.
 */
import type { Db } from "../db/client";
import { claimEventKeys, knownRealms, moveMergedCustomers } from "../db/webhooks";
import { log } from "../lib/log";
import { type EntityEvent, isCustomerMerge, isOfInterest } from "../qbo/webhook";
import { type EventsMessage, enqueueAll } from "./messages";

const IDS_PER_MESSAGE = 500;

export interface IntakeResult {
  received: number;
  queued: number;
  ignored: number;
  duplicates: number;
}

/** Events of one inbox row (`inboxId`), or of no row at all (null). */
export interface InboxEvents {
  inboxId: number | null;
  events: EntityEvent[];
}

/**
 * Queues the events of one or several inbox rows together (one replay check, one queue batch,
 * one message per realm). Throws when they could not all be queued: the rows then stay in the
 * inbox and their replay keys stay bound to them (`inboxId`), so their re-drive is not mistaken
 * for a replay.
 */
export async function acceptWebhookEvents(
  queue: Queue,
  db: Db,
  rows: InboxEvents[],
  /** Awaited before each D1 read or write and the queue send (the inbox lets acknowledgements go first). */
  pause: () => Promise<void> = async () => undefined,
): Promise<IntakeResult> {
  const events = rows.flatMap((r) => r.events.map((event) => ({ event, inboxId: r.inboxId })));
  const interesting = events.filter((e) => isOfInterest(e.event));
  if (interesting.length > 0) await pause();
  const realms =
    interesting.length > 0
      ? await knownRealms(
          db,
          interesting.map((e) => e.event.realmId),
        )
      : new Set<string>();
  const relevant = interesting.filter((e) => realms.has(e.event.realmId));
  const ignored = events.length - relevant.length;
  if (ignored > 0) {
    log("info", "webhook.events_ignored", {
      count: ignored,
      unknownRealms: [
        ...new Set(interesting.filter((e) => !realms.has(e.event.realmId)).map((e) => e.event.realmId)),
      ],
    });
  }
  if (relevant.length === 0) return { received: events.length, queued: 0, ignored, duplicates: 0 };

  await pause();
  const fresh = await claimEventKeys(
    db,
    relevant.map((e) => ({ key: e.event.eventKey, realmId: e.event.realmId, inboxId: e.inboxId })),
    new Date().toISOString(),
  );
  const freshEvents = relevant.filter((e) => fresh.has(e.event.eventKey)).map((e) => e.event);
  // Customer merges need no QBO call: the remembered ids move here, at once (idempotent).
  const merges = freshEvents.filter(isCustomerMerge);
  const toQueue = freshEvents.filter((e) => !isCustomerMerge(e));
  const messages = messagesFor(toQueue);
  if (merges.length > 0) {
    await pause();
    await moveMergedCustomers(
      db,
      merges.map((e) => ({ realmId: e.realmId, from: e.mergedId, to: e.id })),
    );
    log("info", "webhook.customers_merged", { count: merges.length });
  }
  await pause();
  await enqueueAll(queue, messages);
  log("info", "webhook.events_queued", {
    rows: rows.length,
    events: toQueue.length,
    messages: messages.length,
  });
  return {
    received: events.length,
    queued: toQueue.length,
    ignored,
    duplicates: relevant.length - freshEvents.length,
  };
}

/** One message per realm (split when very large), with the payment, credit memo and invoice ids it names. */
function messagesFor(events: EntityEvent[]): EventsMessage[] {
  const byRealm = new Map<
    string,
    { payments: Set<string>; creditMemos: Set<string>; invoices: Set<string> }
  >();
  for (const e of events) {
    const entry = byRealm.get(e.realmId) ?? {
      payments: new Set<string>(),
      creditMemos: new Set<string>(),
      invoices: new Set<string>(),
    };
    const bucket =
      e.entity === "Payment"
        ? entry.payments
        : e.entity === "CreditMemo"
          ? entry.creditMemos
          : entry.invoices;
    bucket.add(e.id);
    byRealm.set(e.realmId, entry);
  }
  const out: EventsMessage[] = [];
  for (const [realmId, { payments, creditMemos, invoices }] of byRealm) {
    const p = [...payments];
    const c = [...creditMemos];
    const i = [...invoices];
    for (let start = 0; start < Math.max(p.length, c.length, i.length); start += IDS_PER_MESSAGE) {
      out.push({
        type: "events",
        key: crypto.randomUUID(),
        realmId,
        paymentIds: p.slice(start, start + IDS_PER_MESSAGE),
        creditMemoIds: c.slice(start, start + IDS_PER_MESSAGE),
        invoiceIds: i.slice(start, start + IDS_PER_MESSAGE),
      });
    }
  }
  return out;
}
