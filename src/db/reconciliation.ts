/**
 * The writes of reconciliation. Services decide (domain/reconcile.ts) and hand the decisions
 * down; this module turns them into statements and runs them in D1 batches, so no statement
 * building or batching lives outside db/. Each PO's timeline events are statements of its own
 * group, under the same guards as the writes they describe: a sync that records nothing
 * writes no event, and a discrepancy already flagged is not told twice.
 */
import { and, eq, inArray, isNull, ne, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type EventContext, QBO_ACTOR } from "../domain/events";
import type { ReconcileDecision } from "../domain/reconcile";
import { chunk, type Db } from "./client";
import { poEventInsert, statusChangedInsert } from "./po-events";
import { livePaidSum, type PoRow, paymentRecordedInsert, statusAfterMoneySql } from "./purchase-orders";
import { payments, purchaseOrders } from "./schema";

/** Statements per D1 batch call; each is a transaction, and we keep them modest. */
const STATEMENTS_PER_BATCH = 150;

/** What reconciliation decided for one PO. */
export type ReconcileWrite =
  | { kind: "reconciled"; po: PoRow; decision: ReconcileDecision; invoice: InvoiceSnapshot | null }
  | { kind: "realm_changed"; po: PoRow; discrepancy: { kind: "realm_changed"; message: string } };

/**
 * Applies the decisions of a batch of POs (one PO's statements always share a D1 batch, which
 * is a transaction) and returns how many payments were recorded. Payments found in QBO, and
 * the status changes they cause, are written with the `qbo` actor; discrepancies with `ctx`'s.
 */
export async function applyReconciliation(
  db: Db,
  writes: ReconcileWrite[],
  now: string,
  ctx: EventContext,
): Promise<number> {
  let recorded = 0;
  let items: BatchItem<"sqlite">[] = [];
  let inserts: number[] = [];
  const flush = async () => {
    if (items.length === 0) return;
    const results = (await db.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown[];
    for (const i of inserts) if ((results[i] as D1Result | undefined)?.meta?.changes === 1) recorded++;
    items = [];
    inserts = [];
  };
  for (const write of writes) {
    const group =
      write.kind === "reconciled"
        ? reconcileStatements(db, write.po, write.decision, write.invoice, now, ctx)
        : { items: realmChangedStatements(db, write.po, write.discrepancy, now, ctx), insertIndex: null };
    if (items.length + group.items.length > STATEMENTS_PER_BATCH) await flush();
    if (group.insertIndex !== null) inserts.push(items.length + group.insertIndex);
    items.push(...group.items);
  }
  await flush();
  return recorded;
}

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
  /** `TxnTaxDetail.TotalTax`: part of the PO's total from now on. */
  taxCents: number;
  emailStatus: string | null;
  exchangeRate: string | null;
}

/**
 * Statements that apply one decision. The payment insert carries its own guard: it records
 * `qboPaid − (sum of live payments now)` only while that is positive and the PO is not paid,
 * so a repeated or concurrent sync of the same QBO state inserts nothing. (A cancelled PO whose
 * invoice was kept is still reconciled: money that reached QBO is recorded, and flagged.)
 * Returns the statements and the index of the insert (to count what was recorded).
 *
 * Order matters: the payment's event right after the insert (it reads `changes()`), then the
 * discrepancy and status events, which compare the PO as it is before the UPDATE with what
 * the UPDATE will write, then the UPDATE.
 */
function reconcileStatements(
  db: Db,
  po: PoRow,
  decision: ReconcileDecision,
  invoice: InvoiceSnapshot | null,
  now: string,
  ctx: EventContext,
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
            qboId: sql<string | null>`NULL`.as("qbo_id"),
            qboState: sql<string>`'synced'`.as("qbo_state"),
            qboError: sql<string | null>`NULL`.as("qbo_error"),
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
    items.push(paymentRecordedInsert(db, po.id, { ctx, actor: QBO_ACTOR, at: now }));
  }
  const kind = decision.discrepancy?.kind ?? null;
  const gone = kind === "invoice_voided" || kind === "invoice_deleted";
  if (decision.discrepancy) items.push(discrepancyInsert(db, po, decision.discrepancy, now, ctx));
  // The status follows the new sums (after a payment insert earlier in the same batch) and
  // QBO's tax, which is part of the PO's total.
  const status = statusAfterMoneySql(invoice?.taxCents);
  items.push(statusChangedInsert(db, po.id, status, { ctx, actor: QBO_ACTOR, at: now }));
  items.push(
    db
      .update(purchaseOrders)
      .set({
        ...(invoice
          ? {
              qboTotalCents: invoice.totalCents,
              qboBalanceCents: invoice.balanceCents,
              qboEmailStatus: invoice.emailStatus,
              taxCents: invoice.taxCents,
              qboExchangeRate: invoice.exchangeRate,
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
        status,
        updatedAt: now,
      })
      .where(eq(purchaseOrders.id, po.id)),
  );
  return { items, insertIndex };
}

/** `qbo.discrepancy`, only when the PO does not already carry one of this kind (before the UPDATE that sets it). */
function discrepancyInsert(
  db: Db,
  po: PoRow,
  discrepancy: NonNullable<ReconcileDecision["discrepancy"]>,
  now: string,
  ctx: EventContext,
) {
  return poEventInsert(
    db,
    {
      type: "qbo.discrepancy",
      ctx,
      at: now,
      data: { kind: discrepancy.kind, message: discrepancy.message, invoiceId: po.qboInvoiceId },
    },
    and(eq(purchaseOrders.id, po.id), sql`${purchaseOrders.qboDiscrepancyKind} IS NOT ${discrepancy.kind}`),
  );
}

/**
 * Flags a PO whose invoice lives in a company the conference is no longer connected to. Only
 * the discrepancy is written (nothing from the other company is), and only the first time.
 */
function realmChangedStatements(
  db: Db,
  po: PoRow,
  discrepancy: { kind: "realm_changed"; message: string },
  now: string,
  ctx: EventContext,
): BatchItem<"sqlite">[] {
  const update = db
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
  return [discrepancyInsert(db, po, discrepancy, now, ctx), update];
}
