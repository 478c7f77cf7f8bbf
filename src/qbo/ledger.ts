/**
 * Zod schemas and query statements of the ledger push (SPEC §9 "Ours → QBO"): the QBO Payment
 * and CreditMemo as we read them back, and the invoice's lines (for the item and tax code a
 * credit memo copies). Unknown fields pass through; absent optional ones parse.
 */
import { z } from "zod";
import { quoteQboString } from "./query";

const Amount = z.number();
const Ref = z.object({ value: z.string(), name: z.string().nullish() });
const LinkedTxn = z.object({ TxnId: z.string(), TxnType: z.string() });

export const LedgerPayment = z.object({
  Id: z.string().min(1),
  SyncToken: z.string().optional(),
  TotalAmt: Amount.nullish(),
  TxnDate: z.string().nullish(),
  PrivateNote: z.string().nullish(),
  CustomerRef: Ref.nullish(),
  Line: z.array(z.object({ Amount: Amount.nullish(), LinkedTxn: z.array(LinkedTxn).nullish() })).nullish(),
  status: z.string().nullish(),
});
export type LedgerPayment = z.infer<typeof LedgerPayment>;

export const CreditMemo = z.object({
  Id: z.string().min(1),
  SyncToken: z.string().optional(),
  TotalAmt: Amount.nullish(),
  /** What is left to apply; absent on some answers (then assume nothing was applied). */
  RemainingCredit: Amount.nullish(),
  TxnDate: z.string().nullish(),
  PrivateNote: z.string().nullish(),
  CustomerRef: Ref.nullish(),
  LinkedTxn: z.array(LinkedTxn).nullish(),
  status: z.string().nullish(),
});
export type CreditMemo = z.infer<typeof CreditMemo>;

/** The invoice as the push needs it: customer, currency, balance, links and its lines' item and tax code. */
export const PushInvoice = z.object({
  Id: z.string().min(1),
  Balance: Amount.nullish(),
  TotalAmt: Amount.nullish(),
  PrivateNote: z.string().nullish(),
  CustomerRef: Ref.nullish(),
  CurrencyRef: Ref.nullish(),
  ExchangeRate: z.number().positive().nullish(),
  LinkedTxn: z.array(LinkedTxn).nullish(),
  TxnTaxDetail: z.object({ TotalTax: Amount.nullish() }).nullish(),
  Line: z
    .array(
      z.object({
        DetailType: z.string().nullish(),
        Amount: Amount.nullish(),
        SalesItemLineDetail: z.object({ ItemRef: Ref.nullish(), TaxCodeRef: Ref.nullish() }).nullish(),
      }),
    )
    .nullish(),
});
export type PushInvoice = z.infer<typeof PushInvoice>;

export const PushInvoiceEnvelope = z.object({ Invoice: PushInvoice });
export const LedgerPaymentEnvelope = z.object({ Payment: LedgerPayment });
export const CreditMemoEnvelope = z.object({ CreditMemo: CreditMemo });
/** A delete answers `{CreditMemo: {Id, status: "Deleted"}}`. */
export const DeletedEnvelope = z.object({}).passthrough();

export const LedgerPaymentQuery = z.object({
  QueryResponse: z.object({ Payment: z.array(LedgerPayment).optional() }),
});
export const CreditMemoQuery = z.object({
  QueryResponse: z.object({ CreditMemo: z.array(CreditMemo).optional() }),
});

/**
 * Where a pushed Payment or CreditMemo can be found again without its requestid: the
 * customer's transactions of that date (CustomerRef and TxnDate are filterable; PrivateNote is
 * not, so the caller picks ours by the marker).
 */
export function customerTxnsOn(
  entity: "Payment" | "CreditMemo",
  customerId: string,
  txnDate: string,
): string {
  return `SELECT * FROM ${entity} WHERE CustomerRef = ${quoteQboString(customerId)} AND TxnDate = ${quoteQboString(txnDate)} MAXRESULTS 1000`;
}

/** Every payment of a customer: to see where QuickBooks applied a credit memo. */
export function customerPayments(customerId: string): string {
  return `SELECT * FROM Payment WHERE CustomerRef = ${quoteQboString(customerId)} MAXRESULTS 1000`;
}

/** Voided in QBO: amount 0 and a note QBO prefixes with "Voided" (qbo-api.md A8). */
export function isVoidedTxn(txn: { TotalAmt?: number | null; PrivateNote?: string | null }): boolean {
  return (txn.TotalAmt ?? 0) === 0 && (txn.PrivateNote ?? "").startsWith("Voided");
}
