/** Zod schemas of the QBO payloads we read. Unknown fields pass through untouched. */
import { z } from "zod";

const Amount = z.number();
const Ref = z.object({ value: z.string(), name: z.string().nullish() });

const FaultBody = z.union([
  z.object({
    Fault: z.object({
      Error: z
        .array(
          z.object({
            Message: z.string().nullish(),
            Detail: z.string().nullish(),
            code: z.union([z.string(), z.number()]).nullish(),
            element: z.string().nullish(),
          }),
        )
        .default([]),
      type: z.string().optional(),
    }),
  }),
  z.object({
    fault: z.object({
      error: z
        .array(
          z.object({
            message: z.string().nullish(),
            detail: z.string().nullish(),
            code: z.union([z.string(), z.number()]).nullish(),
          }),
        )
        .default([]),
      type: z.string().optional(),
    }),
  }),
]);

export interface QboFault {
  message: string;
  detail: string;
  code: string;
  element?: string | undefined;
}

export function faultsOf(body: unknown): QboFault[] {
  const parsed = FaultBody.safeParse(body);
  if (!parsed.success) return [];
  if ("Fault" in parsed.data) {
    return parsed.data.Fault.Error.map((e) => ({
      message: e.Message ?? "",
      detail: e.Detail ?? "",
      code: e.code == null ? "" : String(e.code),
      element: e.element ?? undefined,
    }));
  }
  return parsed.data.fault.error.map((e) => ({
    message: e.message ?? "",
    detail: e.detail ?? "",
    code: e.code == null ? "" : String(e.code),
  }));
}

export const Customer = z.object({
  Id: z.string().min(1),
  SyncToken: z.string().optional(),
  DisplayName: z.string().nullish(),
  Active: z.boolean().nullish(),
  CurrencyRef: Ref.nullish(),
});
export type Customer = z.infer<typeof Customer>;

const LinkedTxn = z.object({ TxnId: z.string(), TxnType: z.string() });

export const Invoice = z.object({
  Id: z.string().min(1),
  SyncToken: z.string().optional(),
  DocNumber: z.string().nullish(),
  TotalAmt: Amount,
  Balance: Amount,
  /** Absent or without TotalTax: no tax. */
  TxnTaxDetail: z.object({ TotalTax: Amount.nullish() }).nullish(),
  CurrencyRef: Ref.nullish(),
  /** Home-currency units per 1 unit of the invoice's currency (multicurrency companies). */
  ExchangeRate: z.number().positive().nullish(),
  HomeTotalAmt: Amount.nullish(),
  HomeBalance: Amount.nullish(),
  LinkedTxn: z.array(LinkedTxn).nullish(),
  CustomerRef: Ref.nullish(),
  CustomerMemo: z.object({ value: z.string().nullish() }).nullish(),
  EmailStatus: z.string().nullish(),
  InvoiceLink: z.string().nullish(),
  PrivateNote: z.string().nullish(),
  status: z.string().nullish(),
});
export type Invoice = z.infer<typeof Invoice>;

/**
 * A Payment (qbo-api.md A10). Each line applies `Amount` to the transactions it links: an
 * Invoice (money received for it) or a CreditMemo / JournalEntry (credit used up against the
 * invoices of the same payment). `TotalAmt` is the cash: Σ invoice lines − Σ credit lines
 * (+ `UnappliedAmt`); QBO's automatic credit application is a payment of 0.
 */
export const Payment = z.object({
  Id: z.string().min(1),
  TotalAmt: Amount.optional(),
  UnappliedAmt: Amount.nullish(),
  TxnDate: z.string().nullish(),
  PaymentRefNum: z.string().nullish(),
  PaymentMethodRef: Ref.nullish(),
  PrivateNote: z.string().nullish(),
  CustomerRef: Ref.nullish(),
  Line: z
    .array(
      z.object({
        Amount: Amount.optional(),
        LinkedTxn: z
          .array(LinkedTxn)
          .nullish()
          .transform((v) => v ?? []),
      }),
    )
    .nullish()
    .transform((v) => v ?? []),
});
export type Payment = z.infer<typeof Payment>;

/**
 * A CreditMemo (fixture creditmemo-read-intuit-docs.json). It is applied to invoices through
 * Payment lines; `RemainingCredit` is what is left to apply. A voided one has `TotalAmt` 0.
 */
export const CreditMemo = z.object({
  Id: z.string().min(1),
  DocNumber: z.string().nullish(),
  TxnDate: z.string().nullish(),
  TotalAmt: Amount.optional(),
  RemainingCredit: Amount.nullish(),
  Balance: Amount.nullish(),
  PrivateNote: z.string().nullish(),
  CustomerMemo: z.object({ value: z.string().nullish() }).nullish(),
  CustomerRef: Ref.nullish(),
  LinkedTxn: z.array(LinkedTxn).nullish(),
  Line: z
    .array(z.object({ Description: z.string().nullish(), DetailType: z.string().nullish() }))
    .nullish()
    .transform((v) => v ?? []),
});
export type CreditMemo = z.infer<typeof CreditMemo>;

/** Create responses: `{"Customer": {...}}`; a missing Id fails here (the seed's "without an Id" cases). */
export const CustomerEnvelope = z.object({ Customer: Customer });
export const InvoiceEnvelope = z.object({ Invoice: Invoice });

/** A delete answers only `{Id, domain, status: "Deleted"}` (qbo-api.md A8). */
export const DeletedInvoiceEnvelope = z.object({
  Invoice: z.object({ Id: z.string().min(1), status: z.literal("Deleted") }),
});

export const CustomerQuery = z.object({
  QueryResponse: z.object({ Customer: z.array(Customer).optional() }),
});
export const InvoiceQuery = z.object({
  QueryResponse: z.object({ Invoice: z.array(Invoice).optional() }),
});

export const PaymentQuery = z.object({
  QueryResponse: z.object({ Payment: z.array(Payment).optional() }),
});

export const CreditMemoQuery = z.object({
  QueryResponse: z.object({ CreditMemo: z.array(CreditMemo).optional() }),
});
