/**
 * The writes of reconciliation. Services decide (domain/reconcile.ts) and hand the decisions
 * down; this module turns them into statements and runs them in D1 batches, so no statement
 * building or batching lives outside db/. Each PO's timeline events are statements of its own
 * group, under the same guards as the writes they describe: a sync that records nothing
 * writes no event, and a discrepancy already flagged is not told twice.
 */
import { and, asc, eq, inArray, isNull, ne, notExists, or, type SQL, sql } from "drizzle-orm";
import type { BatchItem } from "drizzle-orm/batch";
import { type EventContext, QBO_ACTOR } from "../domain/events";
import type {
  AppliedCredit,
  AppliedPayment,
  LedgerAction,
  LedgerDecision,
  LocalMoneyRow,
  ReconcileDecision,
} from "../domain/reconcile";
import { chunk, type Db } from "./client";
import { justInserted, moneyText, poEventInsert, statusChangedInsert } from "./po-events";
import { livePaidSum, type PoRow, paymentRecordedInsert, statusAfterMoneySql } from "./purchase-orders";
import { creditNotes, payments, purchaseOrders } from "./schema";

/** Statements per D1 batch call; each is a transaction, and we keep them modest. */
const STATEMENTS_PER_BATCH = 150;

/** What reconciliation decided for one PO. */
export type ReconcileWrite =
  /** Version 1's balance rule: the fallback when linked transactions cannot be read. */
  | { kind: "reconciled"; po: PoRow; decision: ReconcileDecision; invoice: InvoiceSnapshot | null }
  /** Version 2: the invoice's linked payments and credit memos, one by one. */
  | { kind: "ledger"; po: PoRow; decision: LedgerDecision; invoice: InvoiceSnapshot | null }
  | { kind: "realm_changed"; po: PoRow; discrepancy: { kind: "realm_changed"; message: string } };

export interface Recorded {
  payments: number;
  creditNotes: number;
}

interface StatementGroup {
  items: BatchItem<"sqlite">[];
  /** Indexes (within `items`) of the inserts, to count what was recorded. */
  paymentInserts: number[];
  creditInserts: number[];
}

/**
 * Applies the decisions of a batch of POs (one PO's statements always share a D1 batch, which
 * is a transaction) and returns how many payments and credit notes were recorded. What was
 * found in QBO (money, voids, and the status changes they cause) is written with the `qbo`
 * actor; discrepancies with `ctx`'s.
 */
export async function applyReconciliation(
  db: Db,
  writes: ReconcileWrite[],
  now: string,
  ctx: EventContext,
): Promise<Recorded> {
  const recorded: Recorded = { payments: 0, creditNotes: 0 };
  let items: BatchItem<"sqlite">[] = [];
  let paymentInserts: number[] = [];
  let creditInserts: number[] = [];
  const flush = async () => {
    if (items.length === 0) return;
    const results = (await db.batch(items as [BatchItem<"sqlite">, ...BatchItem<"sqlite">[]])) as unknown[];
    const changed = (i: number) => (results[i] as D1Result | undefined)?.meta?.changes === 1;
    recorded.payments += paymentInserts.filter(changed).length;
    recorded.creditNotes += creditInserts.filter(changed).length;
    items = [];
    paymentInserts = [];
    creditInserts = [];
  };
  for (const write of writes) {
    const group: StatementGroup =
      write.kind === "reconciled"
        ? reconcileStatements(db, write.po, write.decision, write.invoice, now, ctx)
        : write.kind === "ledger"
          ? ledgerStatements(db, write.po, write.decision, write.invoice, now, ctx)
          : {
              items: realmChangedStatements(db, write.po, write.discrepancy, now, ctx),
              paymentInserts: [],
              creditInserts: [],
            };
    if (items.length + group.items.length > STATEMENTS_PER_BATCH) await flush();
    const offset = items.length;
    paymentInserts.push(...group.paymentInserts.map((i) => offset + i));
    creditInserts.push(...group.creditInserts.map((i) => offset + i));
    items.push(...group.items);
  }
  await flush();
  return recorded;
}

export interface LocalLedger {
  payments: LocalMoneyRow[];
  creditNotes: LocalMoneyRow[];
}

/**
 * POs of the realm whose payments or credit notes carry these QBO ids: where a QBO payment or
 * credit memo that changed (voided, deleted, edited) had been counted.
 */
export async function findPosByMoneyQboIds(
  db: Db,
  realmId: string,
  paymentIds: string[],
  creditMemoIds: string[],
): Promise<PoRow[]> {
  const out: PoRow[] = [];
  for (const [table, ids] of [
    [payments, paymentIds],
    [creditNotes, creditMemoIds],
  ] as const) {
    for (const part of chunk([...new Set(ids)], 90)) {
      const rows = await db
        .selectDistinct({ po: purchaseOrders })
        .from(purchaseOrders)
        .innerJoin(table, eq(table.purchaseOrderId, purchaseOrders.id))
        .where(and(eq(purchaseOrders.qboRealmId, realmId), inArray(table.qboId, part)))
        .all();
      out.push(...rows.map((r) => r.po));
    }
  }
  return out;
}

/**
 * The payments and credit notes of these POs, voided ones included, as reconciliation matches
 * them to QBO's linked transactions. Read before QBO is, so a row that got its QBO id from a
 * push after this read is never voided for missing from an older view of the invoice.
 */
export async function loadLedgerRows(db: Db, poIds: number[]): Promise<Map<number, LocalLedger>> {
  const out = new Map<number, LocalLedger>();
  const entry = (poId: number) => {
    let e = out.get(poId);
    if (!e) {
      e = { payments: [], creditNotes: [] };
      out.set(poId, e);
    }
    return e;
  };
  // Payments and credit notes have the same columns for this: one select for either table.
  const rowsOf = (table: typeof payments | typeof creditNotes, part: number[]) =>
    db
      .select({
        id: table.id,
        poId: table.purchaseOrderId,
        source: table.source,
        amountCents: table.amountCents,
        qboId: table.qboId,
        qboState: table.qboState,
        voidedAt: table.voidedAt,
      })
      .from(table)
      .where(inArray(table.purchaseOrderId, part))
      .orderBy(asc(table.id));
  type Row = Awaited<ReturnType<typeof rowsOf>>[number];
  const ledgerRow = (r: Row, legacy: boolean) => ({
    id: r.id,
    source: r.source,
    amountCents: r.amountCents,
    qboId: r.qboId,
    qboState: r.qboState,
    voided: r.voidedAt !== null,
    legacy,
  });
  for (const part of chunk(poIds, 90)) {
    const [pays, credits] = await db.batch([rowsOf(payments, part), rowsOf(creditNotes, part)]);
    for (const r of pays) entry(r.poId).payments.push(ledgerRow(r, r.source === "qbo" && r.qboId === null));
    for (const r of credits) entry(r.poId).creditNotes.push(ledgerRow(r, false));
  }
  return out;
}

export interface MoneySums {
  /** Σ live payments and credit notes: what the balance rule compares QBO's `TotalAmt − Balance` with. */
  paidCents: number;
  /** The part of it recorded from QBO. */
  qboPaidCents: number;
}

/** Sums for the balance rule (the fallback): payments and credit notes both lower QBO's balance. */
export async function moneySums(db: Db, poIds: number[]): Promise<Map<number, MoneySums>> {
  const out = new Map<number, MoneySums>();
  const add = (poId: number, paid: number, qboPaid: number) => {
    const sum = out.get(poId) ?? { paidCents: 0, qboPaidCents: 0 };
    out.set(poId, { paidCents: sum.paidCents + paid, qboPaidCents: sum.qboPaidCents + qboPaid });
  };
  // The same sums over either table (live rows only).
  const sumsOf = (table: typeof payments | typeof creditNotes, part: number[]) =>
    db
      .select({
        poId: table.purchaseOrderId,
        paid: sql<number>`COALESCE(SUM(${table.amountCents}), 0)`,
        qboPaid: sql<number>`COALESCE(SUM(CASE WHEN ${table.source} = 'qbo' THEN ${table.amountCents} ELSE 0 END), 0)`,
      })
      .from(table)
      .where(and(inArray(table.purchaseOrderId, part), isNull(table.voidedAt)))
      .groupBy(table.purchaseOrderId);
  for (const part of chunk(poIds, 90)) {
    const [pays, credits] = await db.batch([sumsOf(payments, part), sumsOf(creditNotes, part)]);
    for (const r of [...pays, ...credits]) add(r.poId, Number(r.paid), Number(r.qboPaid));
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
): StatementGroup {
  const items: BatchItem<"sqlite">[] = [];
  let insertIndex: number | null = null;
  if (decision.paymentCents > 0) {
    // Credit notes count as settled too: QBO's balance is lowered by credits pushed from here.
    const currentPaid = sql`(${livePaidSum(sql`${po.id}`)} + (SELECT COALESCE(SUM(${creditNotes.amountCents}), 0) FROM ${creditNotes} WHERE ${creditNotes.purchaseOrderId} = ${po.id} AND ${creditNotes.voidedAt} IS NULL))`;
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
  items.push(...closingStatements(db, po, decision.discrepancy, invoice, now, ctx));
  return { items, paymentInserts: insertIndex === null ? [] : [insertIndex], creditInserts: [] };
}

/**
 * The discrepancy, the status (with its event) and the PO's QBO fields: the end of every
 * reconciled PO's group. The discrepancy and status events compare the PO as it is before the
 * UPDATE with what the UPDATE will write, so they come right before it; the status follows
 * the sums after the money statements earlier in the same batch, and QBO's tax.
 */
function closingStatements(
  db: Db,
  po: PoRow,
  discrepancy: ReconcileDecision["discrepancy"],
  invoice: InvoiceSnapshot | null,
  now: string,
  ctx: EventContext,
): BatchItem<"sqlite">[] {
  const items: BatchItem<"sqlite">[] = [];
  const kind = discrepancy?.kind ?? null;
  const gone = kind === "invoice_voided" || kind === "invoice_deleted";
  if (discrepancy) items.push(discrepancyInsert(db, po, discrepancy, now, ctx));
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
        qboDiscrepancyMessage: discrepancy?.message ?? null,
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
  return items;
}

/**
 * Statements that apply one version-2 decision: voids first (so an amount edited in QBO can be
 * recorded anew in the same batch), then links, then inserts, then the closing statements.
 * Each write carries its own guard, so a repeated or concurrent sync of the same QBO state
 * changes nothing more: a void only touches a live row still carrying the QBO id it was
 * decided for; an insert only happens while no live row of the PO carries that QBO id (nor a
 * manual row of ours, voided or not); each event sits under its write's guard.
 */
function ledgerStatements(
  db: Db,
  po: PoRow,
  decision: LedgerDecision,
  invoice: InvoiceSnapshot | null,
  now: string,
  ctx: EventContext,
): StatementGroup {
  const items: BatchItem<"sqlite">[] = [];
  const paymentInserts: number[] = [];
  const creditInserts: number[] = [];
  const byType = <T extends LedgerAction["type"]>(type: T) =>
    decision.actions.filter((a): a is Extract<LedgerAction, { type: T }> => a.type === type);
  for (const action of byType("void")) items.push(...voidStatements(db, po, action, now, ctx));
  for (const action of byType("link")) {
    const table = action.kind === "payment" ? payments : creditNotes;
    items.push(
      db
        .update(table)
        .set({ qboId: action.qboId, qboState: "synced", qboError: null })
        .where(
          and(
            eq(table.id, action.rowId),
            eq(table.purchaseOrderId, po.id),
            or(isNull(table.qboId), eq(table.qboId, action.qboId)),
          ),
        ),
    );
  }
  for (const { payment } of byType("insert_payment")) {
    paymentInserts.push(items.length);
    items.push(paymentInsert(db, po, payment, now));
    items.push(paymentRecordedInsert(db, po.id, { ctx, actor: QBO_ACTOR, at: now }));
  }
  for (const { credit } of byType("insert_credit")) {
    creditInserts.push(items.length);
    items.push(creditInsert(db, po, credit, now));
    items.push(
      poEventInsert(
        db,
        {
          type: "credit_note.recorded",
          ctx,
          actor: QBO_ACTOR,
          at: now,
          data: {
            creditNoteId: creditNotes.id,
            amount: moneyText(creditNotes.amountCents),
            reason: creditNotes.reason,
            source: creditNotes.source,
            qboId: creditNotes.qboId,
          },
        },
        justInserted(creditNotes, po.id),
        { table: creditNotes, on: eq(creditNotes.purchaseOrderId, purchaseOrders.id) },
      ),
    );
  }
  items.push(...closingStatements(db, po, decision.discrepancy, invoice, now, ctx));
  return { items, paymentInserts, creditInserts };
}

/** No live row of the PO carries this QBO id, nor any manual row of ours (voided or not). */
function noCounterpart(
  db: Db,
  table: typeof payments | typeof creditNotes,
  poId: number,
  qboId: string,
): SQL {
  return notExists(
    db
      .select({ one: sql`1` })
      .from(table)
      .where(
        and(
          eq(table.purchaseOrderId, poId),
          eq(table.qboId, qboId),
          or(isNull(table.voidedAt), eq(table.source, "manual")),
        ),
      ),
  );
}

function paymentInsert(db: Db, po: PoRow, p: AppliedPayment, now: string) {
  return db.insert(payments).select(
    db
      .select({
        id: sql<number>`NULL`.as("id"),
        purchaseOrderId: purchaseOrders.id,
        amountCents: sql<number>`${p.cashCents}`.as("amount_cents"),
        method: sql<string>`${p.method}`.as("method"),
        reference: sql<string>`${p.reference}`.as("reference"),
        paymentDate: sql<string>`${p.paymentDate}`.as("payment_date"),
        note: sql<string>`${`Recorded from QuickBooks Payment #${p.qboId}.`}`.as("note"),
        source: sql<string>`'qbo'`.as("source"),
        createdAt: sql<string>`${now}`.as("created_at"),
        voidedAt: sql<string | null>`NULL`.as("voided_at"),
        voidReason: sql<string | null>`NULL`.as("void_reason"),
        qboId: sql<string>`${p.qboId}`.as("qbo_id"),
        qboState: sql<string>`'synced'`.as("qbo_state"),
        qboError: sql<string | null>`NULL`.as("qbo_error"),
      })
      .from(purchaseOrders)
      .where(and(eq(purchaseOrders.id, po.id), noCounterpart(db, payments, po.id, p.qboId))),
  );
}

function creditInsert(db: Db, po: PoRow, c: AppliedCredit, now: string) {
  return db.insert(creditNotes).select(
    db
      .select({
        id: sql<number>`NULL`.as("id"),
        purchaseOrderId: purchaseOrders.id,
        amountCents: sql<number>`${c.cents}`.as("amount_cents"),
        reason: sql<string>`${c.reason}`.as("reason"),
        createdAt: sql<string>`${now}`.as("created_at"),
        voidedAt: sql<string | null>`NULL`.as("voided_at"),
        voidReason: sql<string | null>`NULL`.as("void_reason"),
        source: sql<string>`'qbo'`.as("source"),
        qboId: sql<string>`${c.qboId}`.as("qbo_id"),
        qboState: sql<string>`'synced'`.as("qbo_state"),
        qboError: sql<string | null>`NULL`.as("qbo_error"),
      })
      .from(purchaseOrders)
      .where(and(eq(purchaseOrders.id, po.id), noCounterpart(db, creditNotes, po.id, c.qboId))),
  );
}

/** `payment.voided` / `credit_note.voided` under the void's own guard, then the void. */
function voidStatements(
  db: Db,
  po: PoRow,
  action: Extract<LedgerAction, { type: "void" }>,
  now: string,
  ctx: EventContext,
): BatchItem<"sqlite">[] {
  const table = action.kind === "payment" ? payments : creditNotes;
  const voidable = and(
    eq(table.id, action.rowId),
    eq(table.purchaseOrderId, po.id),
    isNull(table.voidedAt),
    action.qboId === null ? isNull(table.qboId) : eq(table.qboId, action.qboId),
  );
  return [
    poEventInsert(
      db,
      {
        type: action.kind === "payment" ? "payment.voided" : "credit_note.voided",
        ctx,
        actor: QBO_ACTOR,
        at: now,
        data: {
          [action.kind === "payment" ? "paymentId" : "creditNoteId"]: table.id,
          amount: moneyText(table.amountCents),
          reason: action.reason,
          qboId: action.qboId,
        },
      },
      voidable,
      { table, on: eq(table.purchaseOrderId, purchaseOrders.id) },
    ),
    db.update(table).set({ voidedAt: now, voidReason: action.reason }).where(voidable),
  ];
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
