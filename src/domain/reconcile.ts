/**
 * The reconciliation rule of SPEC §3, as a pure decision. The write that records a payment
 * re-checks `qboPaid > totalPaid` inside its SQL statement, so running the same decision twice,
 * or concurrently, records nothing more (db/reconcile.ts).
 */
import type { LedgerMarker } from "./ledger-markers";
import { formatCents } from "./money";
import type { PaymentMethod, PaymentSource, QboPushState } from "./payments";

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
  "unexplained_balance",
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

// ── Version 2 (SPEC §9 "QBO → ours"): the invoice's linked transactions, one by one ─────────

/** A QBO Payment as applied to one invoice: the cash part only (credits used are not cash). */
export interface AppliedPayment {
  qboId: string;
  cashCents: number;
  paymentDate: string;
  reference: string;
  method: PaymentMethod;
  marker: LedgerMarker | null;
}

/** A QBO CreditMemo as applied to one invoice (through payments, QBO's automatic ones included). */
export interface AppliedCredit {
  qboId: string;
  cents: number;
  reason: string;
  marker: LedgerMarker | null;
}

/** Why a QBO transaction no longer counts on the invoice. */
export type GoneState = "voided" | "deleted" | "unlinked";

/** What QBO's linked transactions say about one invoice. */
export interface InvoiceLedger {
  payments: AppliedPayment[];
  credits: AppliedCredit[];
  /** Transactions known to be voided or deleted in QBO (by id), for the reason on our rows. */
  gonePayments: Map<string, GoneState>;
  goneCredits: Map<string, GoneState>;
  /** TotalAmt − Σ applied by linked payments and credits − Balance: a deposit, a journal entry… */
  unexplainedCents: number;
}

/** A local payment or credit note of the PO, as reconciliation needs it. */
export interface LocalMoneyRow {
  id: number;
  source: PaymentSource;
  amountCents: number;
  qboId: string | null;
  qboState: QboPushState | null;
  voided: boolean;
  /** A payment recorded by version 1's balance rule (one aggregated row, no QBO id). */
  legacy: boolean;
}

export type MoneyKind = "payment" | "credit_note";

export type LedgerAction =
  | { type: "insert_payment"; payment: AppliedPayment }
  | { type: "insert_credit"; credit: AppliedCredit }
  /** Our own push, found by its marker: the row learns its QBO id (the push's answer was lost). */
  | { type: "link"; kind: MoneyKind; rowId: number; qboId: string }
  /** The local counterpart of something QBO no longer applies: kept, out of the totals. */
  | { type: "void"; kind: MoneyKind; rowId: number; qboId: string | null; reason: string };

export interface LedgerInput {
  conferenceSlug: string;
  poSubtotalCents: number;
  poCancelled: boolean;
  payments: LocalMoneyRow[];
  creditNotes: LocalMoneyRow[];
  /** null when QBO no longer has the invoice (deleted). */
  invoice: InvoiceState | null;
  /** null when the invoice is voided or deleted (nothing is read from it). */
  ledger: InvoiceLedger | null;
}

export interface LedgerDecision {
  actions: LedgerAction[];
  discrepancy: { kind: DiscrepancyKind; message: string } | null;
}

const GONE_REASON: Record<GoneState, string> = {
  voided: "Voided in QuickBooks",
  deleted: "Deleted in QuickBooks",
  unlinked: "No longer applied to this invoice in QuickBooks",
};
export const LEGACY_REPLACED_REASON =
  "Replaced by the QuickBooks payments and credits applied to the invoice, line by line";

/**
 * The version 2 decision for one PO: every QBO payment line and credit applied to the invoice
 * gets exactly one local counterpart, matched by QBO id (or, for our own pushes, by the marker
 * in its PrivateNote); what QBO no longer applies is voided here. The inserts re-check "no
 * counterpart yet" inside their SQL statements (db/reconciliation.ts), so repeated and
 * concurrent syncs of one QBO state record each line once.
 */
export function decideLedger(input: LedgerInput): LedgerDecision {
  const { invoice, ledger } = input;
  if (!invoice || invoice.voided || !ledger) {
    const gone = decideReconciliation({
      poSubtotalCents: input.poSubtotalCents,
      totalPaidCents: 0,
      qboPaidRecordedCents: 0,
      poCancelled: input.poCancelled,
      invoice,
    });
    return { actions: [], discrepancy: gone.discrepancy };
  }
  const actions: LedgerAction[] = [
    ...matchRows(
      "payment",
      input.conferenceSlug,
      input.payments,
      ledger.payments.map(asApplied),
      ledger.gonePayments,
    ),
    ...matchRows(
      "credit_note",
      input.conferenceSlug,
      input.creditNotes,
      ledger.credits.map(asApplied),
      ledger.goneCredits,
    ),
  ];
  // Inserts: the applied transactions the matching left without a counterpart.
  const voids = actions.filter((a) => a.type === "void");
  const withCounterpart = (
    kind: MoneyKind,
    rows: LocalMoneyRow[],
    qboId: string,
    marker: LedgerMarker | null,
  ) =>
    isOurs(rows, qboId, marker) ||
    rows.some(
      (r) =>
        !r.voided &&
        r.qboId === qboId &&
        !voids.some((v) => v.type === "void" && v.kind === kind && v.rowId === r.id),
    );
  for (const payment of ledger.payments) {
    if (!withCounterpart("payment", input.payments, payment.qboId, payment.marker))
      actions.push({ type: "insert_payment", payment });
  }
  for (const credit of ledger.credits) {
    if (!withCounterpart("credit_note", input.creditNotes, credit.qboId, credit.marker))
      actions.push({ type: "insert_credit", credit });
  }
  return { actions, discrepancy: ledgerDiscrepancy(input, invoice, ledger) };
}

interface Applied {
  qboId: string;
  cents: number;
  marker: LedgerMarker | null;
}
const asApplied = (a: AppliedPayment | AppliedCredit): Applied => ({
  qboId: a.qboId,
  cents: "cashCents" in a ? a.cashCents : a.cents,
  marker: a.marker,
});

/**
 * A QBO transaction that is the counterpart of one of our own rows: its marker names this
 * conference's row of that kind, or a manual row of ours already carries its id (voided here
 * or not: a void we have not pushed yet must not come back as money found in QuickBooks).
 * A marker naming a row we do not hold (another conference in the same company) is ours too.
 */
function isOurs(rows: LocalMoneyRow[], qboId: string, marker: LedgerMarker | null): boolean {
  return marker !== null || rows.some((r) => r.source === "manual" && r.qboId === qboId);
}

function matchRows(
  kind: MoneyKind,
  slug: string,
  rows: LocalMoneyRow[],
  applied: Applied[],
  gone: Map<string, GoneState>,
): LedgerAction[] {
  const actions: LedgerAction[] = [];
  const appliedById = new Map(applied.map((a) => [a.qboId, a]));
  // Our own pushes whose answer was lost: the marker names the row, which learns its id.
  for (const a of applied) {
    if (!a.marker || a.marker.kind !== kind || a.marker.conferenceSlug !== slug) continue;
    const row = rows.find((r) => r.id === a.marker?.localId);
    if (row && row.qboId === null) actions.push({ type: "link", kind, rowId: row.id, qboId: a.qboId });
  }
  for (const row of rows) {
    if (row.voided) continue;
    if (row.legacy) {
      actions.push({ type: "void", kind, rowId: row.id, qboId: null, reason: LEGACY_REPLACED_REASON });
      continue;
    }
    // Only rows known to have a QBO counterpart follow QBO: a manual row not pushed yet stays.
    const followsQbo = row.qboId !== null && (row.source === "qbo" || row.qboState === "synced");
    if (!followsQbo || row.qboId === null) continue;
    const now = appliedById.get(row.qboId);
    if (!now) {
      actions.push({
        type: "void",
        kind,
        rowId: row.id,
        qboId: row.qboId,
        reason: GONE_REASON[gone.get(row.qboId) ?? "unlinked"],
      });
    } else if (row.source === "qbo" && now.cents !== row.amountCents) {
      // Edited in QBO: the old amount is kept, voided, and the new one recorded beside it.
      actions.push({
        type: "void",
        kind,
        rowId: row.id,
        qboId: row.qboId,
        reason: `Changed in QuickBooks: now ${formatCents(now.cents)} on this invoice`,
      });
    }
  }
  return actions;
}

function ledgerDiscrepancy(
  input: LedgerInput,
  invoice: InvoiceState,
  ledger: InvoiceLedger,
): LedgerDecision["discrepancy"] {
  const foreignCash = ledger.payments
    .filter((p) => !isOurs(input.payments, p.qboId, p.marker))
    .reduce((sum, p) => sum + p.cashCents, 0);
  if (input.poCancelled && foreignCash > 0) {
    return {
      kind: "cancelled_po_paid",
      message: `QuickBooks shows ${formatCents(foreignCash)} received on the invoice of this cancelled purchase order; the money was recorded here. Refund it, or void the payment in QuickBooks.`,
    };
  }
  // One of our pushes (its marker) applied to this invoice although it is another PO's row:
  // QBO's automatic credit application can do that. Nothing is recorded; a person moves it.
  const misapplied = [
    ...ledger.payments.map((p) => ({
      kind: "payment" as const,
      qboId: p.qboId,
      cents: p.cashCents,
      marker: p.marker,
    })),
    ...ledger.credits.map((c) => ({
      kind: "credit_note" as const,
      qboId: c.qboId,
      cents: c.cents,
      marker: c.marker,
    })),
  ].filter((a) => {
    if (!a.marker) return false;
    const rows = a.kind === "payment" ? input.payments : input.creditNotes;
    const here =
      a.marker.conferenceSlug === input.conferenceSlug && rows.some((r) => r.id === a.marker?.localId);
    return !here && !rows.some((r) => r.source === "manual" && r.qboId === a.qboId);
  });
  if (ledger.unexplainedCents === 0 && misapplied.length > 0) {
    const total = misapplied.reduce((sum, a) => sum + a.cents, 0);
    const names = misapplied
      .map((a) => `${a.kind === "payment" ? "Payment" : "Credit Memo"} #${a.qboId}`)
      .join(", ");
    return {
      kind: "unexplained_balance",
      message: `QuickBooks applied ${formatCents(total)} to this invoice from a payment or credit pushed for another purchase order (${names}); nothing was recorded here. Apply it to the right invoice in QuickBooks.`,
    };
  }
  if (ledger.unexplainedCents !== 0) {
    const amount = formatCents(Math.abs(ledger.unexplainedCents));
    return {
      kind: "unexplained_balance",
      message:
        ledger.unexplainedCents > 0
          ? `QuickBooks shows ${amount} more paid on the invoice than its linked payments and credit memos explain (a deposit, a journal entry or a discount?); nothing was recorded for it.`
          : `The invoice's balance in QuickBooks is ${amount} higher than its total less its linked payments and credit memos; nothing was changed here.`,
    };
  }
  if (invoice.totalCents - invoice.taxCents !== input.poSubtotalCents) {
    return {
      kind: "total_mismatch",
      message: `The QuickBooks invoice's amount before tax ${formatCents(invoice.totalCents - invoice.taxCents)} differs from the purchase order's subtotal ${formatCents(input.poSubtotalCents)}; its lines were probably edited in QuickBooks.`,
    };
  }
  return null;
}
