/**
 * All SQL about purchase orders. Writes that must be atomic go into one D1 `batch` (a SQL
 * transaction); checks that guard money (not cancelled, not already recorded) are part of the
 * statement itself, so two concurrent requests can never both pass a check made in JS.
 */
import { and, asc, desc, eq, inArray, isNotNull, isNull, lt, ne, or, type SQL, sql } from "drizzle-orm";
import type { Actor, EventContext } from "../domain/events";
import { formatCents } from "../domain/money";
import type { PaymentMethod } from "../domain/payments";
import type { PoStatus } from "../domain/po-status";
import { chunk, type Db } from "./client";
import { justInserted, moneyText, poEventInsert, statusChangedInsert } from "./po-events";
import { creditNotes, lineItems, payments, purchaseOrders } from "./schema";

export type PoRow = typeof purchaseOrders.$inferSelect;
export type LineItemRow = typeof lineItems.$inferSelect;
export type PaymentRow = typeof payments.$inferSelect;
export type CreditNoteRow = typeof creditNotes.$inferSelect;

export interface PoAggregate {
  po: PoRow;
  lineItems: LineItemRow[];
  payments: PaymentRow[];
  creditNotes: CreditNoteRow[];
}

/** Sum of a PO's live (not voided) payments; `po` is the PO id expression. Voided rows leave every total. */
export const livePaidSum = (po: SQL | typeof purchaseOrders.id) =>
  sql`(SELECT COALESCE(SUM(${payments.amountCents}), 0) FROM ${payments} WHERE ${payments.purchaseOrderId} = ${po} AND ${payments.voidedAt} IS NULL)`;
const paidSum = livePaidSum(purchaseOrders.id);
const creditedSum = sql`(SELECT COALESCE(SUM(${creditNotes.amountCents}), 0) FROM ${creditNotes} WHERE ${creditNotes.purchaseOrderId} = ${purchaseOrders.id} AND ${creditNotes.voidedAt} IS NULL)`;

/**
 * SQL twin of domain/po-status.ts `nextStatus`, evaluated inside the UPDATE so that the sums it
 * reads are the ones committed in the same batch (two concurrent payments both count). The
 * total is the subtotal plus QBO's tax; `taxCents` overrides the stored tax when the same
 * UPDATE writes a new one (SQLite evaluates SET expressions against the old row).
 */
export function statusAfterMoneySql(taxCents?: number): SQL {
  const total = sql`(${purchaseOrders.totalCents} + ${taxCents ?? purchaseOrders.taxCents})`;
  return sql`CASE
  WHEN ${purchaseOrders.status} = 'cancelled' THEN 'cancelled'
  WHEN ${total} - ${paidSum} - ${creditedSum} = 0 AND (${paidSum} > 0 OR ${creditedSum} > 0) THEN 'paid'
  WHEN ${total} - ${paidSum} - ${creditedSum} < 0 THEN 'overpaid'
  WHEN ${paidSum} > 0 THEN 'partially_paid'
  WHEN ${purchaseOrders.status} = 'draft' THEN 'draft'
  ELSE 'sent' END`;
}
export const statusAfterMoney = statusAfterMoneySql();

/**
 * The status recomputed after a money write, with its `po.status_changed` event when it moves:
 * two statements for the end of the money write's batch, in this order (see statusChangedInsert).
 */
function recomputeStatus(db: Db, poId: number, now: string, ctx: EventContext) {
  return [
    statusChangedInsert(db, poId, statusAfterMoney, { ctx, at: now }),
    db
      .update(purchaseOrders)
      .set({ status: sql`${statusAfterMoney}`, updatedAt: now })
      .where(eq(purchaseOrders.id, poId)),
  ] as const;
}

export interface NewPurchaseOrder {
  reference: string;
  conferenceSlug: string;
  organizationName: string;
  contactName: string;
  contactEmail: string;
  billingAddress: string;
  notes: string;
  totalCents: number;
  lines: { description: string; quantity: number; unitPriceCents: number; lineTotalCents: number }[];
}

/**
 * Inserts the PO, its lines and its `po.created` event atomically; the lines and the event find
 * their PO by its unique reference.
 */
export async function insertPurchaseOrder(
  db: Db,
  input: NewPurchaseOrder,
  now: string,
  ctx: EventContext,
): Promise<void> {
  const { lines, ...po } = input;
  const poId = sql`(SELECT ${purchaseOrders.id} FROM ${purchaseOrders} WHERE ${purchaseOrders.reference} = ${input.reference})`;
  // 7 bound values per line row: stay under D1's 100 parameters per statement.
  const lineInserts = chunk(
    lines.map((l, position) => ({ ...l, position, purchaseOrderId: poId as unknown as number })),
    12,
  ).map((rows) => db.insert(lineItems).values(rows));
  await db.batch([
    db.insert(purchaseOrders).values({ ...po, status: "draft", createdAt: now, updatedAt: now }),
    ...lineInserts,
    poEventInsert(
      db,
      {
        type: "po.created",
        ctx,
        at: now,
        data: {
          status: "draft",
          organizationName: input.organizationName,
          total: formatCents(input.totalCents),
          lineItems: lines.length,
        },
      },
      eq(purchaseOrders.reference, input.reference),
    ),
  ]);
}

export async function findPo(db: Db, conferenceSlug: string, reference: string): Promise<PoRow | undefined> {
  return db
    .select()
    .from(purchaseOrders)
    .where(and(eq(purchaseOrders.conferenceSlug, conferenceSlug), eq(purchaseOrders.reference, reference)))
    .get();
}

export async function findPoById(db: Db, id: number): Promise<PoRow | undefined> {
  return db.select().from(purchaseOrders).where(eq(purchaseOrders.id, id)).get();
}

/** Loads line items, payments and credit notes for a set of POs with three queries. */
export async function loadAggregates(db: Db, pos: PoRow[]): Promise<PoAggregate[]> {
  if (pos.length === 0) return [];
  const ids = pos.map((p) => p.id);
  const byPo = <T extends { purchaseOrderId: number }>(rows: T[]) => {
    const map = new Map<number, T[]>();
    for (const r of rows) map.set(r.purchaseOrderId, [...(map.get(r.purchaseOrderId) ?? []), r]);
    return map;
  };
  const lists = await Promise.all(
    chunk(ids, 90).map((part) =>
      db.batch([
        db
          .select()
          .from(lineItems)
          .where(inArray(lineItems.purchaseOrderId, part))
          .orderBy(asc(lineItems.purchaseOrderId), asc(lineItems.position)),
        db.select().from(payments).where(inArray(payments.purchaseOrderId, part)).orderBy(asc(payments.id)),
        db
          .select()
          .from(creditNotes)
          .where(inArray(creditNotes.purchaseOrderId, part))
          .orderBy(asc(creditNotes.id)),
      ]),
    ),
  );
  const lines = byPo(lists.flatMap((l) => l[0]));
  const pays = byPo(lists.flatMap((l) => l[1]));
  const credits = byPo(lists.flatMap((l) => l[2]));
  return pos.map((po) => ({
    po,
    lineItems: lines.get(po.id) ?? [],
    payments: pays.get(po.id) ?? [],
    creditNotes: credits.get(po.id) ?? [],
  }));
}

export async function loadAggregate(db: Db, po: PoRow): Promise<PoAggregate> {
  const [agg] = await loadAggregates(db, [po]);
  if (!agg) throw new Error("aggregate missing");
  return agg;
}

export interface PoListFilter {
  status?: PoStatus | undefined;
  qbo?: "outstanding" | "discrepancy" | undefined;
  beforeId?: number | undefined;
  limit: number;
}

/** Newest first; the cursor is the last id of the previous page. */
export async function listPos(db: Db, conferenceSlug: string, filter: PoListFilter): Promise<PoRow[]> {
  const conditions: SQL[] = [eq(purchaseOrders.conferenceSlug, conferenceSlug)];
  if (filter.status) conditions.push(eq(purchaseOrders.status, filter.status));
  if (filter.qbo === "outstanding") conditions.push(outstandingCondition());
  if (filter.qbo === "discrepancy") conditions.push(isNotNull(purchaseOrders.qboDiscrepancyKind));
  if (filter.beforeId !== undefined) conditions.push(lt(purchaseOrders.id, filter.beforeId));
  return db
    .select()
    .from(purchaseOrders)
    .where(and(...conditions))
    .orderBy(desc(purchaseOrders.id))
    .limit(filter.limit)
    .all();
}

/**
 * A PO whose QBO invoice still needs watching: it has one that is not voided or deleted, and
 * the PO is not paid. A cancelled PO whose invoice was kept stays outstanding: money can still
 * arrive on that invoice, and it must be recorded (and flagged), never lost.
 */
export function outstandingCondition(): SQL {
  return and(
    isNotNull(purchaseOrders.qboInvoiceId),
    isNull(purchaseOrders.qboInvoiceVoidedAt),
    ne(purchaseOrders.status, "paid"),
  ) as SQL;
}

/** How many outstanding invoices of the conference's POs each QuickBooks company holds. */
export async function openInvoiceRealms(
  db: Db,
  conferenceSlug: string,
): Promise<{ realmId: string; openInvoices: number }[]> {
  const rows = await db
    .select({ realmId: purchaseOrders.qboRealmId, openInvoices: sql<number>`COUNT(*)` })
    .from(purchaseOrders)
    .where(and(eq(purchaseOrders.conferenceSlug, conferenceSlug), outstandingCondition()))
    .groupBy(purchaseOrders.qboRealmId)
    .orderBy(purchaseOrders.qboRealmId)
    .all();
  return rows.flatMap((r) =>
    r.realmId ? [{ realmId: r.realmId, openInvoices: Number(r.openInvoices) }] : [],
  );
}

/** TS twin of `outstandingCondition`. */
export function isOutstanding(po: PoRow): boolean {
  return po.qboInvoiceId !== null && po.qboInvoiceVoidedAt === null && po.status !== "paid";
}

/** draft → sent, with its events; false when the PO was not a draft (checked in the statements). */
export async function markSent(db: Db, poId: number, now: string, ctx: EventContext): Promise<boolean> {
  const isDraft = and(eq(purchaseOrders.id, poId), eq(purchaseOrders.status, "draft"));
  const [, , rows] = await db.batch([
    poEventInsert(db, { type: "po.sent", ctx, at: now }, isDraft),
    statusChangedInsert(db, poId, sql`'sent'`, { ctx, at: now }, isDraft),
    db
      .update(purchaseOrders)
      .set({ status: "sent", updatedAt: now })
      .where(isDraft)
      .returning({ id: purchaseOrders.id }),
  ]);
  return rows.length === 1;
}

/**
 * Cancels the PO unless it is cancelled already or a request holds a live claim to create its
 * QBO invoice (`claimStaleBefore`: claims older than this belong to dead requests). Checked in
 * the statement: a cancel can never slip in between the claim and the saved invoice, which
 * would leave a cancelled PO with an invoice nobody knows about.
 */
export async function markCancelled(
  db: Db,
  poId: number,
  opts: { now: string; claimStaleBefore: string; qboInvoice: "keep" | "void" },
  ctx: EventContext,
): Promise<boolean> {
  const { now } = opts;
  const cancellable = and(
    eq(purchaseOrders.id, poId),
    ne(purchaseOrders.status, "cancelled"),
    or(
      isNull(purchaseOrders.qboCreateClaimedAt),
      isNotNull(purchaseOrders.qboInvoiceId),
      lt(purchaseOrders.qboCreateClaimedAt, opts.claimStaleBefore),
    ),
  );
  const [, , rows] = await db.batch([
    poEventInsert(
      db,
      {
        type: "po.cancelled",
        ctx,
        at: now,
        data: { from: purchaseOrders.status, qboInvoice: opts.qboInvoice },
      },
      cancellable,
    ),
    statusChangedInsert(db, poId, sql`'cancelled'`, { ctx, at: now }, cancellable),
    db
      .update(purchaseOrders)
      .set({ status: "cancelled", updatedAt: now })
      .where(cancellable)
      .returning({ id: purchaseOrders.id }),
  ]);
  return rows.length === 1;
}

export interface NewPayment {
  amountCents: number;
  method: PaymentMethod;
  reference: string;
  paymentDate: string;
  note: string;
}

/**
 * Records a manual payment, its events and the new status in one batch. The insert only
 * happens while the PO is not cancelled (checked by the statement), so it returns the new id
 * or null; its event exists exactly when the row does.
 */
export async function addPayment(
  db: Db,
  poId: number,
  p: NewPayment,
  now: string,
  ctx: EventContext,
): Promise<number | null> {
  const [inserted] = await db.batch([
    db.insert(payments).select(
      db
        .select({
          id: sql<number>`NULL`.as("id"),
          purchaseOrderId: purchaseOrders.id,
          amountCents: sql<number>`${p.amountCents}`.as("amount_cents"),
          method: sql<string>`${p.method}`.as("method"),
          reference: sql<string>`${p.reference}`.as("reference"),
          paymentDate: sql<string>`${p.paymentDate}`.as("payment_date"),
          note: sql<string>`${p.note}`.as("note"),
          source: sql<string>`'manual'`.as("source"),
          createdAt: sql<string>`${now}`.as("created_at"),
          voidedAt: sql<string | null>`NULL`.as("voided_at"),
          voidReason: sql<string | null>`NULL`.as("void_reason"),
          qboId: sql<string | null>`NULL`.as("qbo_id"),
          qboState: sql<string | null>`NULL`.as("qbo_state"),
          qboError: sql<string | null>`NULL`.as("qbo_error"),
        })
        .from(purchaseOrders)
        .where(and(eq(purchaseOrders.id, poId), sql`${purchaseOrders.status} <> 'cancelled'`)),
    ),
    paymentRecordedInsert(db, poId, { ctx, at: now }),
    ...recomputeStatus(db, poId, now, ctx),
  ]);
  return insertedId(inserted);
}

/**
 * `payment.recorded` for the payment inserted by the statement just before this one in the
 * batch (none when that insert matched nothing). Shared with reconciliation.
 */
export function paymentRecordedInsert(
  db: Db,
  poId: number,
  spec: { ctx: EventContext; at: string; actor?: Actor },
) {
  return poEventInsert(
    db,
    {
      ...spec,
      type: "payment.recorded",
      data: {
        paymentId: payments.id,
        amount: moneyText(payments.amountCents),
        method: payments.method,
        source: payments.source,
        paymentDate: payments.paymentDate,
        paymentReference: payments.reference,
      },
    },
    justInserted(payments, poId),
    { table: payments, on: eq(payments.purchaseOrderId, purchaseOrders.id) },
  );
}

export async function addCreditNote(
  db: Db,
  poId: number,
  c: { amountCents: number; reason: string },
  now: string,
  ctx: EventContext,
): Promise<number | null> {
  const [inserted] = await db.batch([
    db.insert(creditNotes).select(
      db
        .select({
          id: sql<number>`NULL`.as("id"),
          purchaseOrderId: purchaseOrders.id,
          amountCents: sql<number>`${c.amountCents}`.as("amount_cents"),
          reason: sql<string>`${c.reason}`.as("reason"),
          createdAt: sql<string>`${now}`.as("created_at"),
          voidedAt: sql<string | null>`NULL`.as("voided_at"),
          voidReason: sql<string | null>`NULL`.as("void_reason"),
          source: sql<string>`'manual'`.as("source"),
          qboId: sql<string | null>`NULL`.as("qbo_id"),
          qboState: sql<string | null>`NULL`.as("qbo_state"),
          qboError: sql<string | null>`NULL`.as("qbo_error"),
        })
        .from(purchaseOrders)
        .where(and(eq(purchaseOrders.id, poId), sql`${purchaseOrders.status} <> 'cancelled'`)),
    ),
    poEventInsert(
      db,
      {
        type: "credit_note.recorded",
        ctx,
        at: now,
        data: {
          creditNoteId: creditNotes.id,
          amount: moneyText(creditNotes.amountCents),
          reason: creditNotes.reason,
        },
      },
      justInserted(creditNotes, poId),
      { table: creditNotes, on: eq(creditNotes.purchaseOrderId, purchaseOrders.id) },
    ),
    ...recomputeStatus(db, poId, now, ctx),
  ]);
  return insertedId(inserted);
}

export type VoidOutcome = "voided" | "not_found" | "already_voided" | "not_manual";

/**
 * Voids a manual payment or credit note of the PO and recomputes the status, in one batch. The
 * row is kept (with when and why) and leaves every total; the guards are in the UPDATE, so two
 * concurrent voids of one row void it once.
 */
export async function voidMoneyRow(
  db: Db,
  kind: "payment" | "credit_note",
  poId: number,
  rowId: number,
  reason: string,
  now: string,
  ctx: EventContext,
): Promise<VoidOutcome> {
  const table = kind === "payment" ? payments : creditNotes;
  const manual = kind === "payment" ? eq(payments.source, "manual") : sql`1 = 1`;
  const voidable = and(eq(table.id, rowId), eq(table.purchaseOrderId, poId), isNull(table.voidedAt), manual);
  const [, updated] = await db.batch([
    // Before the UPDATE, under its own guard: the event exists exactly when the row is voided.
    poEventInsert(
      db,
      {
        type: kind === "payment" ? "payment.voided" : "credit_note.voided",
        ctx,
        at: now,
        data: {
          [kind === "payment" ? "paymentId" : "creditNoteId"]: table.id,
          amount: moneyText(table.amountCents),
          reason,
        },
      },
      voidable,
      { table, on: eq(table.purchaseOrderId, purchaseOrders.id) },
    ),
    db.update(table).set({ voidedAt: now, voidReason: reason }).where(voidable).returning({ id: table.id }),
    ...recomputeStatus(db, poId, now, ctx),
  ]);
  if (updated.length === 1) return "voided";
  const row = await db
    .select()
    .from(table)
    .where(and(eq(table.id, rowId), eq(table.purchaseOrderId, poId)))
    .get();
  if (!row) return "not_found";
  if (row.voidedAt !== null) return "already_voided";
  return "not_manual";
}

function insertedId(result: unknown): number | null {
  const meta = (result as D1Result).meta;
  return meta?.changes === 1 ? Number(meta.last_row_id) : null;
}
