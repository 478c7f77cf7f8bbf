/**
 * Reconciles POs against their QBO invoices: the one code path used by the sync route, the
 * webhook-driven queue consumer and the cron plan. Invoices are read with one
 * `SELECT * FROM Invoice WHERE Id IN (...)` per batch, never one request per PO, and the
 * writes for a whole batch go to D1 in a few `batch` calls.
 */
import type { Db } from "../db/client";
import { chunk } from "../db/client";
import { isOutstanding, type PoRow } from "../db/purchase-orders";
import { applyReconciliation, moneySums, type ReconcileWrite } from "../db/reconciliation";
import { qboAmountToCents } from "../domain/money";
import { decideReconciliation, type InvoiceState, realmChangedDiscrepancy } from "../domain/reconcile";
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
 */
export async function reconcilePurchaseOrders(
  db: Db,
  client: QboClient,
  pos: PoRow[],
  batchSize: number,
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
      if (invoice && !state) continue; // amounts QBO should never send (more than two places): leave untouched
      const sum = sums.get(po.id) ?? { paidCents: 0, qboPaidCents: 0 };
      const decision = decideReconciliation({
        poTotalCents: po.totalCents,
        totalPaidCents: sum.paidCents,
        qboPaidRecordedCents: sum.qboPaidCents,
        poCancelled: po.status === "cancelled",
        invoice: state,
      });
      const snapshot = state
        ? {
            totalCents: state.totalCents,
            balanceCents: state.balanceCents,
            emailStatus: invoice?.EmailStatus ?? null,
          }
        : null;
      writes.push({ kind: "reconciled", po, decision, invoice: snapshot });
      outcome.invoicesChecked++;
    }
    outcome.paymentsRecorded += await applyReconciliation(db, writes, now);
  }
  return outcome;
}

function invoiceState(invoice: Invoice): InvoiceState | null {
  const totalCents = qboAmountToCents(invoice.TotalAmt);
  const balanceCents = qboAmountToCents(invoice.Balance);
  if (totalCents === null || balanceCents === null) return null;
  const voided = (invoice.PrivateNote ?? "").startsWith("Voided") && totalCents === 0;
  return { totalCents, balanceCents, voided };
}
