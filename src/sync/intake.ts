/**
 * What a drained inbox row does (src/sync/inbox.ts): keep the events that matter, drop replays,
 * and queue one message per realm. No QBO call and no per-PO work here.
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

/**
 * Queues the events of one inbox row. Throws when they could not all be queued: the row then
 * stays in the inbox and its replay keys stay bound to it (`inboxId`), so its re-drive is not
 * mistaken for a replay.
 */
export async function acceptWebhookEvents(
  queue: Queue,
  db: Db,
  events: EntityEvent[],
  inboxId: number | null = null,
): Promise<IntakeResult> {
  const interesting = events.filter(isOfInterest);
  const realms =
    interesting.length > 0
      ? await knownRealms(
          db,
          interesting.map((e) => e.realmId),
        )
      : new Set<string>();
  const relevant = interesting.filter((e) => realms.has(e.realmId));
  const ignored = events.length - relevant.length;
  if (ignored > 0) {
    log("info", "webhook.events_ignored", {
      count: ignored,
      unknownRealms: [...new Set(interesting.filter((e) => !realms.has(e.realmId)).map((e) => e.realmId))],
    });
  }
  if (relevant.length === 0) return { received: events.length, queued: 0, ignored, duplicates: 0 };

  const fresh = await claimEventKeys(
    db,
    relevant.map((e) => ({ key: e.eventKey, realmId: e.realmId })),
    new Date().toISOString(),
    inboxId,
  );
  const freshEvents = relevant.filter((e) => fresh.has(e.eventKey));
  // Customer merges need no QBO call: the remembered ids move here, at once (idempotent).
  const merges = freshEvents.filter(isCustomerMerge);
  const toQueue = freshEvents.filter((e) => !isCustomerMerge(e));
  const messages = messagesFor(toQueue);
  if (merges.length > 0) {
    await moveMergedCustomers(
      db,
      merges.map((e) => ({ realmId: e.realmId, from: e.mergedId, to: e.id })),
    );
    log("info", "webhook.customers_merged", { count: merges.length });
  }
  await enqueueAll(queue, messages);
  log("info", "webhook.events_queued", { events: toQueue.length, messages: messages.length });
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
