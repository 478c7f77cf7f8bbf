/**
 * Reads only the operator console needs (SPEC §13): the finance summary's aggregates, the PO list
 * with search and the "push failed" filter, and the conference list of the deployment token.
 * Each is a handful of grouped queries in one D1 batch, never one query per PO.
 */
import { and, desc, eq, isNotNull, lt, or, type SQL, sql } from "drizzle-orm";
import type { PaymentMethod } from "../domain/payments";
import type { PoStatus } from "../domain/po-status";
import type { Db } from "./client";
import { livePaidSum, outstandingCondition, type PoRow } from "./purchase-orders";
import { conferences, creditNotes, payments, purchaseOrders } from "./schema";

export const CONSOLE_PO_FILTERS = ["outstanding", "discrepancy", "push_failed"] as const;
export type ConsolePoFilter = (typeof CONSOLE_PO_FILTERS)[number];

export interface ConsolePoQuery {
  status?: PoStatus | undefined;
  filter?: ConsolePoFilter | undefined;
  /** Part of a reference or an organization name (case-insensitive). */
  search?: string | undefined;
  beforeId?: number | undefined;
  limit: number;
}

const liveCreditedSum = sql`(SELECT COALESCE(SUM(${creditNotes.amountCents}), 0) FROM ${creditNotes} WHERE ${creditNotes.purchaseOrderId} = ${purchaseOrders.id} AND ${creditNotes.voidedAt} IS NULL)`;

/** A payment or credit note of the PO whose push to QuickBooks finally failed. */
const pushFailed = sql`(EXISTS (SELECT 1 FROM ${payments} WHERE ${payments.purchaseOrderId} = ${purchaseOrders.id} AND ${payments.qboState} = 'failed') OR EXISTS (SELECT 1 FROM ${creditNotes} WHERE ${creditNotes.purchaseOrderId} = ${purchaseOrders.id} AND ${creditNotes.qboState} = 'failed'))`;

/** `LIKE` with the user's `%`, `_` and `\` taken literally. */
function contains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (ch) => `\\${ch}`)}%`;
}

/** Newest first, `limit` rows (ask one more to know whether a next page exists). */
export async function listConsolePos(db: Db, slug: string, q: ConsolePoQuery): Promise<PoRow[]> {
  const conditions: (SQL | undefined)[] = [eq(purchaseOrders.conferenceSlug, slug)];
  if (q.status) conditions.push(eq(purchaseOrders.status, q.status));
  if (q.filter === "outstanding") conditions.push(outstandingCondition());
  if (q.filter === "discrepancy") conditions.push(isNotNull(purchaseOrders.qboDiscrepancyKind));
  if (q.filter === "push_failed") conditions.push(pushFailed);
  if (q.search) {
    const pattern = contains(q.search);
    conditions.push(
      or(
        sql`${purchaseOrders.reference} LIKE ${pattern.toUpperCase()} ESCAPE '\\'`,
        sql`${purchaseOrders.organizationName} LIKE ${pattern} ESCAPE '\\'`,
      ),
    );
  }
  if (q.beforeId !== undefined) conditions.push(lt(purchaseOrders.id, q.beforeId));
  return db
    .select()
    .from(purchaseOrders)
    .where(and(...conditions))
    .orderBy(desc(purchaseOrders.id))
    .limit(q.limit)
    .all();
}

export interface StatusTotals {
  status: PoStatus;
  count: number;
  totalCents: number;
  paidCents: number;
  creditedCents: number;
  /** Σ of each PO's open balance (never below zero: an overpaid PO does not offset another's debt). */
  openCents: number;
}

export interface FinanceSummary {
  byStatus: StatusTotals[];
  byMethod: { method: PaymentMethod; count: number; totalCents: number }[];
  invoiced: { count: number; totalCents: number; qboTotalCents: number; qboBalanceCents: number };
  discrepancies: number;
  outstanding: number;
  failedPushes: number;
}

/** The finance summary's numbers for one conference: five grouped queries in one batch. */
export async function financeSummary(db: Db, slug: string): Promise<FinanceSummary> {
  const total = sql`(${purchaseOrders.totalCents} + ${purchaseOrders.taxCents})`;
  const open = sql`MAX(${total} - ${livePaidSum(purchaseOrders.id)} - ${liveCreditedSum}, 0)`;
  const mine = eq(purchaseOrders.conferenceSlug, slug);
  const liveInvoice = and(
    mine,
    isNotNull(purchaseOrders.qboInvoiceId),
    sql`${purchaseOrders.qboInvoiceVoidedAt} IS NULL`,
  );
  const [byStatus, byMethod, invoiced, counts, failed] = await db.batch([
    db
      .select({
        status: purchaseOrders.status,
        count: sql<number>`COUNT(*)`,
        totalCents: sql<number>`COALESCE(SUM(${total}), 0)`,
        paidCents: sql<number>`COALESCE(SUM(${livePaidSum(purchaseOrders.id)}), 0)`,
        creditedCents: sql<number>`COALESCE(SUM(${liveCreditedSum}), 0)`,
        openCents: sql<number>`COALESCE(SUM(CASE WHEN ${purchaseOrders.status} = 'cancelled' THEN 0 ELSE ${open} END), 0)`,
      })
      .from(purchaseOrders)
      .where(mine)
      .groupBy(purchaseOrders.status),
    db
      .select({
        method: payments.method,
        count: sql<number>`COUNT(*)`,
        totalCents: sql<number>`COALESCE(SUM(${payments.amountCents}), 0)`,
      })
      .from(payments)
      .innerJoin(purchaseOrders, eq(payments.purchaseOrderId, purchaseOrders.id))
      .where(and(mine, sql`${payments.voidedAt} IS NULL`))
      .groupBy(payments.method)
      .orderBy(payments.method),
    db
      .select({
        count: sql<number>`COUNT(*)`,
        totalCents: sql<number>`COALESCE(SUM(${total}), 0)`,
        qboTotalCents: sql<number>`COALESCE(SUM(${purchaseOrders.qboTotalCents}), 0)`,
        qboBalanceCents: sql<number>`COALESCE(SUM(${purchaseOrders.qboBalanceCents}), 0)`,
      })
      .from(purchaseOrders)
      .where(liveInvoice),
    db
      .select({
        discrepancies: sql<number>`COALESCE(SUM(CASE WHEN ${purchaseOrders.qboDiscrepancyKind} IS NOT NULL THEN 1 ELSE 0 END), 0)`,
        outstanding: sql<number>`COALESCE(SUM(CASE WHEN ${outstandingCondition()} THEN 1 ELSE 0 END), 0)`,
      })
      .from(purchaseOrders)
      .where(mine),
    db.select({ failed: sql<number>`COUNT(*)` }).from(purchaseOrders).where(and(mine, pushFailed)),
  ]);
  const inv = invoiced[0];
  return {
    byStatus: byStatus.map((r) => ({
      status: r.status,
      count: Number(r.count),
      totalCents: Number(r.totalCents),
      paidCents: Number(r.paidCents),
      creditedCents: Number(r.creditedCents),
      openCents: Number(r.openCents),
    })),
    byMethod: byMethod.map((r) => ({
      method: r.method,
      count: Number(r.count),
      totalCents: Number(r.totalCents),
    })),
    invoiced: {
      count: Number(inv?.count ?? 0),
      totalCents: Number(inv?.totalCents ?? 0),
      qboTotalCents: Number(inv?.qboTotalCents ?? 0),
      qboBalanceCents: Number(inv?.qboBalanceCents ?? 0),
    },
    discrepancies: Number(counts[0]?.discrepancies ?? 0),
    outstanding: Number(counts[0]?.outstanding ?? 0),
    failedPushes: Number(failed[0]?.failed ?? 0),
  };
}

/** Every conference, by name: what the deployment token may open. */
export async function listAllConferences(db: Db, limit: number) {
  return db
    .select({ slug: conferences.slug, name: conferences.name, currency: conferences.currency })
    .from(conferences)
    .orderBy(conferences.name, conferences.slug)
    .limit(limit)
    .all();
}
