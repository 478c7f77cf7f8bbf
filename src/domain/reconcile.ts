/**
 * The reconciliation rule of SPEC §3, as a pure decision. The write that records a payment
 * re-checks `qboPaid > totalPaid` inside its SQL statement, so running the same decision twice,
 * or concurrently, records nothing more (db/reconcile.ts).
 */
import { formatCents } from "./money";

export interface InvoiceState {
  totalCents: number;
  balanceCents: number;
  /** `TxnTaxDetail.TotalTax` (0 without tax). */
  taxCents: number;
  voided: boolean;
}

export interface ReconcileInput {
  /** Σ line totals of the PO, before tax: what the invoice's pre-tax amount must equal. */
  poSubtotalCents: number;
  /** All payments recorded on the PO, any source. */
  totalPaidCents: number;
  /** Payments recorded from QBO. */
  qboPaidRecordedCents: number;
  /** A cancelled PO whose invoice was kept: still reconciled, and money on it is flagged. */
  poCancelled: boolean;
  /** null when QBO no longer has the invoice (deleted). */
  invoice: InvoiceState | null;
}

/** What started a sync run: the 15-minute cron, the sync route, or a webhook. */
export const SYNC_TRIGGERS = ["cron", "manual", "webhook", "cdc"] as const;
export type SyncTrigger = (typeof SYNC_TRIGGERS)[number];

export const DISCREPANCY_KINDS = [
  "invoice_deleted",
  "invoice_voided",
  "qbo_paid_less_than_recorded",
  "cancelled_po_paid",
  "total_mismatch",
  "realm_changed",
  "amount_precision",
] as const;
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number];

/** QBO answered amounts that are not whole cents: nothing is recorded from them. */
export function amountPrecisionDiscrepancy() {
  return {
    kind: "amount_precision" as const,
    message:
      "QuickBooks answered amounts with more than two decimal places for this invoice; nothing was recorded from them. Check the invoice in QuickBooks.",
  };
}

/** The discrepancy of a PO whose invoice lives in a company the conference is no longer connected to. */
export function realmChangedDiscrepancy(invoiceRealmId: string, connectedRealmId: string) {
  return {
    kind: "realm_changed" as const,
    message: `The QuickBooks invoice lives in company ${invoiceRealmId}, but the conference is now connected to company ${connectedRealmId}; the invoice is no longer synced, sent or voided from here.`,
  };
}

export interface ReconcileDecision {
  /** What QBO says has been paid: TotalAmt − Balance. */
  qboPaidCents: number;
  /** Payment to record now (0: none). */
  paymentCents: number;
  discrepancy: { kind: DiscrepancyKind; message: string } | null;
}

/**
 * The reconciliation decision for one PO and its invoice as QBO shows it now.
 *
 * Why a pure function with the guard repeated in SQL: the same decision is taken by the sync
 * route, the webhook consumer and the cron, possibly at once for one PO. Deciding here keeps
 * the rule testable; the insert in db/reconciliation.ts re-checks `qboPaid > Σ live payments`
 * inside its statement, so two concurrent syncs of the same QBO state record one payment.
 * It never removes money: QBO showing less than was recorded, a voided or deleted invoice,
 * money on a cancelled PO or edited lines become a discrepancy for a person to look at.
 */
export function decideReconciliation(input: ReconcileInput): ReconcileDecision {
  const { invoice } = input;
  if (!invoice) {
    return {
      qboPaidCents: 0,
      paymentCents: 0,
      discrepancy: {
        kind: "invoice_deleted",
        message: "The QuickBooks invoice no longer exists (deleted in QuickBooks).",
      },
    };
  }
  if (invoice.voided) {
    return {
      qboPaidCents: 0,
      paymentCents: 0,
      discrepancy: {
        kind: "invoice_voided",
        message: "The QuickBooks invoice was voided; no payments were removed from the purchase order.",
      },
    };
  }
  const qboPaidCents = invoice.totalCents - invoice.balanceCents;
  const paymentCents = Math.max(0, qboPaidCents - input.totalPaidCents);
  let discrepancy: ReconcileDecision["discrepancy"] = null;
  if (qboPaidCents < input.qboPaidRecordedCents) {
    discrepancy = {
      kind: "qbo_paid_less_than_recorded",
      message: `QuickBooks shows ${formatCents(qboPaidCents)} paid, but ${formatCents(input.qboPaidRecordedCents)} was recorded from QuickBooks; a payment may have been deleted or refunded there.`,
    };
  } else if (input.poCancelled && qboPaidCents > 0) {
    discrepancy = {
      kind: "cancelled_po_paid",
      message: `QuickBooks shows ${formatCents(qboPaidCents)} paid on the invoice of this cancelled purchase order; the money was recorded here. Refund it, or void the payment in QuickBooks.`,
    };
  } else if (invoice.totalCents - invoice.taxCents !== input.poSubtotalCents) {
    // Tax is QBO's to add (Automated Sales Tax, tax codes): only the pre-tax amount must match.
    discrepancy = {
      kind: "total_mismatch",
      message: `The QuickBooks invoice's amount before tax ${formatCents(invoice.totalCents - invoice.taxCents)} differs from the purchase order's subtotal ${formatCents(input.poSubtotalCents)}; its lines were probably edited in QuickBooks.`,
    };
  }
  return { qboPaidCents, paymentCents, discrepancy };
}
