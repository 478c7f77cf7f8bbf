/** QBO's JSON shapes for the emulator's records (money as JSON numbers, like QBO). */

import { currencyRef } from "../settings.ts";
import { formatInstant } from "../time.ts";
import type { Company } from "./company.ts";
import { centsToNumber, quantityToNumber } from "./money.ts";
import type { CustomerRecord, InvoiceRecord, NameListRecord, PaymentRecord, QueryRow } from "./records.ts";

type Json = Record<string, unknown>;

const USD = { value: "USD", name: "United States Dollar" };

export interface RenderOptions {
  /** Include InvoiceLink: QBO does so for minorversion >= 36 with include=invoiceLink. */
  invoiceLink: boolean;
}

export function customerJson(customer: CustomerRecord, company: Company): Json {
  const balance = centsToNumber(company.customerBalanceCents(customer.id));
  return compact({
    Id: customer.id,
    SyncToken: String(customer.syncToken),
    domain: "QBO",
    sparse: false,
    DisplayName: customer.displayName,
    FullyQualifiedName: customer.displayName,
    PrintOnCheckName: customer.companyName ?? customer.displayName,
    CompanyName: customer.companyName,
    GivenName: customer.givenName,
    FamilyName: customer.familyName,
    Notes: customer.notes,
    Active: customer.active,
    Job: false,
    BillWithParent: false,
    Taxable: false,
    Balance: balance,
    BalanceWithJobs: balance,
    CurrencyRef: currencyRef(customer.currency),
    PreferredDeliveryMethod: "Email",
    PrimaryEmailAddr: customer.email === undefined ? undefined : { Address: customer.email },
    PrimaryPhone: customer.phone === undefined ? undefined : { FreeFormNumber: customer.phone },
    BillAddr: customer.billAddr && { Id: `${customer.id}01`, ...customer.billAddr },
    MetaData: metaData(customer, company),
  });
}

/** A Vendor or Employee: the name fields QBO always returns. */
export function nameListJson(record: NameListRecord, company: Company): Json {
  return {
    Id: record.id,
    SyncToken: String(record.syncToken),
    domain: "QBO",
    sparse: false,
    DisplayName: record.displayName,
    PrintOnCheckName: record.displayName,
    Active: record.active,
    MetaData: metaData(record, company),
  };
}

export function invoiceJson(invoice: InvoiceRecord, company: Company, options: RenderOptions): Json {
  const voided = invoice.state === "voided";
  const amount = (cents: number) => (voided ? 0 : centsToNumber(cents));
  const customer = company.customer(invoice.customerId);
  const lines: Json[] = invoice.lines.map((line, index) => ({
    Id: String(index + 1),
    LineNum: index + 1,
    ...(line.description === undefined ? {} : { Description: line.description }),
    Amount: amount(line.amountCents),
    DetailType: "SalesItemLineDetail",
    SalesItemLineDetail: compact({
      ItemRef: line.itemRef,
      UnitPrice: line.unitPriceCents === undefined ? undefined : amount(line.unitPriceCents),
      Qty: line.qty === undefined ? undefined : voided ? 0 : quantityToNumber(line.qty),
      TaxCodeRef: { value: "NON" },
    }),
  }));
  // QBO appends a subtotal line to every sales document it returns.
  lines.push({
    Amount: centsToNumber(invoice.totalCents),
    DetailType: "SubTotalLineDetail",
    SubTotalLineDetail: {},
  });
  return compact({
    Id: invoice.id,
    SyncToken: String(invoice.syncToken),
    domain: "QBO",
    sparse: false,
    DocNumber: invoice.docNumber,
    TxnDate: invoice.txnDate,
    DueDate: invoice.dueDate,
    CurrencyRef: USD,
    CustomerRef: { value: invoice.customerId, name: customer?.displayName },
    CustomerMemo: invoice.customerMemo === undefined ? undefined : { value: invoice.customerMemo },
    PrivateNote: invoice.privateNote,
    BillEmail: invoice.billEmail === undefined ? undefined : { Address: invoice.billEmail },
    BillAddr: customer?.billAddr,
    Line: lines,
    TotalAmt: centsToNumber(invoice.totalCents),
    Balance: centsToNumber(invoice.balanceCents),
    ApplyTaxAfterDiscount: false,
    PrintStatus: "NotSet",
    EmailStatus: invoice.emailStatus,
    DeliveryInfo:
      invoice.deliveryTime === undefined
        ? undefined
        : { DeliveryType: "Email", DeliveryTime: instant(invoice.deliveryTime, company) },
    LinkedTxn: invoice.paymentIds.map((id) => ({ TxnId: id, TxnType: "Payment" })),
    InvoiceLink: options.invoiceLink ? invoice.invoiceLink : undefined,
    MetaData: metaData(invoice, company),
  });
}

export function paymentJson(payment: PaymentRecord, company: Company): Json {
  const appliedCents = payment.lines.reduce((sum, line) => sum + line.amountCents, 0);
  return compact({
    Id: payment.id,
    SyncToken: String(payment.syncToken),
    domain: "QBO",
    sparse: false,
    TxnDate: payment.txnDate,
    CurrencyRef: USD,
    CustomerRef: { value: payment.customerId, name: company.customer(payment.customerId)?.displayName },
    TotalAmt: centsToNumber(payment.totalCents),
    UnappliedAmt: centsToNumber(payment.totalCents - appliedCents),
    ProcessPayment: false,
    PrivateNote: payment.privateNote,
    Line: payment.lines.map((line) => ({
      Amount: centsToNumber(line.amountCents),
      LinkedTxn: line.invoiceId === undefined ? [] : [{ TxnId: line.invoiceId, TxnType: "Invoice" }],
    })),
    MetaData: metaData(payment, company),
  });
}

export function queryRowJson(row: QueryRow, company: Company, options: RenderOptions): Json {
  if ("docNumber" in row) return invoiceJson(row, company, options);
  if ("displayName" in row) return customerJson(row, company);
  return paymentJson(row, company);
}

/** MetaData instants in the company's offset (seconds only, as QBO writes them, unless "Z"). */
function metaData(record: { created: string; updated: string }, company: Company): Json {
  return { CreateTime: instant(record.created, company), LastUpdatedTime: instant(record.updated, company) };
}

function instant(iso: string, company: Company): string {
  return formatInstant(iso, company.settings.timestampOffset, { millis: false });
}

function compact(record: Json): Json {
  for (const key of Object.keys(record)) if (record[key] === undefined) delete record[key];
  return record;
}
