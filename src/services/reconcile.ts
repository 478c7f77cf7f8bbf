/**
 * Reconciles POs against their QBO invoices: the one code path used by the sync route, the
 * webhook-driven queue consumer and the cron plan. A batch of invoices costs at most three QBO
 * reads, never one request per PO: `SELECT * FROM Invoice WHERE Id IN (...)`, then the
 * Payments those invoices link (`LinkedTxn`), then the CreditMemos those payments apply, each
 * one query for the whole batch (split only past QBO's 1,000 rows per answer). The writes for
 * a whole batch go to D1 in a few `batch` calls.
 */
import type { Db } from "../db/client";
import { chunk } from "../db/client";
import { isOutstanding, type PoRow } from "../db/purchase-orders";
import {
  applyReconciliation,
  findPosByMoneyQboIds,
  type InvoiceSnapshot,
  type LocalLedger,
  loadLedgerRows,
  moneySums,
  type ReconcileWrite,
} from "../db/reconciliation";
import { findPosByInvoiceIds } from "../db/sync-bookkeeping";
import type { EventContext } from "../domain/events";
import { qboAmountToCents } from "../domain/money";
import {
  amountPrecisionDiscrepancy,
  decideLedger,
  decideReconciliation,
  type InvoiceState,
  type LocalMoneyRow,
  realmChangedDiscrepancy,
} from "../domain/reconcile";
import { type QboClient, QboError } from "../qbo/client";
import { invoiceLedger, type LinkedReads, linkedCreditMemoIds, linkedPaymentIds } from "../qbo/linked-txns";
import { creditMemosByIds, invoicesByIds, paymentsByIds } from "../qbo/query";
import { CreditMemoQuery, type Invoice, InvoiceQuery, type Payment, PaymentQuery } from "../qbo/schemas";

export interface ReconcileOutcome {
  invoicesChecked: number;
  paymentsRecorded: number;
  creditNotesRecorded: number;
  qboQueries: number;
  /**
   * Null when every batch followed the invoices' linked transactions; otherwise why a batch
   * fell back to version 1's balance rule (`TotalAmt − Balance`): the linked payments or
   * credit memos could not be read. Kept on the sync run, shown in `GET …/qbo/sync`.
   */
  ledgerFallback: string | null;
}

export interface ReconcileOptions {
  now?: string;
  /**
   * Reconcile paid POs too (not only outstanding ones): a change QBO reported (webhook,
   * change feed) is followed whatever the PO's status, so a payment voided in QBO reopens a
   * paid PO. POs whose invoice is voided or deleted are never read again.
   */
  includeSettled?: boolean;
  /** Payments just read to find the POs (posConcernedBy): not read a second time. */
  paymentsRead?: PaymentsRead;
}

/** Payment ids asked of QBO, and the payments it answered (the others are deleted). */
export interface PaymentsRead {
  asked: Set<string>;
  payments: Map<string, Payment>;
}

export function syncBatchSize(env: Pick<Env, "SYNC_BATCH_SIZE">): number {
  const n = Number.parseInt(env.SYNC_BATCH_SIZE ?? "", 10);
  return Number.isFinite(n) && n > 0 ? Math.min(n, 1000) : 500;
}

/**
 * Reconciles `pos` (those still outstanding, or every live invoice with `includeSettled`)
 * against the company `client` is connected to. A PO whose invoice was created in another
 * company is not read there (the same invoice id names somebody else's invoice): it gets a
 * `realm_changed` discrepancy, once, and nothing else. `ctx` names who asked (the API caller,
 * or the system for the cron and the queue); what was found in QuickBooks is written as
 * QuickBooks' doing (db/reconciliation.ts).
 */
export async function reconcilePurchaseOrders(
  db: Db,
  client: QboClient,
  pos: PoRow[],
  batchSize: number,
  ctx: EventContext,
  opts: ReconcileOptions = {},
): Promise<ReconcileOutcome> {
  const now = opts.now ?? new Date().toISOString();
  const candidates = pos.filter((po) =>
    opts.includeSettled ? po.qboInvoiceId !== null && po.qboInvoiceVoidedAt === null : isOutstanding(po),
  );
  const outcome: ReconcileOutcome = {
    invoicesChecked: 0,
    paymentsRecorded: 0,
    creditNotesRecorded: 0,
    qboQueries: 0,
    ledgerFallback: null,
  };
  if (candidates.length === 0) return outcome;
  const connectedRealmId = await client.realmId();
  const syncable = candidates.filter((po) => po.qboRealmId === connectedRealmId);
  const elsewhere = candidates.filter((po) => po.qboRealmId !== connectedRealmId);
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
    // Our rows first, QBO after: see loadLedgerRows for why the order matters.
    const local = await loadLedgerRows(
      db,
      group.map((po) => po.id),
    );
    const ids = group.map((po) => po.qboInvoiceId as string);
    const response = await client.json(InvoiceQuery, {
      method: "POST",
      path: "query",
      text: invoicesByIds(ids),
    });
    outcome.qboQueries++;
    const invoices = new Map((response.QueryResponse.Invoice ?? []).map((inv) => [inv.Id, inv]));
    let reads: LinkedReads | null = null;
    try {
      reads = await readLinkedTransactions(
        client,
        [...invoices.values()],
        [...local.values()],
        outcome,
        opts.paymentsRead,
      );
    } catch (err) {
      // A transient failure (429, 5xx, timeout) is retried like any other; a refusal or an
      // answer we cannot read leaves this batch to the balance rule, and the run says so.
      if (!(err instanceof QboError) || err.transient) throw err;
      outcome.ledgerFallback = `Linked payments and credit memos could not be read (${err.message.slice(0, 200)}); the balance rule TotalAmt − Balance was used.`;
    }
    const writes = reads
      ? ledgerWrites(group, invoices, reads, local, now)
      : await balanceRuleWrites(db, group, invoices);
    outcome.invoicesChecked += group.length;
    const recorded = await applyReconciliation(db, writes, now, ctx);
    outcome.paymentsRecorded += recorded.payments;
    outcome.creditNotesRecorded += recorded.creditNotes;
  }
  return outcome;
}

/** Ids our live rows carry: read with the linked ones, so their fate (voided, deleted) is known. */
function knownIds(rows: LocalMoneyRow[]): string[] {
  return rows.flatMap((r) => (!r.voided && r.qboId !== null ? [r.qboId] : []));
}

/** The second and third reads of a batch: its payments, then its credit memos. */
async function readLinkedTransactions(
  client: QboClient,
  invoices: Invoice[],
  local: LocalLedger[],
  outcome: ReconcileOutcome,
  paymentsRead: PaymentsRead = { asked: new Set(), payments: new Map() },
): Promise<LinkedReads> {
  const reads: LinkedReads = {
    payments: new Map(paymentsRead.payments),
    creditMemos: new Map(),
    paymentIdsRead: new Set(paymentsRead.asked),
    creditMemoIdsRead: new Set(),
  };
  const paymentIds = new Set([...linkedPaymentIds(invoices), ...local.flatMap((l) => knownIds(l.payments))]);
  for (const id of paymentsRead.asked) paymentIds.delete(id);
  for (const part of chunk([...paymentIds], 1000)) {
    const res = await client.json(PaymentQuery, { method: "POST", path: "query", text: paymentsByIds(part) });
    outcome.qboQueries++;
    for (const p of res.QueryResponse.Payment ?? []) reads.payments.set(p.Id, p);
    for (const id of part) reads.paymentIdsRead.add(id);
  }
  const creditIds = new Set([
    ...linkedCreditMemoIds(invoices, reads.payments.values()),
    ...local.flatMap((l) => knownIds(l.creditNotes)),
  ]);
  for (const part of chunk([...creditIds], 1000)) {
    const res = await client.json(CreditMemoQuery, {
      method: "POST",
      path: "query",
      text: creditMemosByIds(part),
    });
    outcome.qboQueries++;
    for (const c of res.QueryResponse.CreditMemo ?? []) reads.creditMemos.set(c.Id, c);
    for (const id of part) reads.creditMemoIdsRead.add(id);
  }
  return reads;
}

/** Version 2: each PO's rows matched to its invoice's linked payments and credit memos. */
function ledgerWrites(
  group: PoRow[],
  invoices: Map<string, Invoice>,
  reads: LinkedReads,
  local: Map<number, LocalLedger>,
  now: string,
): ReconcileWrite[] {
  return group.map((po): ReconcileWrite => {
    const invoice = invoices.get(po.qboInvoiceId as string);
    const state = invoice ? invoiceState(invoice) : null;
    const rows = local.get(po.id) ?? { payments: [], creditNotes: [] };
    const ledger =
      invoice && state && !state.voided
        ? invoiceLedger(
            invoice,
            state,
            reads,
            { paymentIds: knownIds(rows.payments), creditMemoIds: knownIds(rows.creditNotes) },
            now.slice(0, 10),
          )
        : null;
    if (invoice && (!state || (!state.voided && !ledger))) {
      // Amounts with more than two places: a person looks; nothing is recorded from them.
      return {
        kind: "ledger",
        po,
        decision: { actions: [], discrepancy: amountPrecisionDiscrepancy() },
        invoice: null,
      };
    }
    const decision = decideLedger({
      conferenceSlug: po.conferenceSlug,
      poSubtotalCents: po.totalCents,
      poCancelled: po.status === "cancelled",
      payments: rows.payments,
      creditNotes: rows.creditNotes,
      invoice: state,
      ledger,
    });
    return {
      kind: "ledger",
      po,
      decision,
      invoice: invoice && state ? snapshotOf(invoice, state, po) : null,
    };
  });
}

/** Version 1's balance rule, kept as the fallback when linked transactions cannot be read. */
async function balanceRuleWrites(
  db: Db,
  group: PoRow[],
  invoices: Map<string, Invoice>,
): Promise<ReconcileWrite[]> {
  const sums = await moneySums(
    db,
    group.map((po) => po.id),
  );
  return group.map((po): ReconcileWrite => {
    const invoice = invoices.get(po.qboInvoiceId as string);
    const state = invoice ? invoiceState(invoice) : null;
    if (invoice && !state) {
      return {
        kind: "reconciled",
        po,
        decision: { qboPaidCents: 0, paymentCents: 0, discrepancy: amountPrecisionDiscrepancy() },
        invoice: null,
      };
    }
    const sum = sums.get(po.id) ?? { paidCents: 0, qboPaidCents: 0 };
    const decision = decideReconciliation({
      poSubtotalCents: po.totalCents,
      totalPaidCents: sum.paidCents,
      qboPaidRecordedCents: sum.qboPaidCents,
      poCancelled: po.status === "cancelled",
      invoice: state,
    });
    return {
      kind: "reconciled",
      po,
      decision,
      invoice: invoice && state ? snapshotOf(invoice, state, po) : null,
    };
  });
}

/**
 * The POs a change QBO reported concerns (webhook events, change feed): the invoices named,
 * the invoices the payments link (one Payment query for all of them, on `client`, which must
 * be pinned to the realm the change came from), and the POs whose own rows carry the payment
 * or credit memo ids (a deleted payment can no longer be read; a voided or edited one may no
 * longer link the invoice it paid). Returns the POs of that realm and the reads it made.
 */
export async function posConcernedBy(
  db: Db,
  client: QboClient,
  realmId: string,
  change: { invoiceIds: string[]; paymentIds: string[]; creditMemoIds: string[] },
): Promise<{ pos: PoRow[]; qboReads: number; paymentsRead: PaymentsRead }> {
  const invoiceIds = new Set(change.invoiceIds);
  const paymentsRead: PaymentsRead = { asked: new Set(), payments: new Map() };
  let qboReads = 0;
  for (const part of chunk([...new Set(change.paymentIds)], 1000)) {
    const res = await client.json(PaymentQuery, { method: "POST", path: "query", text: paymentsByIds(part) });
    qboReads++;
    for (const id of part) paymentsRead.asked.add(id);
    for (const payment of res.QueryResponse.Payment ?? []) {
      paymentsRead.payments.set(payment.Id, payment);
      for (const line of payment.Line) {
        for (const txn of line.LinkedTxn) if (txn.TxnType === "Invoice") invoiceIds.add(txn.TxnId);
      }
    }
  }
  const byInvoice = await findPosByInvoiceIds(db, { realmId }, [...invoiceIds]);
  const byRows = await findPosByMoneyQboIds(db, realmId, change.paymentIds, change.creditMemoIds);
  const pos = new Map<number, PoRow>();
  for (const po of [...byInvoice, ...byRows]) pos.set(po.id, po);
  return { pos: [...pos.values()], qboReads, paymentsRead };
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
