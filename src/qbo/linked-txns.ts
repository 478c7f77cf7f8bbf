/**
 * Reads an invoice's linked transactions (SPEC §9 "QBO → ours"): which payments and credit
 * memos QBO applies to it, and for how much. Pure: the three reads of a batch (invoices, then
 * the payments they link, then the credit memos those payments apply) happen in
 * services/reconcile.ts; this turns their answers into the domain's `InvoiceLedger`.
 *
 * How QBO links money to an invoice (qbo-api.md A10): the invoice's `LinkedTxn` lists
 * Payments. A payment's lines each apply an amount to one transaction: an Invoice line is
 * money applied to that invoice; a CreditMemo (or JournalEntry) line is credit consumed by the
 * same payment, so `TotalAmt` (the cash) = Σ invoice lines − Σ credit lines (+ unapplied).
 * A credit memo applied by hand or automatically is such a payment with `TotalAmt` 0.
 */
import { parseLedgerMarker } from "../domain/ledger-markers";
import { qboAmountToCents } from "../domain/money";
import type { PaymentMethod } from "../domain/payments";
import type {
  AppliedCredit,
  AppliedPayment,
  GoneState,
  InvoiceLedger,
  InvoiceState,
} from "../domain/reconcile";
import type { CreditMemo, Invoice, Payment } from "./schemas";

/** What one payment applies to one invoice, in cents. */
interface InvoicePart {
  cashCents: number;
  /** Credit memo id → credit used against this invoice. */
  credits: Map<string, number>;
  /** Other credits used (journal entries…): applied, but neither cash nor a credit memo. */
  otherCents: number;
}

/** The answers of a batch's linked reads. */
export interface LinkedReads {
  payments: Map<string, Payment>;
  creditMemos: Map<string, CreditMemo>;
  /** Ids asked for: asked and not answered means deleted in QBO. */
  paymentIdsRead: Set<string>;
  creditMemoIdsRead: Set<string>;
}

export function linkedPaymentIds(invoices: Iterable<Invoice>): string[] {
  const ids = new Set<string>();
  for (const inv of invoices)
    for (const t of inv.LinkedTxn ?? []) if (t.TxnType === "Payment") ids.add(t.TxnId);
  return [...ids];
}

/** Credit memos the payments apply, and those an invoice links directly (accepted too). */
export function linkedCreditMemoIds(invoices: Iterable<Invoice>, payments: Iterable<Payment>): string[] {
  const ids = new Set<string>();
  for (const inv of invoices)
    for (const t of inv.LinkedTxn ?? []) if (t.TxnType === "CreditMemo") ids.add(t.TxnId);
  for (const p of payments)
    for (const line of p.Line)
      for (const t of line.LinkedTxn) if (t.TxnType === "CreditMemo") ids.add(t.TxnId);
  return [...ids];
}

/** A voided payment keeps its lines in some answers, but its amount is 0 and its note says so. */
export function isVoidedPayment(p: Payment): boolean {
  const total = p.TotalAmt ?? 0;
  return (
    total === 0 && ((p.PrivateNote ?? "").startsWith("Voided") || p.Line.every((l) => (l.Amount ?? 0) === 0))
  );
}

export function isVoidedCreditMemo(c: CreditMemo): boolean {
  return (c.TotalAmt ?? 0) === 0;
}

/**
 * Splits a payment into what it applies to each invoice. Credit lines are used up against the
 * invoice lines in the payment's line order; what is left of an invoice line is cash. (With one
 * invoice per payment, the usual case, this is exact; QBO itself does not say which invoice a
 * credit went to when one payment covers several.) Null when an amount is not whole cents.
 */
export function splitPayment(p: Payment): Map<string, InvoicePart> | null {
  const invoiceLines: { invoiceId: string; cents: number }[] = [];
  const creditLines: { type: string; id: string; left: number }[] = [];
  for (const line of p.Line) {
    const cents = qboAmountToCents(Math.abs(line.Amount ?? 0));
    if (cents === null) return null;
    const txn = line.LinkedTxn[0];
    if (!txn || cents === 0) continue;
    if (txn.TxnType === "Invoice") invoiceLines.push({ invoiceId: txn.TxnId, cents });
    else creditLines.push({ type: txn.TxnType, id: txn.TxnId, left: cents });
  }
  const parts = new Map<string, InvoicePart>();
  for (const line of invoiceLines) {
    const part = parts.get(line.invoiceId) ?? { cashCents: 0, credits: new Map(), otherCents: 0 };
    let left = line.cents;
    for (const credit of creditLines) {
      if (left === 0) break;
      const used = Math.min(left, credit.left);
      if (used === 0) continue;
      credit.left -= used;
      left -= used;
      if (credit.type === "CreditMemo")
        part.credits.set(credit.id, (part.credits.get(credit.id) ?? 0) + used);
      else part.otherCents += used;
    }
    part.cashCents += left;
    parts.set(line.invoiceId, part);
  }
  return parts;
}

/** `wire`, `ach` or `check` when the payment method's name says so (any case), else `other`. */
export function paymentMethodOf(p: Payment): PaymentMethod {
  const name = p.PaymentMethodRef?.name ?? "";
  if (/wire/i.test(name)) return "wire";
  if (/\bach\b/i.test(name)) return "ach";
  if (/\b(check|cheque)\b/i.test(name)) return "check";
  return "other";
}

function creditReason(c: CreditMemo): string {
  const description = c.Line.find((l) => l.Description?.trim())?.Description?.trim();
  const base = `QBO Credit Memo #${c.DocNumber || c.Id}`;
  return (description ? `${base}: ${description}` : base).slice(0, 500);
}

/**
 * The invoice's ledger as QBO shows it. `known` lists QBO ids our rows of this PO carry, so a
 * payment of ours that is no longer linked can be told voided, deleted or moved elsewhere.
 * Null when QBO answered amounts that are not whole cents.
 */
export function invoiceLedger(
  invoice: Invoice,
  state: InvoiceState,
  reads: LinkedReads,
  known: { paymentIds: Iterable<string>; creditMemoIds: Iterable<string> },
  today: string,
): InvoiceLedger | null {
  const payments: AppliedPayment[] = [];
  const creditCents = new Map<string, number>();
  const gonePayments = new Map<string, GoneState>();
  const goneCredits = new Map<string, GoneState>();
  let appliedCents = 0;
  const linked = linkedPaymentIds([invoice]);
  for (const id of linked) {
    const p = reads.payments.get(id);
    if (!p) {
      if (reads.paymentIdsRead.has(id)) gonePayments.set(id, "deleted");
      continue;
    }
    if (isVoidedPayment(p)) {
      gonePayments.set(id, "voided");
      continue;
    }
    const parts = splitPayment(p);
    if (!parts) return null;
    const part = parts.get(invoice.Id);
    if (!part) continue;
    appliedCents += part.cashCents + part.otherCents;
    for (const [cm, cents] of part.credits) creditCents.set(cm, (creditCents.get(cm) ?? 0) + cents);
    if (part.cashCents > 0) {
      payments.push({
        qboId: p.Id,
        cashCents: part.cashCents,
        paymentDate: /^\d{4}-\d{2}-\d{2}$/.test(p.TxnDate ?? "") ? (p.TxnDate as string) : today,
        reference: (p.PaymentRefNum?.trim() || `QBO Payment #${p.Id}`).slice(0, 200),
        method: paymentMethodOf(p),
        marker: parseLedgerMarker(p.PrivateNote),
      });
    }
  }
  // A credit memo the invoice links directly, applied by no payment we read: what it used.
  for (const t of invoice.LinkedTxn ?? []) {
    if (t.TxnType !== "CreditMemo" || creditCents.has(t.TxnId)) continue;
    const c = reads.creditMemos.get(t.TxnId);
    if (!c) continue;
    const used = qboAmountToCents((c.TotalAmt ?? 0) - (c.RemainingCredit ?? 0));
    if (used === null) return null;
    if (used > 0) creditCents.set(t.TxnId, used);
  }
  const credits: AppliedCredit[] = [];
  for (const [id, cents] of creditCents) {
    const c = reads.creditMemos.get(id);
    // A credit memo deleted or voided under a payment that still names it applies nothing.
    if (!c) {
      if (reads.creditMemoIdsRead.has(id)) goneCredits.set(id, "deleted");
      continue;
    }
    if (isVoidedCreditMemo(c)) {
      goneCredits.set(id, "voided");
      continue;
    }
    appliedCents += cents;
    credits.push({ qboId: id, cents, reason: creditReason(c), marker: parseLedgerMarker(c.PrivateNote) });
  }
  // Why a transaction our rows carry no longer counts here.
  const applied = new Set(payments.map((p) => p.qboId));
  for (const id of known.paymentIds) {
    if (applied.has(id) || gonePayments.has(id)) continue;
    const p = reads.payments.get(id);
    if (!p) gonePayments.set(id, reads.paymentIdsRead.has(id) ? "deleted" : "unlinked");
    else gonePayments.set(id, isVoidedPayment(p) ? "voided" : "unlinked");
  }
  const appliedCredits = new Set(credits.map((c) => c.qboId));
  for (const id of known.creditMemoIds) {
    if (appliedCredits.has(id) || goneCredits.has(id)) continue;
    const c = reads.creditMemos.get(id);
    if (!c) goneCredits.set(id, reads.creditMemoIdsRead.has(id) ? "deleted" : "unlinked");
    else goneCredits.set(id, isVoidedCreditMemo(c) ? "voided" : "unlinked");
  }
  return {
    payments,
    credits,
    gonePayments,
    goneCredits,
    unexplainedCents: state.totalCents - appliedCents - state.balanceCents,
  };
}
