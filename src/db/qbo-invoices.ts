/** SQL for the QBO invoice of a PO: the create claim, the saved invoice, remembered customers. */
import { and, eq, inArray, isNull, lt, or, sql } from "drizzle-orm";
import type { DiscrepancyKind } from "../domain/reconcile";
import type { Db } from "./client";
import type { PoRow } from "./purchase-orders";
import { purchaseOrders, qboCustomers } from "./schema";

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
        inArray(purchaseOrders.status, ["draft", "sent"]),
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

/** Stores the created invoice, releases the claim and moves a draft to sent, in one statement; returns the PO. */
export async function saveInvoice(db: Db, poId: number, inv: SavedInvoice, now: string): Promise<PoRow> {
  const [row] = await db
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
    .where(eq(purchaseOrders.id, poId))
    .returning();
  if (!row) throw new Error("purchase order vanished while its invoice was saved");
  return row;
}

/** Updates the remembered invoice fields; returns the PO as it now is. */
export async function updateInvoiceFields(
  db: Db,
  po: PoRow,
  fields: { emailStatus?: string | null; totalCents?: number; balanceCents?: number; voidedAt?: string },
  now: string,
): Promise<PoRow> {
  const [row] = await db
    .update(purchaseOrders)
    .set({
      ...(fields.voidedAt !== undefined ? { qboInvoiceVoidedAt: fields.voidedAt } : {}),
      ...(fields.emailStatus !== undefined ? { qboEmailStatus: fields.emailStatus } : {}),
      ...(fields.totalCents !== undefined ? { qboTotalCents: fields.totalCents } : {}),
      ...(fields.balanceCents !== undefined ? { qboBalanceCents: fields.balanceCents } : {}),
      updatedAt: now,
    })
    .where(eq(purchaseOrders.id, po.id))
    .returning();
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
