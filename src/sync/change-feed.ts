/**
 * The change feed (SPEC §10). Webhooks get lost (Intuit gives up, holds a realm's events back
 * behind one it could not deliver, or we were down), and Intuit's advice is a Change Data
 * Capture back-fill (qbo-api.md A3). Every 15 minutes, one CDC read per connected realm (two
 * conferences on one realm share it) from the realm's checkpoint minus a 2-minute overlap, and
 * what concerns our POs is queued as the same events messages webhooks produce. The checkpoint
 * advances only after that. No checkpoint, or one older than 29 days (CDC looks back 30 at
 * most), falls back to the full outstanding sync, which also runs daily.
 */
import { qboClientFor } from "../connections";
import {
  type FoundChange,
  findCheckpoint,
  invoicesOfLedgerRows,
  recordFoundChanges,
  saveCheckpoint,
} from "../db/change-feed";
import { chunk, type Db } from "../db/client";
import type { ConferenceRow } from "../db/conferences";
import { findPosByInvoiceIds } from "../db/sync-bookkeeping";
import { moveMergedCustomers } from "../db/webhooks";
import { log } from "../lib/log";
import { type CdcChange, type CdcResponse, changesOf } from "../qbo/cdc";
import { QboError } from "../qbo/client";
import { CHANGE_FEED_ENTITIES } from "./inbox";
import { type EventsMessage, enqueueAll } from "./messages";
import { forEachConnectedConference, planConferenceSync } from "./planner";

/** Changes a little older than the checkpoint are asked again: clocks and commits are not exact. */
export const CDC_OVERLAP_MS = 2 * 60 * 1000;
/** CDC looks back 30 days; a checkpoint older than this is not trusted to it. */
export const CDC_MAX_AGE_MS = 29 * 24 * 60 * 60 * 1000;
const IDS_PER_MESSAGE = 500;

export type RealmOutcome = "changes" | "full_sync" | "failed";

export interface ChangeFeedTotals {
  realms: number;
  cdcReads: number;
  fullSyncs: number;
  failed: number;
  invoicesQueued: number;
}

/** The 15-minute pass over every connected realm; one realm failing never stops the others. */
export async function runChangeFeed(env: Env, db: Db, now = new Date()): Promise<ChangeFeedTotals> {
  const realms = new Map<string, ConferenceRow[]>();
  await forEachConnectedConference(db, async (conference) => {
    if (!conference.qboRealmId) return;
    realms.set(conference.qboRealmId, [...(realms.get(conference.qboRealmId) ?? []), conference]);
  });
  const totals: ChangeFeedTotals = {
    realms: realms.size,
    cdcReads: 0,
    fullSyncs: 0,
    failed: 0,
    invoicesQueued: 0,
  };
  for (const [realmId, conferences] of realms) {
    try {
      const outcome = await syncRealmChanges(env, db, realmId, conferences, now);
      if (outcome.read) totals.cdcReads++;
      if (outcome.fullSync) totals.fullSyncs++;
      totals.invoicesQueued += outcome.invoicesQueued;
    } catch (err) {
      totals.failed++;
      log("warn", "cron.change_feed_failed", {
        realmId,
        error:
          err instanceof QboError
            ? `${err.kind} ${err.status ?? ""}`.trim()
            : err instanceof Error
              ? err.name
              : "unknown",
      });
    }
  }
  log("info", "cron.change_feed", { ...totals });
  return totals;
}

/**
 * One realm: the full sync when the checkpoint is missing or too old, else one CDC read and the
 * POs its changes concern. Throws (checkpoint unchanged) when QBO or the queue fails.
 */
export async function syncRealmChanges(
  env: Env,
  db: Db,
  realmId: string,
  conferences: ConferenceRow[],
  now = new Date(),
): Promise<{ read: boolean; fullSync: boolean; invoicesQueued: number }> {
  const checkpoint = await findCheckpoint(db, realmId);
  const checkpointMs = checkpoint ? Date.parse(checkpoint) : Number.NaN;
  if (!Number.isFinite(checkpointMs) || now.getTime() - checkpointMs > CDC_MAX_AGE_MS) {
    // The full sync reads today's state of every outstanding invoice; changes after this instant
    // are the next CDC read's (with its overlap).
    await fullSync(env, db, conferences);
    await saveCheckpoint(db, realmId, now.toISOString(), now.toISOString());
    log("info", "cron.change_feed_full_sync", { realmId, checkpoint });
    return { read: false, fullSync: true, invoicesQueued: 0 };
  }
  const response = await readChanges(env, realmId, conferences, new Date(checkpointMs - CDC_OVERLAP_MS));
  const { changes, skipped, truncated } = changesOf(response, CHANGE_FEED_ENTITIES);
  if (skipped > 0) log("warn", "cron.change_feed_unreadable", { realmId, skipped });

  const found = await concernedPos(db, realmId, changes);
  const messages: EventsMessage[] = chunk([...found.invoiceIds], IDS_PER_MESSAGE).map((invoiceIds) => ({
    type: "events",
    key: crypto.randomUUID(),
    realmId,
    paymentIds: [],
    creditMemoIds: [],
    invoiceIds,
    trigger: "cdc",
  }));
  if (found.merges.length > 0) await moveMergedCustomers(db, found.merges);
  await enqueueAll(env.SYNC_QUEUE, messages);
  // QBO may have cut a list short (1,000 objects): what it left out is in the full sync.
  if (truncated) await fullSync(env, db, conferences);
  await recordFoundChanges(db, found.changes, now.toISOString());
  const next = response.time && Number.isFinite(Date.parse(response.time)) ? new Date(response.time) : now;
  await saveCheckpoint(db, realmId, next.toISOString(), now.toISOString());
  log("info", "cron.change_feed_read", {
    realmId,
    changes: changes.length,
    invoicesQueued: found.invoiceIds.size,
    merges: found.merges.length,
    truncated,
  });
  return { read: true, fullSync: truncated, invoicesQueued: found.invoiceIds.size };
}

async function fullSync(env: Env, db: Db, conferences: ConferenceRow[]): Promise<void> {
  for (const conference of conferences) await planConferenceSync(env, db, conference.slug, "cron");
}

/**
 * One CDC read, with the first conference of the realm whose connection works (pinned to the
 * realm, so a conference now connected elsewhere cannot read another company).
 */
async function readChanges(
  env: Env,
  realmId: string,
  conferences: ConferenceRow[],
  since: Date,
): Promise<CdcResponse> {
  let lastError: unknown = new Error("no conference");
  for (const conference of conferences) {
    try {
      return await qboClientFor(env, conference, realmId).changeDataCapture(CHANGE_FEED_ENTITIES, since);
    } catch (err) {
      lastError = err;
      // Throttling or an outage is the realm's, not the conference's: asking again now would not help.
      if (err instanceof QboError && err.transient) throw err;
    }
  }
  throw lastError;
}

/**
 * The invoices of our POs that the changes touch: changed or deleted invoices; the invoices a
 * Payment or CreditMemo links to; and, for payments and credit memos (deleted ones no longer
 * link anything), the POs whose local rows carry that QBO id. Also the customer merges seen
 * (an invoice of ours moved to another customer while its customer went inactive or away).
 */
async function concernedPos(db: Db, realmId: string, changes: CdcChange[]) {
  const byInvoice = new Map<string, CdcChange[]>();
  const touch = (invoiceId: string, change: CdcChange) =>
    byInvoice.set(invoiceId, [...(byInvoice.get(invoiceId) ?? []), change]);
  const ledger = { payments: [] as string[], creditMemos: [] as string[] };
  for (const c of changes) {
    if (c.entity === "Invoice") touch(c.id, c);
    if (c.entity === "Payment" || c.entity === "CreditMemo") {
      for (const invoiceId of c.invoiceIds) touch(invoiceId, c);
      (c.entity === "Payment" ? ledger.payments : ledger.creditMemos).push(c.id);
    }
  }
  const rows = await invoicesOfLedgerRows(db, realmId, ledger);
  for (const r of rows) {
    const change = changes.find((c) => c.entity === r.entity && c.id === r.qboId);
    if (change) touch(r.invoiceId, change);
  }
  const pos = await findPosByInvoiceIds(db, { realmId }, [...byInvoice.keys()]);
  const invoiceIds = new Set<string>();
  const found = new Map<string, FoundChange>();
  for (const po of pos) {
    if (!po.qboInvoiceId) continue;
    invoiceIds.add(po.qboInvoiceId);
    for (const c of byInvoice.get(po.qboInvoiceId) ?? []) {
      if (c.lastUpdated === null) continue;
      const f = {
        conferenceSlug: po.conferenceSlug,
        realmId,
        entity: c.entity,
        entityId: c.id,
        lastUpdated: c.lastUpdated,
      };
      found.set(`${f.conferenceSlug}|${f.entity}|${f.entityId}|${f.lastUpdated}`, f);
    }
  }
  const gone = new Set(
    changes.filter((c) => c.entity === "Customer" && (c.deleted || c.inactive)).map((c) => c.id),
  );
  const merges = new Map<string, { realmId: string; from: string; to: string }>();
  if (gone.size > 0) {
    const invoiceCustomer = new Map(
      changes
        .filter((c) => c.entity === "Invoice" && c.customerId)
        .map((c) => [c.id, c.customerId as string]),
    );
    for (const po of pos) {
      const to = po.qboInvoiceId ? invoiceCustomer.get(po.qboInvoiceId) : undefined;
      const from = po.qboCustomerId;
      if (to && from && to !== from && gone.has(from)) merges.set(from, { realmId, from, to });
    }
  }
  return { invoiceIds, changes: [...found.values()], merges: [...merges.values()] };
}
