/**
 * SQL for the QBO invoice of a PO: the create claim, the saved invoice (with its timeline
 * events, in the same batch), remembered customers.
 */
import { and, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { EventContext } from "../domain/events";
import { formatCents } from "../domain/money";
import type { DiscrepancyKind } from "../domain/reconcile";
import type { Db } from "./client";
import { pushRowsRecordedBeforeInvoice } from "./ledger-outbox";
import { poEventInsert, statusChangedInsert } from "./po-events";
import type { PoRow } from "./purchase-orders";
import { purchaseOrders, qboCustomers } from "./schema";

/** A QBO invoice can be made for these (SPEC §9: a sponsor may wire a deposit before the invoice). */
export const INVOICEABLE_STATUSES = ["draft", "sent", "partially_paid"] as const;

/** A claim older than this belongs to a request that died; a retry may take it over. */
const CLAIM_TTL_MS = 2 * 60 * 1000;

/** Claims taken before this instant belong to requests that died. */
export function claimStaleBefore(now: Date): string {
  return new Date(now.getTime() - CLAIM_TTL_MS).toISOString();
}

/**
 * Takes the right to create the PO's QBO invoice. One conditional UPDATE: of N concurrent
 * requests exactly one gets the row back (as claimed); the others see a live claim or an invoice id.
 */
export async function claimInvoiceCreation(db: Db, poId: number, now: Date): Promise<PoRow | null> {
  const staleBefore = claimStaleBefore(now);
  const rows = await db
    .update(purchaseOrders)
    .set({ qboCreateClaimedAt: now.toISOString() })
    .where(
      and(
        eq(purchaseOrders.id, poId),
        isNull(purchaseOrders.qboInvoiceId),
        inArray(purchaseOrders.status, INVOICEABLE_STATUSES),
        or(isNull(purchaseOrders.qboCreateClaimedAt), lt(purchaseOrders.qboCreateClaimedAt, staleBefore)),
      ),
    )
    .returning();
  return rows[0] ?? null;
}

export async function releaseInvoiceClaim(db: Db, poId: number): Promise<void> {
  await db
    .update(purchaseOrders)
    .set({ qboCreateClaimedAt: null })
    .where(and(eq(purchaseOrders.id, poId), isNull(purchaseOrders.qboInvoiceId)));
}

export interface SavedInvoice {
  realmId: string;
  invoiceId: string;
  customerId: string;
  docNumber: string | null;
  invoiceUrl: string;
  paymentLink: string | null;
  /** null when QBO's amounts were not whole cents (then `discrepancy` says so). */
  totalCents: number | null;
  balanceCents: number | null;
  taxCents: number;
  exchangeRate: string | null;
  emailStatus: string | null;
  discrepancy: { kind: DiscrepancyKind; message: string } | null;
}

/** Marks that a create request is about to be sent (see the column's comment in schema.ts). */
export async function markCreateAttempted(db: Db, poId: number, now: string): Promise<void> {
  await db.update(purchaseOrders).set({ qboCreateAttemptedAt: now }).where(eq(purchaseOrders.id, poId));
}

/** QBO refused the create for certain: nothing was created, so no look-up is needed next time. */
export async function clearCreateAttempted(db: Db, poId: number): Promise<void> {
  await db
    .update(purchaseOrders)
    .set({ qboCreateAttemptedAt: null })
    .where(and(eq(purchaseOrders.id, poId), isNull(purchaseOrders.qboInvoiceId)));
}

/**
 * Stores the created invoice, releases the claim and moves a draft to sent, in one statement,
 * batched with its events (`qbo.invoice_created`, a `qbo.discrepancy` when its amounts could
 * not be read, `po.status_changed` draft → sent); returns the PO.
 */
export async function saveInvoice(
  db: Db,
  poId: number,
  inv: SavedInvoice,
  now: string,
  ctx: EventContext,
): Promise<PoRow> {
  const thisPo = eq(purchaseOrders.id, poId);
  const spec = { ctx, at: now };
  const discrepancy = inv.discrepancy
    ? [
        poEventInsert(
          db,
          { ...spec, type: "qbo.discrepancy", data: { ...inv.discrepancy } },
          and(thisPo, sql`${purchaseOrders.qboDiscrepancyKind} IS NOT ${inv.discrepancy.kind}`),
        ),
      ]
    : [];
  const results = await db.batch([
    poEventInsert(
      db,
      {
        ...spec,
        type: "qbo.invoice_created",
        data: {
          invoiceId: inv.invoiceId,
          docNumber: inv.docNumber,
          realmId: inv.realmId,
          customerId: inv.customerId,
          total: inv.totalCents === null ? null : formatCents(inv.totalCents),
          tax: formatCents(inv.taxCents),
        },
      },
      thisPo,
    ),
    ...discrepancy,
    statusChangedInsert(db, poId, sql`'sent'`, spec, eq(purchaseOrders.status, "draft")),
    db
      .update(purchaseOrders)
      .set({
        qboRealmId: inv.realmId,
        qboInvoiceId: inv.invoiceId,
        qboCustomerId: inv.customerId,
        qboDocNumber: inv.docNumber,
        qboInvoiceUrl: inv.invoiceUrl,
        qboPaymentLink: inv.paymentLink,
        qboTotalCents: inv.totalCents,
        qboBalanceCents: inv.balanceCents,
        taxCents: inv.taxCents,
        qboExchangeRate: inv.exchangeRate,
        qboEmailStatus: inv.emailStatus,
        qboLastSyncedAt: now,
        qboCreateClaimedAt: null,
        qboCreateAttemptedAt: null,
        qboDiscrepancyKind: inv.discrepancy?.kind ?? null,
        qboDiscrepancyMessage: inv.discrepancy?.message ?? null,
        qboDiscrepancyAt: inv.discrepancy ? now : null,
        status: sql`CASE WHEN ${purchaseOrders.status} = 'draft' THEN 'sent' ELSE ${purchaseOrders.status} END`,
        updatedAt: now,
      })
      .where(thisPo)
      .returning(),
    // Payments and credit notes recorded before the invoice existed are pushed now (SPEC §9).
    ...pushRowsRecordedBeforeInvoice(db, poId, now),
  ]);
  const [row] = results[results.length - 5] as PoRow[];
  if (!row) throw new Error("purchase order vanished while its invoice was saved");
  return row;
}

/** Remembers QBO's email status after a send, with its `qbo.invoice_emailed` event; returns the PO. */
export async function markInvoiceEmailed(
  db: Db,
  po: PoRow,
  email: { sentTo: string; emailStatus: string },
  now: string,
  ctx: EventContext,
): Promise<PoRow> {
  const thisPo = eq(purchaseOrders.id, po.id);
  const [, rows] = await db.batch([
    poEventInsert(
      db,
      {
        type: "qbo.invoice_emailed",
        ctx,
        at: now,
        data: {
          invoiceId: purchaseOrders.qboInvoiceId,
          sentTo: email.sentTo,
          emailStatus: email.emailStatus,
        },
      },
      thisPo,
    ),
    db
      .update(purchaseOrders)
      .set({ qboEmailStatus: email.emailStatus, updatedAt: now })
      .where(thisPo)
      .returning(),
  ]);
  const [row] = rows;
  if (!row) throw new Error("purchase order vanished while its invoice was updated");
  return row;
}

/**
 * Remembers that we voided the PO's invoice (QBO's amounts after the void), with its
 * `qbo.invoice_voided` event the first time only; returns the PO.
 */
export async function markInvoiceVoided(
  db: Db,
  po: PoRow,
  amounts: { totalCents: number; balanceCents: number },
  now: string,
  ctx: EventContext,
): Promise<PoRow> {
  const thisPo = eq(purchaseOrders.id, po.id);
  const [, rows] = await db.batch([
    poEventInsert(
      db,
      {
        type: "qbo.invoice_voided",
        ctx,
        at: now,
        data: { invoiceId: purchaseOrders.qboInvoiceId, realmId: purchaseOrders.qboRealmId },
      },
      and(thisPo, isNull(purchaseOrders.qboInvoiceVoidedAt)),
    ),
    db
      .update(purchaseOrders)
      .set({
        qboInvoiceVoidedAt: sql`COALESCE(${purchaseOrders.qboInvoiceVoidedAt}, ${now})`,
        qboTotalCents: amounts.totalCents,
        qboBalanceCents: amounts.balanceCents,
        updatedAt: now,
      })
      .where(thisPo)
      .returning(),
  ]);
  const [row] = rows;
  if (!row) throw new Error("purchase order vanished while its invoice was updated");
  return row;
}

/** QBO DisplayName is unique case-insensitively, so the memory is keyed the same way. */
export function organizationKey(name: string): string {
  return name.trim().toLowerCase();
}

export async function rememberedCustomer(db: Db, slug: string, realmId: string, organization: string) {
  const row = await db
    .select({ customerId: qboCustomers.customerId })
    .from(qboCustomers)
    .where(
      and(
        eq(qboCustomers.conferenceSlug, slug),
        eq(qboCustomers.realmId, realmId),
        eq(qboCustomers.organizationKey, organizationKey(organization)),
      ),
    )
    .get();
  return row?.customerId ?? null;
}

export async function rememberCustomer(
  db: Db,
  slug: string,
  realmId: string,
  organization: string,
  customerId: string,
  now: string,
): Promise<void> {
  await db
    .insert(qboCustomers)
    .values({
      conferenceSlug: slug,
      realmId,
      organizationKey: organizationKey(organization),
      customerId,
      createdAt: now,
    })
    .onConflictDoUpdate({
      target: [qboCustomers.conferenceSlug, qboCustomers.realmId, qboCustomers.organizationKey],
      set: { customerId },
    });
}
