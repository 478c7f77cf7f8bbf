/** SQL of reconciliation and sync bookkeeping. */
import { and, asc, count, eq, gt, inArray, isNull, ne, or, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import type { ReconcileDecision, SyncTrigger } from "../domain/reconcile";
import { chunk, type Db } from "./client";
import { livePaidSum, outstandingCondition, type PoRow, statusAfterMoney } from "./purchase-orders";
import { payments, purchaseOrders, syncFailures, syncMessageErrors, syncRuns } from "./schema";

export interface MoneySums {
  paidCents: number;
  qboPaidCents: number;
}

export async function moneySums(db: Db, poIds: number[]): Promise<Map<number, MoneySums>> {
  const out = new Map<number, MoneySums>();
  for (const part of chunk(poIds, 90)) {
    const rows = await db
      .select({
        poId: payments.purchaseOrderId,
        paid: sql<number>`COALESCE(SUM(${payments.amountCents}), 0)`,
        qboPaid: sql<number>`COALESCE(SUM(CASE WHEN ${payments.source} = 'qbo' THEN ${payments.amountCents} ELSE 0 END), 0)`,
      })
      .from(payments)
      .where(and(inArray(payments.purchaseOrderId, part), isNull(payments.voidedAt)))
      .groupBy(payments.purchaseOrderId)
      .all();
    for (const r of rows) out.set(r.poId, { paidCents: Number(r.paid), qboPaidCents: Number(r.qboPaid) });
  }
  return out;
}

export interface InvoiceSnapshot {
  totalCents: number;
  balanceCents: number;
  emailStatus: string | null;
}

/**
 * Statements that apply one decision. The payment insert carries its own guard: it records
 * `qboPaid − (sum of live payments now)` only while that is positive and the PO is not paid,
 * so a repeated or concurrent sync of the same QBO state inserts nothing. (A cancelled PO whose
 * invoice was kept is still reconciled: money that reached QBO is recorded, and flagged.)
 * Returns the statements and the index of the insert (to count what was recorded).
 */
export function reconcileStatements(
  db: Db,
  po: PoRow,
  decision: ReconcileDecision,
  invoice: InvoiceSnapshot | null,
  now: string,
): { items: BatchItem<"sqlite">[]; insertIndex: number | null } {
  const items: BatchItem<"sqlite">[] = [];
  let insertIndex: number | null = null;
  if (decision.paymentCents > 0) {
    const currentPaid = livePaidSum(sql`${po.id}`);
    insertIndex = items.length;
    items.push(
      db.insert(payments).select(
        db
          .select({
            id: sql<number>`NULL`.as("id"),
            purchaseOrderId: purchaseOrders.id,
            amountCents: sql<number>`${decision.qboPaidCents} - ${currentPaid}`.as("amount_cents"),
            method: sql<string>`'other'`.as("method"),
            reference: sql<string>`${`QBO Invoice #${po.qboInvoiceId}`}`.as("reference"),
            paymentDate: sql<string>`${now.slice(0, 10)}`.as("payment_date"),
            note: sql<string>`'Auto-recorded from QBO invoice payment sync.'`.as("note"),
            source: sql<string>`'qbo'`.as("source"),
            createdAt: sql<string>`${now}`.as("created_at"),
            voidedAt: sql<string | null>`NULL`.as("voided_at"),
            voidReason: sql<string | null>`NULL`.as("void_reason"),
          })
          .from(purchaseOrders)
          .where(
            and(
              eq(purchaseOrders.id, po.id),
              ne(purchaseOrders.status, "paid"),
              sql`${decision.qboPaidCents} > ${currentPaid}`,
            ),
          ),
      ),
    );
  }
  const kind = decision.discrepancy?.kind ?? null;
  const gone = kind === "invoice_voided" || kind === "invoice_deleted";
  items.push(
    db
      .update(purchaseOrders)
      .set({
        ...(invoice
          ? {
              qboTotalCents: invoice.totalCents,
              qboBalanceCents: invoice.balanceCents,
              qboEmailStatus: invoice.emailStatus,
            }
          : {}),
        qboLastSyncedAt: now,
        qboDiscrepancyKind: kind,
        qboDiscrepancyMessage: decision.discrepancy?.message ?? null,
        // Keep the first detection time while the same discrepancy persists.
        qboDiscrepancyAt: kind
          ? sql`CASE WHEN ${purchaseOrders.qboDiscrepancyKind} = ${kind} THEN ${purchaseOrders.qboDiscrepancyAt} ELSE ${now} END`
          : null,
        // A voided or deleted invoice can take no more money: it leaves the outstanding set.
        ...(gone ? { qboInvoiceVoidedAt: sql`COALESCE(${purchaseOrders.qboInvoiceVoidedAt}, ${now})` } : {}),
        // After a payment insert (earlier in the same batch) the status follows the new sums.
        ...(insertIndex !== null ? { status: sql`${statusAfterMoney}` } : {}),
        updatedAt: now,
      })
      .where(eq(purchaseOrders.id, po.id)),
  );
  return { items, insertIndex };
}

/**
 * Flags a PO whose invoice lives in a company the conference is no longer connected to. Only
 * the discrepancy is written (nothing from the other company is), and only the first time.
 */
export function realmChangedStatement(
  db: Db,
  po: PoRow,
  discrepancy: { kind: "realm_changed"; message: string },
  now: string,
) {
  return db
    .update(purchaseOrders)
    .set({
      qboDiscrepancyKind: discrepancy.kind,
      qboDiscrepancyMessage: discrepancy.message,
      qboDiscrepancyAt: now,
      updatedAt: now,
    })
    .where(
      and(eq(purchaseOrders.id, po.id), sql`${purchaseOrders.qboDiscrepancyKind} IS NOT ${discrepancy.kind}`),
    );
}

/** POs of a realm that carry any of these QBO invoice ids. */
export async function findPosByInvoiceIds(db: Db, realmId: string, invoiceIds: string[]): Promise<PoRow[]> {
  const out: PoRow[] = [];
  for (const part of chunk([...new Set(invoiceIds)], 90)) {
    out.push(
      ...(await db
        .select()
        .from(purchaseOrders)
        .where(and(eq(purchaseOrders.qboRealmId, realmId), inArray(purchaseOrders.qboInvoiceId, part)))
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

export async function rememberMessageError(
  db: Db,
  key: string,
  error: string,
  attempts: number,
  now: string,
) {
  await db
    .insert(syncMessageErrors)
    .values({ messageKey: key, error, attempts, updatedAt: now })
    .onConflictDoUpdate({ target: syncMessageErrors.messageKey, set: { error, attempts, updatedAt: now } });
}

export async function forgetMessageError(db: Db, key: string) {
  await db.delete(syncMessageErrors).where(eq(syncMessageErrors.messageKey, key));
}

/** Moves a dead-lettered message into sync_failures, once per message key. */
export async function recordDeadLetter(
  db: Db,
  failure: {
    messageKey: string;
    conferenceSlug: string | null;
    realmId: string | null;
    invoiceIds: string[];
    attempts: number;
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
        error: last?.error ?? "Delivery failed after the last retry.",
        attempts: Math.max(last?.attempts ?? 0, failure.attempts),
        failedAt: now,
      })
      .onConflictDoNothing(),
    db.delete(syncMessageErrors).where(eq(syncMessageErrors.messageKey, failure.messageKey)),
  ]);
}
