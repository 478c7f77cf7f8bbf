/**
 * QBO request bodies: zod schemas for the shape, then QBO's own rules for money. The first
 * problem becomes the Fault QBO would answer (2020 missing, 2010 invalid, 6070 amount).
 */

import { z } from "zod";
import { faults } from "../http.ts";
import { lineAmountCents, parseCents, parseQuantity, type Quantity } from "./money.ts";
import { DEFAULT_ITEM, type InvoiceLineRecord, type PaymentLineRecord, type RefRecord } from "./records.ts";

const idString = z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String);
const ref = z.object({ value: idString, name: z.string().optional() });
const money = z.union([z.number(), z.string()]);
const emailAddr = z.object({ Address: z.string() });
const date = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "must be a date YYYY-MM-DD");
const addressLine = z.string().max(500);

const CustomerSchema = z.object({
  DisplayName: z.string(),
  Active: z.boolean().optional(),
  CurrencyRef: ref.optional(),
  CompanyName: z.string().optional(),
  GivenName: z.string().optional(),
  FamilyName: z.string().optional(),
  Notes: z.string().optional(),
  PrimaryEmailAddr: emailAddr.optional(),
  PrimaryPhone: z.object({ FreeFormNumber: z.string() }).optional(),
  BillAddr: z
    .object({
      Line1: addressLine.optional(),
      Line2: addressLine.optional(),
      Line3: addressLine.optional(),
      Line4: addressLine.optional(),
      Line5: addressLine.optional(),
      City: z.string().optional(),
      CountrySubDivisionCode: z.string().optional(),
      PostalCode: z.string().optional(),
      Country: z.string().optional(),
    })
    .optional(),
});

const CustomerUpdateSchema = CustomerSchema.partial().extend({
  Id: idString,
  SyncToken: idString,
  sparse: z.boolean().optional(),
});

const NamedSchema = z.object({ DisplayName: z.string() });

const SalesLineSchema = z.object({
  DetailType: z.literal("SalesItemLineDetail"),
  Amount: money,
  Description: z.string().max(4000).optional(),
  SalesItemLineDetail: z
    .object({
      ItemRef: ref.optional(),
      Qty: z.union([z.number(), z.string()]).optional(),
      UnitPrice: money.optional(),
      TaxCodeRef: ref.optional(),
    })
    .optional(),
});

const InvoiceSchema = z.object({
  CustomerRef: ref,
  Line: z.array(SalesLineSchema).min(1),
  DocNumber: z.string().optional(),
  TxnDate: date.optional(),
  DueDate: date.optional(),
  CurrencyRef: ref.optional(),
  CustomerMemo: z.object({ value: z.string() }).optional(),
  PrivateNote: z.string().max(4000).optional(),
  BillEmail: emailAddr.optional(),
  AllowOnlineCreditCardPayment: z.boolean().optional(),
  AllowOnlineACHPayment: z.boolean().optional(),
});

/** QBO's DocNumber limit: longer is 2050 (qbo-api.md A8). */
const MAX_DOC_NUMBER_LENGTH = 21;

const SyncSchema = z.object({ Id: idString, SyncToken: idString });

const PaymentSchema = z.object({
  CustomerRef: ref,
  TotalAmt: money,
  TxnDate: date.optional(),
  PrivateNote: z.string().max(4000).optional(),
  PaymentRefNum: z.string().optional(),
  PaymentMethodRef: ref.optional(),
  DepositToAccountRef: ref.optional(),
  CurrencyRef: ref.optional(),
  ExchangeRate: z.number().positive().optional(),
  Line: z
    .array(
      z.object({
        Amount: money,
        // One LinkedTxn per line (Intuit's form); two — a CreditMemo and an Invoice — are also
        // accepted, as public clients send them (docs/emulator.md).
        LinkedTxn: z.array(z.object({ TxnId: idString, TxnType: z.string() })).max(2),
      }),
    )
    .optional(),
});

/** QBO's PaymentRefNum limit (Finance.xsd: "max 21 characters"); longer is 2050. */
const MAX_PAYMENT_REF_NUM_LENGTH = 21;

const CreditMemoSchema = z.object({
  CustomerRef: ref,
  Line: z.array(SalesLineSchema).min(1),
  DocNumber: z.string().optional(),
  TxnDate: date.optional(),
  CurrencyRef: ref.optional(),
  CustomerMemo: z.object({ value: z.string() }).optional(),
  PrivateNote: z.string().max(4000).optional(),
  BillEmail: emailAddr.optional(),
});

export interface CustomerInput {
  displayName: string;
  active?: boolean;
  currency?: string;
  companyName?: string;
  givenName?: string;
  familyName?: string;
  notes?: string;
  email?: string;
  phone?: string;
  billAddr?: Record<string, string>;
}

export interface InvoiceInput {
  customerId: string;
  lines: InvoiceLineRecord[];
  /** As sent, "AUTO_GENERATE" included. */
  docNumber?: string;
  txnDate?: string;
  dueDate?: string;
  currency?: string;
  customerMemo?: string;
  privateNote?: string;
  billEmail?: string;
  allowOnlineCard: boolean;
  allowOnlineAch: boolean;
}

export interface PaymentInput {
  customerId: string;
  totalCents: number;
  lines: PaymentLineRecord[];
  txnDate?: string;
  privateNote?: string;
  paymentRefNum?: string;
  paymentMethod?: RefRecord;
  depositToAccount?: RefRecord;
  currency?: string;
}

export interface CreditMemoInput {
  customerId: string;
  lines: InvoiceLineRecord[];
  docNumber?: string;
  txnDate?: string;
  currency?: string;
  customerMemo?: string;
  privateNote?: string;
  billEmail?: string;
}

export function parseCustomer(body: unknown): CustomerInput {
  const input = parseBody(CustomerSchema, body);
  return customerInput(input, parseDisplayName(input.DisplayName));
}

/** A customer update: `sparse` changes only the fields sent; a full update clears the others. */
export interface CustomerUpdate {
  id: string;
  syncToken: string;
  sparse: boolean;
  changes: Partial<CustomerInput>;
}

export function parseCustomerUpdate(body: unknown): CustomerUpdate {
  const input = parseBody(CustomerUpdateSchema, body);
  const sparse = input.sparse === true;
  if (!sparse && input.DisplayName === undefined) throw faults.required("DisplayName");
  const displayName = input.DisplayName === undefined ? undefined : parseDisplayName(input.DisplayName);
  const fields = customerInput(input, displayName);
  const changes = sparse
    ? (Object.fromEntries(
        Object.entries(fields).filter(([, value]) => value !== undefined),
      ) as Partial<CustomerInput>)
    : fields;
  return { id: input.Id, syncToken: input.SyncToken, sparse, changes };
}

function customerInput<D extends string | undefined>(
  input: Omit<z.output<typeof CustomerSchema>, "DisplayName">,
  displayName: D,
): Omit<CustomerInput, "displayName"> & { displayName: D } {
  return {
    displayName,
    active: input.Active,
    currency: input.CurrencyRef?.value,
    companyName: input.CompanyName,
    givenName: input.GivenName,
    familyName: input.FamilyName,
    notes: input.Notes,
    email: input.PrimaryEmailAddr?.Address,
    phone: input.PrimaryPhone?.FreeFormNumber,
    billAddr: input.BillAddr && withoutUndefined(input.BillAddr),
  };
}

/** A vendor's or employee's body: only the name is modelled. */
export function parseNamed(body: unknown): { displayName: string } {
  return { displayName: parseDisplayName(parseBody(NamedSchema, body).DisplayName) };
}

function parseDisplayName(value: string): string {
  const displayName = value.trim();
  if (displayName === "") throw faults.required("DisplayName");
  if (displayName.length > 500) throw faults.invalid("DisplayName", "is longer than 500 characters");
  return displayName;
}

export function parseInvoice(body: unknown): InvoiceInput {
  const input = parseBody(InvoiceSchema, body);
  if (input.DocNumber !== undefined && input.DocNumber.length > MAX_DOC_NUMBER_LENGTH) {
    throw faults.stringTooLong("DocNumber", MAX_DOC_NUMBER_LENGTH, input.DocNumber.length);
  }
  return {
    customerId: input.CustomerRef.value,
    lines: input.Line.map((line, index) => salesLine(line, index)),
    docNumber: input.DocNumber,
    txnDate: input.TxnDate,
    dueDate: input.DueDate,
    currency: input.CurrencyRef?.value,
    customerMemo: input.CustomerMemo?.value,
    privateNote: input.PrivateNote,
    billEmail: input.BillEmail?.Address,
    allowOnlineCard: input.AllowOnlineCreditCardPayment ?? false,
    allowOnlineAch: input.AllowOnlineACHPayment ?? false,
  };
}

/** `{Id, SyncToken}`, the body of void and delete. */
export function parseSyncRef(body: unknown): { id: string; syncToken: string } {
  const input = parseBody(SyncSchema, body);
  return { id: input.Id, syncToken: input.SyncToken };
}

export function parsePayment(body: unknown): PaymentInput {
  const input = parseBody(PaymentSchema, body);
  if (input.PaymentRefNum !== undefined && input.PaymentRefNum.length > MAX_PAYMENT_REF_NUM_LENGTH) {
    throw faults.stringTooLong("PaymentRefNum", MAX_PAYMENT_REF_NUM_LENGTH, input.PaymentRefNum.length);
  }
  const lines = (input.Line ?? []).flatMap((line, index): PaymentLineRecord[] => {
    const amountCents = cents(line.Amount, `Line.${index}.Amount`);
    if (line.LinkedTxn.length === 0) return [{ amountCents }];
    const linked: PaymentLineRecord = { amountCents };
    for (const [at, txn] of line.LinkedTxn.entries()) {
      const element = `Line.${index}.LinkedTxn.${at}`;
      if (txn.TxnType === "Invoice" && linked.invoiceId === undefined) linked.invoiceId = txn.TxnId;
      else if (txn.TxnType === "CreditMemo" && linked.creditMemoId === undefined)
        linked.creditMemoId = txn.TxnId;
      else throw faults.invalid(`${element}.TxnType`, "only Invoice and CreditMemo are supported");
    }
    // {Amount, LinkedTxn: [CreditMemo, Invoice]}: that much credit applied to that invoice.
    if (linked.invoiceId !== undefined && linked.creditMemoId !== undefined) {
      return [
        { amountCents, invoiceId: linked.invoiceId },
        { amountCents, creditMemoId: linked.creditMemoId },
      ];
    }
    return [linked];
  });
  return {
    customerId: input.CustomerRef.value,
    totalCents: cents(input.TotalAmt, "TotalAmt"),
    lines,
    txnDate: input.TxnDate,
    privateNote: input.PrivateNote,
    paymentRefNum: input.PaymentRefNum,
    paymentMethod: input.PaymentMethodRef,
    depositToAccount: input.DepositToAccountRef,
    currency: input.CurrencyRef?.value,
  };
}

export function parseCreditMemo(body: unknown): CreditMemoInput {
  const input = parseBody(CreditMemoSchema, body);
  if (input.DocNumber !== undefined && input.DocNumber.length > MAX_DOC_NUMBER_LENGTH) {
    throw faults.stringTooLong("DocNumber", MAX_DOC_NUMBER_LENGTH, input.DocNumber.length);
  }
  return {
    customerId: input.CustomerRef.value,
    lines: input.Line.map((line, index) => salesLine(line, index)),
    docNumber: input.DocNumber,
    txnDate: input.TxnDate,
    currency: input.CurrencyRef?.value,
    customerMemo: input.CustomerMemo?.value,
    privateNote: input.PrivateNote,
    billEmail: input.BillEmail?.Address,
  };
}

/** A sales line; Amount must equal Qty × UnitPrice to the cent when both are given (6070). */
function salesLine(line: z.infer<typeof SalesLineSchema>, index: number): InvoiceLineRecord {
  const element = `Line.${index}`;
  const amountCents = cents(line.Amount, `${element}.Amount`);
  const detail = line.SalesItemLineDetail ?? {};
  const unitPriceCents =
    detail.UnitPrice === undefined
      ? undefined
      : cents(detail.UnitPrice, `${element}.SalesItemLineDetail.UnitPrice`);
  let qty: Quantity | undefined;
  if (detail.Qty !== undefined) {
    qty = parseQuantity(detail.Qty);
    if (!qty || qty.scaled < 0n)
      throw faults.invalid(`${element}.SalesItemLineDetail.Qty`, "is not a valid quantity");
  }
  if (qty && unitPriceCents !== undefined && lineAmountCents(qty, unitPriceCents) !== amountCents) {
    throw faults.amountMismatch(amountCents);
  }
  return {
    description: line.Description,
    amountCents,
    qty,
    unitPriceCents,
    itemRef: detail.ItemRef
      ? { value: detail.ItemRef.value, name: detail.ItemRef.name ?? DEFAULT_ITEM.name }
      : DEFAULT_ITEM,
    taxCode: detail.TaxCodeRef?.value,
  };
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown): T {
  const result = schema.safeParse(body, { reportInput: true });
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const element = issue ? issue.path.map(String).join(".") : "body";
  if (issue?.code === "invalid_type" && issue.input === undefined) throw faults.required(element || "body");
  throw faults.invalid(element || "body", issue?.message ?? "is invalid");
}

/** Money in cents; more than two decimal places, negative or non-numeric → 2010. */
function cents(value: unknown, element: string): number {
  const parsed = parseCents(value);
  if (parsed === "too_many_decimals") throw faults.invalid(element, "has more than 2 decimal places");
  if (parsed === "too_large") throw faults.invalid(element, "is too large");
  if (parsed === "not_a_number") throw faults.invalid(element, "is not a number");
  if (parsed < 0) throw faults.invalid(element, "must not be negative");
  return parsed;
}

function withoutUndefined(record: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) if (value !== undefined) out[key] = value;
  return out;
}
