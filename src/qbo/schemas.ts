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
  LinkedTxn: z.array(z.object({ TxnId: z.string(), TxnType: z.string() })).nullish(),
  CustomerRef: Ref.nullish(),
  CustomerMemo: z.object({ value: z.string().nullish() }).nullish(),
  EmailStatus: z.string().nullish(),
  InvoiceLink: z.string().nullish(),
  PrivateNote: z.string().nullish(),
  status: z.string().nullish(),
});
export type Invoice = z.infer<typeof Invoice>;

export const Payment = z.object({
  Id: z.string().min(1),
  TotalAmt: Amount.optional(),
  UnappliedAmt: Amount.nullish(),
  Line: z
    .array(
      z.object({
        Amount: Amount.optional(),
        LinkedTxn: z.array(z.object({ TxnId: z.string(), TxnType: z.string() })).default([]),
      }),
    )
    .default([]),
});
export type Payment = z.infer<typeof Payment>;

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
