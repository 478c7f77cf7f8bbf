/**
 * Scheduled work. The planner only enumerates: it pages through D1 (keyset, 1000 rows at a
 * time, never every PO at once) and queues batches of invoice ids; the consumer does the QBO
 * work. This keeps every cron invocation far from the subrequest and CPU ceilings.
 */
import { connectionFor } from "../connections";
import { chunk, type Db } from "../db/client";
import { type ConferenceRow, listConnectedConferences } from "../db/conferences";
import { outstandingPage } from "../db/sync-bookkeeping";
import { reportHardExpiryApproaching, reportReconnectRequired } from "../events/conference-events";
import { log } from "../lib/log";
import { syncBatchSize } from "../services/reconcile";
import { enqueueAll, type InvoicesMessage } from "./messages";
import { pruneStorage } from "./pruning";

export const RECONCILE_CRON = "*/15 * * * *";
export const KEEPALIVE_CRON = "0 3 * * *";
/** Refresh tokens whose refresh token would lapse within this window (SPEC §5). */
const KEEPALIVE_WINDOW_MS = 7 * 24 * 60 * 60 * 1000;
const PAGE = 1000;

/** Queues sync batches of one conference's outstanding invoices; returns the counts. */
export async function planConferenceSync(
  env: Env,
  db: Db,
  slug: string,
  trigger: InvoicesMessage["trigger"],
): Promise<{ messages: number; invoices: number }> {
  const batchSize = syncBatchSize(env);
  let afterId = 0;
  let messages = 0;
  let invoices = 0;
  for (;;) {
    const page = await outstandingPage(db, slug, afterId, PAGE);
    if (page.length === 0) break;
    const batch: InvoicesMessage[] = chunk(
      page.map((r) => r.invoiceId),
      batchSize,
    ).map((invoiceIds) => ({
      type: "invoices",
      key: crypto.randomUUID(),
      conference: slug,
      trigger,
      invoiceIds,
    }));
    await enqueueAll(env.SYNC_QUEUE, batch);
    messages += batch.length;
    invoices += page.length;
    afterId = page[page.length - 1]?.id ?? afterId;
    if (page.length < PAGE) break;
  }
  return { messages, invoices };
}

/** Every conference that names a realm, a page at a time. */
export async function forEachConnectedConference(
  db: Db,
  fn: (c: ConferenceRow) => Promise<void>,
): Promise<void> {
  let after = "";
  for (;;) {
    const page = await listConnectedConferences(db, after, 100);
    for (const conference of page) await fn(conference);
    const last = page.at(-1);
    if (!last || page.length < 100) break;
    after = last.slug;
  }
}

export async function planAllOutstanding(
  env: Env,
  db: Db,
): Promise<{ conferences: number; messages: number; invoices: number }> {
  const totals = { conferences: 0, messages: 0, invoices: 0 };
  await forEachConnectedConference(db, async (conference) => {
    const { messages, invoices } = await planConferenceSync(env, db, conference.slug, "cron");
    if (messages > 0) totals.conferences++;
    totals.messages += messages;
    totals.invoices += invoices;
  });
  log("info", "cron.sync_planned", totals);
  return totals;
}

/** Daily keep-alive: refresh every connection whose refresh token would lapse within 7 days. */
export async function keepTokensAlive(env: Env, db: Db): Promise<{ checked: number; refreshed: number }> {
  const totals = { checked: 0, refreshed: 0 };
  await forEachConnectedConference(db, async (conference) => {
    totals.checked++;
    try {
      const { refreshed, reconnect, hardExpiryNear } = await connectionFor(
        env,
        conference.slug,
      ).refreshIfLapsing(KEEPALIVE_WINDOW_MS);
      if (refreshed) totals.refreshed++;
      if (reconnect) await reportReconnectRequired(env, db, conference.slug, reconnect);
      // An idle conference hears of the 5-year cap too (SPEC §10): 30 days ahead, once.
      if (hardExpiryNear) await reportHardExpiryApproaching(env, db, conference.slug, hardExpiryNear);
    } catch (err) {
      log("warn", "cron.keepalive_failed", {
        conference: conference.slug,
        error: err instanceof Error ? err.name : "unknown",
      });
    }
  });
  log("info", "cron.tokens_checked", totals);
  return totals;
}

/** The daily cron: token keep-alive, then pruning, which runs even when the keep-alive throws. */
export async function runDailyCron(env: Env, db: Db): Promise<void> {
  try {
    await keepTokensAlive(env, db);
  } finally {
    await pruneStorage(db);
  }
}
