/**
 * Reconciles POs against their QBO invoices: the one code path used by the sync route, the
 * webhook-driven queue consumer and the cron plan. Invoices are read with one
 * `SELECT * FROM Invoice WHERE Id IN (...)` per batch, never one request per PO, and the
 * writes for a whole batch go to D1 in a few `batch` calls.
 */
import type { Db } from "../db/client";
import { chunk } from "../db/client";
import { isOutstanding, type PoRow } from "../db/purchase-orders";
import {
  applyReconciliation,
  type InvoiceSnapshot,
  moneySums,
  type ReconcileWrite,
} from "../db/reconciliation";
import type { EventContext } from "../domain/events";
import { qboAmountToCents } from "../domain/money";
import {
  amountPrecisionDiscrepancy,
  decideReconciliation,
  type InvoiceState,
  realmChangedDiscrepancy,
} from "../domain/reconcile";
import type { QboClient } from "../qbo/client";
import { invoicesByIds } from "../qbo/query";
import { type Invoice, InvoiceQuery } from "../qbo/schemas";

export interface ReconcileOutcome {
  invoicesChecked: number;
  paymentsRecorded: number;
  qboQueries: number;
}

export function syncBatchSize(env: Pick<Env, "SYNC_BATCH_SIZE">): number {
  const n = Number.parseInt(env.SYNC_BATCH_SIZE ?? "", 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1000) : 500;
}

/**
 * Reconciles `pos` (those still outstanding) against the company `client` is connected to.
 * A PO whose invoice was created in another company is not read there (the same invoice id
 * names somebody else's invoice): it gets a `realm_changed` discrepancy, once, and nothing else.
 * `ctx` names who asked (the API caller, or the system for the cron and the queue); what was
 * found in QuickBooks is written as QuickBooks' doing (db/reconciliation.ts).
 */
export async function reconcilePurchaseOrders(
  db: Db,
  client: QboClient,
  pos: PoRow[],
  batchSize: number,
  ctx: EventContext,
  now = new Date().toISOString(),
): Promise<ReconcileOutcome> {
  const outstanding = pos.filter(isOutstanding);
  const outcome: ReconcileOutcome = { invoicesChecked: 0, paymentsRecorded: 0, qboQueries: 0 };
  if (outstanding.length === 0) return outcome;
  const connectedRealmId = await client.realmId();
  const syncable = outstanding.filter((po) => po.qboRealmId === connectedRealmId);
  const elsewhere = outstanding.filter((po) => po.qboRealmId !== connectedRealmId);
  if (elsewhere.length > 0) {
    await applyReconciliation(
      db,
      elsewhere.map((po) => ({
        kind: "realm_changed",
        po,
        discrepancy: realmChangedDiscrepancy(po.qboRealmId ?? "unknown", connectedRealmId),
      })),
      now,
      ctx,
    );
  }
  for (const group of chunk(syncable, batchSize)) {
    const ids = group.map((po) => po.qboInvoiceId as string);
    const response = await client.json(InvoiceQuery, {
      method: "POST",
      path: "query",
      text: invoicesByIds(ids),
    });
    outcome.qboQueries++;
    const invoices = new Map((response.QueryResponse.Invoice ?? []).map((inv) => [inv.Id, inv]));
    const sums = await moneySums(
      db,
      group.map((po) => po.id),
    );
    const writes: ReconcileWrite[] = [];
    for (const po of group) {
      const invoice = invoices.get(po.qboInvoiceId as string);
      const state = invoice ? invoiceState(invoice) : null;
      outcome.invoicesChecked++;
      if (invoice && !state) {
        // Amounts with more than two places: a person looks; nothing is recorded from them.
        writes.push({
          kind: "reconciled",
          po,
          decision: { qboPaidCents: 0, paymentCents: 0, discrepancy: amountPrecisionDiscrepancy() },
          invoice: null,
        });
        continue;
      }
      const sum = sums.get(po.id) ?? { paidCents: 0, qboPaidCents: 0 };
      const decision = decideReconciliation({
        poSubtotalCents: po.totalCents,
        totalPaidCents: sum.paidCents,
        qboPaidRecordedCents: sum.qboPaidCents,
        poCancelled: po.status === "cancelled",
        invoice: state,
      });
      writes.push({
        kind: "reconciled",
        po,
        decision,
        invoice: invoice && state ? snapshotOf(invoice, state, po) : null,
      });
    }
    outcome.paymentsRecorded += await applyReconciliation(db, writes, now, ctx);
  }
  return outcome;
}

/** The invoice's amounts in cents; null when QBO sent amounts that are not whole cents. */
export function invoiceState(invoice: Invoice): InvoiceState | null {
  const totalCents = qboAmountToCents(invoice.TotalAmt);
  const balanceCents = qboAmountToCents(invoice.Balance);
  const taxCents = qboAmountToCents(invoice.TxnTaxDetail?.TotalTax ?? 0);
  if (totalCents === null || balanceCents === null || taxCents === null) return null;
  const voided = (invoice.PrivateNote ?? "").startsWith("Voided") && totalCents === 0;
  return { totalCents, balanceCents, taxCents, voided };
}

/** What a sync remembers of the invoice. A voided invoice's zero tax does not erase the PO's. */
export function snapshotOf(invoice: Invoice, state: InvoiceState, po: PoRow): InvoiceSnapshot {
  return {
    totalCents: state.totalCents,
    balanceCents: state.balanceCents,
    taxCents: state.voided ? po.taxCents : state.taxCents,
    emailStatus: invoice.EmailStatus ?? null,
    exchangeRate: invoice.ExchangeRate == null ? null : String(invoice.ExchangeRate),
  };
}
