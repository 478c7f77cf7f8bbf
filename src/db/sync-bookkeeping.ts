/**
 * Sync bookkeeping: which POs a sync covers (outstanding pages, look-ups by invoice id), the
 * runs it made, and the failures an operator must see. The reconciliation writes themselves
 * are in reconciliation.ts.
 */
import { and, asc, count, eq, gt, inArray, or, sql } from "drizzle-orm";
import type { SyncTrigger } from "../domain/reconcile";
import { chunk, type Db } from "./client";
import { syncFailedEventInsert } from "./conference-events";
import { outstandingCondition, type PoRow } from "./purchase-orders";
import { purchaseOrders, syncFailures, syncMessageErrors, syncRuns } from "./schema";

/**
 * POs that carry any of these QBO invoice ids, within a realm (webhook events) or a conference
 * (planned batches: any realm, reconciliation sorts out invoices of another company).
 */
export async function findPosByInvoiceIds(
  db: Db,
  scope: { realmId: string } | { conferenceSlug: string },
  invoiceIds: string[],
): Promise<PoRow[]> {
  const within =
    "realmId" in scope
      ? eq(purchaseOrders.qboRealmId, scope.realmId)
      : eq(purchaseOrders.conferenceSlug, scope.conferenceSlug);
  const out: PoRow[] = [];
  for (const part of chunk([...new Set(invoiceIds)], 90)) {
    out.push(
      ...(await db
        .select()
        .from(purchaseOrders)
        .where(and(within, inArray(purchaseOrders.qboInvoiceId, part)))
        .all()),
    );
  }
  return out;
}

/** A page of a conference's outstanding invoices, by ascending PO id (keyset paging). */
export async function outstandingPage(
  db: Db,
  slug: string,
  afterId: number,
  limit: number,
): Promise<{ id: number; invoiceId: string; realmId: string | null }[]> {
  const rows = await db
    .select({
      id: purchaseOrders.id,
      invoiceId: purchaseOrders.qboInvoiceId,
      realmId: purchaseOrders.qboRealmId,
    })
    .from(purchaseOrders)
    .where(
      and(eq(purchaseOrders.conferenceSlug, slug), outstandingCondition(), gt(purchaseOrders.id, afterId)),
    )
    .orderBy(asc(purchaseOrders.id))
    .limit(limit)
    .all();
  return rows.flatMap((r) => (r.invoiceId ? [{ id: r.id, invoiceId: r.invoiceId, realmId: r.realmId }] : []));
}

export async function countOutstanding(db: Db, slug: string): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(purchaseOrders)
    .where(and(eq(purchaseOrders.conferenceSlug, slug), outstandingCondition()));
  return row?.n ?? 0;
}

export async function recordSyncRun(
  db: Db,
  run: {
    conferenceSlug: string;
    trigger: SyncTrigger;
    startedAt: string;
    finishedAt: string;
    invoicesChecked: number;
    paymentsRecorded: number;
    creditNotesRecorded?: number;
    ledgerFallback?: string | null;
    qboRequests: number;
    d1Statements: number;
  },
): Promise<void> {
  await db.insert(syncRuns).values(run);
}

export async function recentSyncRuns(db: Db, slug: string, limit: number) {
  return db
    .select()
    .from(syncRuns)
    .where(eq(syncRuns.conferenceSlug, slug))
    .orderBy(sql`${syncRuns.id} DESC`)
    .limit(limit)
    .all();
}

/** Failures of the conference's own batches and of webhook work for its realm. */
export async function recentSyncFailures(db: Db, slug: string, realmId: string | null, limit: number) {
  return db
    .select()
    .from(syncFailures)
    .where(
      realmId
        ? or(eq(syncFailures.conferenceSlug, slug), eq(syncFailures.realmId, realmId))
        : eq(syncFailures.conferenceSlug, slug),
    )
    .orderBy(sql`${syncFailures.id} DESC`)
    .limit(limit)
    .all();
}

/** Between the latest error of a message and the earlier ones it met (newest first). */
export const EARLIER_ERRORS = " · earlier: ";
/** The remembered errors of one message stay this short (the newest are kept). */
const ERROR_HISTORY_CHARS = 2000;
/** Each answer's own id: two errors that differ only by it are the same error. */
const INTUIT_TID = / \(intuit_tid [^)]*\)/g;

/**
 * Remembers why an attempt failed: the newest error first (with its `intuit_tid`), then the
 * other errors it met before, each distinct one once. A message that dead-letters after four
 * QBO 503s and one token error then says both, not only the last: messages of a batch fail
 * together, and the last attempt's cause need not be what kept the message from succeeding.
 * One message is worked by one consumer at a time, so reading before writing races nobody.
 */
export async function rememberMessageError(
  db: Db,
  key: string,
  error: string,
  attempts: number,
  now: string,
) {
  const before = await db
    .select({ error: syncMessageErrors.error })
    .from(syncMessageErrors)
    .where(eq(syncMessageErrors.messageKey, key))
    .get();
  const bare = (text: string) => text.replace(INTUIT_TID, "");
  const earlier = (before?.error ?? "")
    .split(EARLIER_ERRORS)
    .filter((e) => e !== "")
    .map(bare)
    .filter((e) => e !== bare(error));
  const history = [error, ...new Set(earlier)].join(EARLIER_ERRORS).slice(0, ERROR_HISTORY_CHARS);
  await db
    .insert(syncMessageErrors)
    .values({ messageKey: key, error: history, attempts, updatedAt: now })
    .onConflictDoUpdate({
      target: syncMessageErrors.messageKey,
      set: { error: history, attempts, updatedAt: now },
    });
}

export async function forgetMessageError(db: Db, key: string) {
  await db.delete(syncMessageErrors).where(eq(syncMessageErrors.messageKey, key));
}

/**
 * Moves a dead-lettered message into sync_failures, once per message key, with its
 * `sync.failed` conference event in the same batch.
 */
export async function recordDeadLetter(
  db: Db,
  failure: {
    messageKey: string;
    conferenceSlug: string | null;
    realmId: string | null;
    invoiceIds: string[];
    attempts: number;
    /** The reason, when the caller knows it (a permanent failure); else the retries' (newest first). */
    error?: string;
  },
  now: string,
): Promise<void> {
  const last = await db
    .select()
    .from(syncMessageErrors)
    .where(eq(syncMessageErrors.messageKey, failure.messageKey))
    .get();
  await db.batch([
    db
      .insert(syncFailures)
      .values({
        messageKey: failure.messageKey,
        conferenceSlug: failure.conferenceSlug,
        realmId: failure.realmId,
        invoiceIds: JSON.stringify(failure.invoiceIds),
        error: failure.error ?? last?.error ?? "Delivery failed after the last retry.",
        attempts: Math.max(last?.attempts ?? 0, failure.attempts),
        failedAt: now,
      })
      .onConflictDoNothing(),
    // The platform hears of it (SPEC §12) exactly when the failure row is new.
    syncFailedEventInsert(db, failure.messageKey, now),
    db.delete(syncMessageErrors).where(eq(syncMessageErrors.messageKey, failure.messageKey)),
  ]);
}
