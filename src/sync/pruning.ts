/**
 * The daily pruning of the tables that would otherwise only grow (SPEC §15, bounded storage).
 * Every table is pruned in bounded batches under a statement budget, so one cron run costs a
 * known number of D1 queries however large the backlog; what is left is taken the next day
 * (`complete: false` in the `cron.pruned` log line).
 */
import type { Db } from "../db/client";
import { IDEMPOTENCY_RETENTION_MS } from "../db/idempotency";
import {
  deleteFoundChangesBefore,
  deleteIdempotencyKeysBefore,
  deleteResolvedFailures,
  deleteSpentOauthStates,
  deleteStaleMessageErrors,
  deleteSyncRunsUpTo,
  deleteWebhookDeliveriesBefore,
  deleteWebhookEventsBefore,
  oldFailuresPage,
  syncRunCutoffs,
} from "../db/pruning";
import { log } from "../lib/log";

/** Replay keys older than this are dropped; a replay older than that is reconciled again, harmlessly (idempotent). */
export const WEBHOOK_EVENT_RETENTION_DAYS = 30;
/** Deliveries and change-feed findings behind `webhooksMissed`: its window is these 30 days. */
export const CHANGE_MEMORY_RETENTION_DAYS = 30;
/** Newest sync runs kept per conference (`GET …/qbo/sync` shows the last few). */
export const SYNC_RUNS_KEPT_PER_CONFERENCE = 1000;
/** Failures are kept at least this long, and longer while one of their POs has not been synced since. */
export const RESOLVED_FAILURE_RETENTION_DAYS = 90;
/** Retry bookkeeping untouched this long belongs to a message that no longer exists. */
export const MESSAGE_ERROR_RETENTION_DAYS = 90;

export interface PruneLimits {
  /** Rows one DELETE may remove. */
  batchRows: number;
  /** Statements one table may spend per run (8 tables × 25 stays far below D1's 1,000 queries per invocation). */
  maxStatementsPerTable: number;
}
export const DEFAULT_PRUNE_LIMITS: PruneLimits = { batchRows: 1000, maxStatementsPerTable: 25 };
/** Failures judged per statement: each may name up to 1,000 invoice ids, each an index lookup. */
const FAILURES_PER_PAGE = 100;
const CONFERENCES_PER_PAGE = 100;
const DAY_MS = 24 * 60 * 60 * 1000;

export interface PruneCounts {
  webhookEvents: number;
  oauthStates: number;
  syncRuns: number;
  syncFailures: number;
  syncMessageErrors: number;
  idempotencyKeys: number;
  webhookDeliveries: number;
  cdcChanges: number;
  /** False when a budget ran out (or a table failed): the rest waits for the next run. */
  complete: boolean;
}

interface Outcome {
  deleted: number;
  complete: boolean;
}

/** Deletes what the retention rules allow; returns (and logs) the rows removed per table. */
export async function pruneStorage(
  db: Db,
  now = new Date(),
  limits: PruneLimits = DEFAULT_PRUNE_LIMITS,
): Promise<PruneCounts> {
  const daysAgo = (days: number) => new Date(now.getTime() - days * DAY_MS).toISOString();
  const { batchRows } = limits;
  const table = (name: string, prune: (budget: Budget) => Promise<Outcome>) =>
    guarded(name, () => prune({ left: limits.maxStatementsPerTable }));
  const outcomes = {
    webhookEvents: await table("webhook_events", (budget) =>
      repeat(budget, batchRows, (n) =>
        deleteWebhookEventsBefore(db, daysAgo(WEBHOOK_EVENT_RETENTION_DAYS), n),
      ),
    ),
    oauthStates: await table("oauth_states", (budget) =>
      repeat(budget, batchRows, (n) => deleteSpentOauthStates(db, now.toISOString(), n)),
    ),
    syncRuns: await table("sync_runs", (budget) => pruneSyncRuns(db, budget, batchRows)),
    syncFailures: await table("sync_failures", (budget) =>
      pruneResolvedFailures(
        db,
        budget,
        Math.min(batchRows, FAILURES_PER_PAGE),
        daysAgo(RESOLVED_FAILURE_RETENTION_DAYS),
      ),
    ),
    syncMessageErrors: await table("sync_message_errors", (budget) =>
      repeat(budget, batchRows, (n) =>
        deleteStaleMessageErrors(db, daysAgo(MESSAGE_ERROR_RETENTION_DAYS), n),
      ),
    ),
    idempotencyKeys: await table("idempotency_keys", (budget) =>
      repeat(budget, batchRows, (n) =>
        deleteIdempotencyKeysBefore(db, new Date(now.getTime() - IDEMPOTENCY_RETENTION_MS).toISOString(), n),
      ),
    ),
    webhookDeliveries: await table("webhook_deliveries", (budget) =>
      repeat(budget, batchRows, (n) =>
        deleteWebhookDeliveriesBefore(db, daysAgo(CHANGE_MEMORY_RETENTION_DAYS), n),
      ),
    ),
    cdcChanges: await table("cdc_changes", (budget) =>
      repeat(budget, batchRows, (n) =>
        deleteFoundChangesBefore(db, daysAgo(CHANGE_MEMORY_RETENTION_DAYS), n),
      ),
    ),
  };
  const counts: PruneCounts = {
    webhookEvents: outcomes.webhookEvents.deleted,
    oauthStates: outcomes.oauthStates.deleted,
    syncRuns: outcomes.syncRuns.deleted,
    syncFailures: outcomes.syncFailures.deleted,
    syncMessageErrors: outcomes.syncMessageErrors.deleted,
    idempotencyKeys: outcomes.idempotencyKeys.deleted,
    webhookDeliveries: outcomes.webhookDeliveries.deleted,
    cdcChanges: outcomes.cdcChanges.deleted,
    complete: Object.values(outcomes).every((o) => o.complete),
  };
  log("info", "cron.pruned", { ...counts });
  return counts;
}

/** Statements a table may still spend in this run. */
interface Budget {
  left: number;
}

/** One table failing (a D1 hiccup) must not keep the others from being pruned. */
async function guarded(table: string, prune: () => Promise<Outcome>): Promise<Outcome> {
  try {
    return await prune();
  } catch (err) {
    log("error", "cron.prune_failed", { table, error: err instanceof Error ? err.name : "unknown" });
    return { deleted: 0, complete: false };
  }
}

/** Runs a bounded DELETE until it removes less than a full batch or the budget is spent. */
async function repeat(
  budget: Budget,
  batchRows: number,
  deleteBatch: (limit: number) => Promise<number>,
): Promise<Outcome> {
  let deleted = 0;
  while (budget.left > 0) {
    budget.left--;
    const n = await deleteBatch(batchRows);
    deleted += n;
    if (n < batchRows) return { deleted, complete: true };
  }
  return { deleted, complete: false };
}

/** Keeps the newest runs of each conference, a page of conferences at a time. */
async function pruneSyncRuns(db: Db, budget: Budget, batchRows: number): Promise<Outcome> {
  let deleted = 0;
  let afterSlug = "";
  while (budget.left > 0) {
    budget.left--;
    const page = await syncRunCutoffs(db, afterSlug, SYNC_RUNS_KEPT_PER_CONFERENCE, CONFERENCES_PER_PAGE);
    for (const { slug, cutoffId } of page) {
      if (cutoffId === null) continue;
      const outcome = await repeat(budget, batchRows, (n) => deleteSyncRunsUpTo(db, slug, cutoffId, n));
      deleted += outcome.deleted;
      if (!outcome.complete) return { deleted, complete: false };
    }
    const last = page.at(-1);
    if (!last || page.length < CONFERENCES_PER_PAGE) return { deleted, complete: true };
    afterSlug = last.slug;
  }
  return { deleted, complete: false };
}

/** Walks the old failures a page at a time (by id) and deletes the resolved ones of each page. */
async function pruneResolvedFailures(
  db: Db,
  budget: Budget,
  pageSize: number,
  failedBefore: string,
): Promise<Outcome> {
  let deleted = 0;
  let afterId = 0;
  // Two statements per page: find the page, then delete its resolved rows.
  while (budget.left >= 2) {
    budget.left -= 2;
    const page = await oldFailuresPage(db, afterId, failedBefore, pageSize);
    if (page.size === 0) return { deleted, complete: true };
    deleted += await deleteResolvedFailures(db, afterId, page.lastId, failedBefore);
    if (page.size < pageSize) return { deleted, complete: true };
    afterId = page.lastId;
  }
  return { deleted, complete: false };
}
