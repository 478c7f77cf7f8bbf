/** Renders stored rows as the JSON of SPEC §3. Money leaves as decimal strings here and only here. */

import type { ConnectionStatus } from "../connections/types";
import type { ConferenceRow } from "../db/conferences";
import type { PoAggregate } from "../db/purchase-orders";
import { formatCents } from "../domain/money";
import type { QboPushState } from "../domain/payments";
import type { ConferenceJson, PurchaseOrderJson, QboLinkJson } from "./schemas";

/**
 * `previousRealms`: other companies that still hold live invoices of this conference's POs
 * (after a forced reconnect to another company), so both realms show while they differ.
 */
export function conferenceView(
  row: ConferenceRow,
  status: ConnectionStatus,
  previousRealms: { realmId: string; openInvoices: number }[] = [],
): ConferenceJson {
  return {
    slug: row.slug,
    name: row.name,
    currency: row.currency,
    qbo: {
      realmId: status.realmId ?? row.qboRealmId,
      environment: row.qboEnvironment ?? null,
      itemId: row.qboItemId,
      taxCodeId: row.qboTaxCodeId,
      allowOnlinePayment: { card: row.qboAllowCard, ach: row.qboAllowAch },
      depositAccountId: row.qboDepositAccountId,
      connected: status.connected,
      needsReconnect: status.needsReconnect,
      accessTokenExpiresAt: status.accessTokenExpiresAt,
      refreshTokenExpiresAt: status.refreshTokenExpiresAt,
      refreshTokenHardExpiresAt: status.refreshTokenHardExpiresAt,
      lastRefreshedAt: status.lastRefreshedAt,
      previousRealms,
    },
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/** A money row's QuickBooks counterpart (SPEC §9): null while there is nothing to push. */
function qboLink(row: {
  qboId: string | null;
  qboState: QboPushState | null;
  qboError: string | null;
}): QboLinkJson | null {
  if (row.qboState === null) return null;
  return {
    id: row.qboId,
    state: row.qboState,
    ...(row.qboError && row.qboState === "failed" ? { error: row.qboError } : {}),
  };
}

export function purchaseOrderView({ po, lineItems, payments, creditNotes }: PoAggregate): PurchaseOrderJson {
  // BigInt: each amount is at most MAX_CENTS, but nothing bounds how many there are.
  // Voided rows are shown (with why) but leave every total.
  const paid = payments.reduce((sum, p) => (p.voidedAt ? sum : sum + BigInt(p.amountCents)), 0n);
  const credited = creditNotes.reduce((sum, c) => (c.voidedAt ? sum : sum + BigInt(c.amountCents)), 0n);
  return {
    reference: po.reference,
    conference: po.conferenceSlug,
    status: po.status,
    organizationName: po.organizationName,
    contactName: po.contactName,
    contactEmail: po.contactEmail,
    billingAddress: po.billingAddress,
    notes: po.notes,
    lineItems: lineItems.map((l) => ({
      id: l.id,
      description: l.description,
      quantity: l.quantity,
      unitPrice: formatCents(l.unitPriceCents),
      lineTotal: formatCents(l.lineTotalCents),
    })),
    subtotal: formatCents(po.totalCents),
    tax: formatCents(po.taxCents),
    total: formatCents(po.totalCents + po.taxCents),
    totalPaid: formatCents(paid),
    totalCredited: formatCents(credited),
    balanceDue: formatCents(BigInt(po.totalCents + po.taxCents) - paid - credited),
    payments: payments.map((p) => ({
      id: p.id,
      amount: formatCents(p.amountCents),
      method: p.method,
      reference: p.reference,
      paymentDate: p.paymentDate,
      note: p.note,
      source: p.source,
      createdAt: p.createdAt,
      voidedAt: p.voidedAt,
      voidReason: p.voidReason,
      qbo: qboLink(p),
    })),
    creditNotes: creditNotes.map((c) => ({
      id: c.id,
      amount: formatCents(c.amountCents),
      reason: c.reason,
      source: c.source,
      createdAt: c.createdAt,
      voidedAt: c.voidedAt,
      voidReason: c.voidReason,
      qbo: qboLink(c),
    })),
    qbo: po.qboInvoiceId
      ? {
          invoiceId: po.qboInvoiceId,
          invoiceUrl: po.qboInvoiceUrl,
          paymentLink: po.qboPaymentLink,
          customerId: po.qboCustomerId,
          docNumber: po.qboDocNumber,
          totalAmt: po.qboTotalCents === null ? null : formatCents(po.qboTotalCents),
          balance: po.qboBalanceCents === null ? null : formatCents(po.qboBalanceCents),
          emailStatus: po.qboEmailStatus,
          lastSyncedAt: po.qboLastSyncedAt,
          realmId: po.qboRealmId,
          exchangeRate: po.qboExchangeRate,
          voidedAt: po.qboInvoiceVoidedAt,
          discrepancy:
            po.qboDiscrepancyKind && po.qboDiscrepancyAt
              ? {
                  kind: po.qboDiscrepancyKind,
                  message: po.qboDiscrepancyMessage ?? "",
                  detectedAt: po.qboDiscrepancyAt,
                }
              : null,
        }
      : null,
    createdAt: po.createdAt,
    updatedAt: po.updatedAt,
  };
}
