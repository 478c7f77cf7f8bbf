/**
 * The ledger outbox's sending side (SPEC §9 "Outbox"). The entries themselves are written in the
 * D1 batch of the payment, credit note, invoice or void they report (src/db/ledger-outbox.ts);
 * here they are announced on SYNC_QUEUE after the commit. Sending is best effort on
 * purpose: the API has already answered 201 with the row in D1, and a lost send is re-driven by
 * the 15-minute cron. A QuickBooks outage or a queue hiccup never loses or blocks a payment.
 */
import type { Db } from "../db/client";
import { reopenFailed, stalePendingPos } from "../db/ledger-outbox";
import type { PoAggregate } from "../db/purchase-orders";
import { OUTBOX_REDRIVE_AFTER_MS } from "../domain/ledger";
import { log } from "../lib/log";
import { enqueueAll, type LedgerMessage } from "../sync/messages";

/** Queues a push run for each PO; never throws (the cron re-drives what was not sent). */
export async function announcePushes(env: Env, conference: string, poIds: number[]): Promise<void> {
  if (poIds.length === 0) return;
  const messages: LedgerMessage[] = [...new Set(poIds)].map((purchaseOrderId) => ({
    type: "ledger",
    key: crypto.randomUUID(),
    conference,
    purchaseOrderId,
  }));
  try {
    await enqueueAll(env.SYNC_QUEUE, messages);
  } catch (err) {
    log("warn", "ledger.announce_failed", {
      conference,
      pos: poIds.length,
      error: err instanceof Error ? err.message : "unknown",
    });
  }
}

/** After a write that may have made rows pending: announce the PO when any of its rows waits. */
export async function announceIfPending(env: Env, agg: PoAggregate): Promise<void> {
  const waiting = [...agg.payments, ...agg.creditNotes].some((r) => r.qboState === "pending");
  if (waiting) await announcePushes(env, agg.po.conferenceSlug, [agg.po.id]);
}

/** POST …/qbo/outbox/retry: every failed push of the conference is tried again. */
export async function retryFailedPushes(
  env: Env,
  db: Db,
  slug: string,
): Promise<{ retried: number; purchaseOrders: number }> {
  const { entries, poIds } = await reopenFailed(db, slug, new Date().toISOString());
  await announcePushes(env, slug, poIds);
  return { retried: entries, purchaseOrders: poIds.length };
}

/** The cron's safety net: pending entries nobody touched for a while lost their message. */
export async function redriveStalePushes(env: Env, db: Db): Promise<number> {
  const now = Date.now();
  const stale = await stalePendingPos(
    db,
    new Date(now - OUTBOX_REDRIVE_AFTER_MS).toISOString(),
    new Date(now).toISOString(),
    500,
  );
  const byConference = new Map<string, number[]>();
  for (const { conferenceSlug, poId } of stale) {
    byConference.set(conferenceSlug, [...(byConference.get(conferenceSlug) ?? []), poId]);
  }
  for (const [conference, ids] of byConference) await announcePushes(env, conference, ids);
  if (stale.length > 0) log("info", "cron.ledger_redriven", { pos: stale.length });
  return stale.length;
}
