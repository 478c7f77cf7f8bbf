/** QBO's JSON shapes for the emulator's records (money as JSON numbers, like QBO). */

import { type CompanySettings, currencyRef } from "../settings.ts";
import { formatInstant } from "../time.ts";
import { type Company, unappliedCents } from "./company.ts";
import { centsToNumber, convertCents, quantityToNumber } from "./money.ts";
import type { QueryEntity } from "./query.ts";
import type {
  CreditMemoRecord,
  CustomerRecord,
  InvoiceLineRecord,
  InvoiceRecord,
  NameListRecord,
  PaymentLineRecord,
  PaymentRecord,
  QueryRow,
} from "./records.ts";

type Json = Record<string, unknown>;

export interface RenderOptions {
  /** `include=invoiceLink` was asked for (the link still needs online payment: see `invoiceLink`). */
  invoiceLink: boolean;
}

const EMAIL = /^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/;

/**
 * QBO returns InvoiceLink only when asked, with QuickBooks Payments on for the company, online
 * payment allowed on the invoice (card or ACH) and an e-mail address to send it to (A8, Part B 7).
 */
function invoiceLink(invoice: InvoiceRecord, company: Company, options: RenderOptions): string | undefined {
  const allowed = invoice.allowOnlineCard || invoice.allowOnlineAch;
  const emailable = invoice.billEmail !== undefined && EMAIL.test(invoice.billEmail);
  return options.invoiceLink && company.settings.onlinePayments && allowed && emailable
    ? invoice.invoiceLink
    : undefined;
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
    Taxable: company.settings.tax.mode === "automated",
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

/** Sales lines as QBO returns them, with the SubTotalLineDetail line it appends; 0 when voided. */
function salesLinesJson(salesLines: InvoiceLineRecord[], voided: boolean): Json[] {
  const amount = (cents: number) => (voided ? 0 : centsToNumber(cents));
  const lines: Json[] = salesLines.map((line, index) => ({
    Id: String(index + 1),
    LineNum: index + 1,
    ...(line.description === undefined ? {} : { Description: line.description }),
    Amount: amount(line.amountCents),
    DetailType: "SalesItemLineDetail",
    SalesItemLineDetail: compact({
      ItemRef: line.itemRef,
      UnitPrice: line.unitPriceCents === undefined ? undefined : amount(line.unitPriceCents),
      Qty: line.qty === undefined ? undefined : voided ? 0 : quantityToNumber(line.qty),
      TaxCodeRef: line.taxCode === undefined ? undefined : { value: line.taxCode },
    }),
  }));
  const subtotalCents = salesLines.reduce((sum, line) => sum + line.amountCents, 0);
  // QBO appends a subtotal line to every sales document it returns.
  lines.push({
    Amount: amount(subtotalCents),
    DetailType: "SubTotalLineDetail",
    SubTotalLineDetail: {},
  });
  return lines;
}

export function invoiceJson(invoice: InvoiceRecord, company: Company, options: RenderOptions): Json {
  const customer = company.customer(invoice.customerId);
  const rate = invoice.exchangeRate;
  return compact({
    Id: invoice.id,
    SyncToken: String(invoice.syncToken),
    domain: "QBO",
    sparse: false,
    DocNumber: invoice.docNumber,
    TxnDate: invoice.txnDate,
    DueDate: invoice.dueDate,
    CurrencyRef: currencyRef(invoice.currency),
    ExchangeRate: rate,
    CustomerRef: { value: invoice.customerId, name: customer?.displayName },
    CustomerMemo: invoice.customerMemo === undefined ? undefined : { value: invoice.customerMemo },
    PrivateNote: invoice.privateNote,
    BillEmail: invoice.billEmail === undefined ? undefined : { Address: invoice.billEmail },
    BillAddr: customer?.billAddr,
    Line: salesLinesJson(invoice.lines, invoice.state === "voided"),
    TxnTaxDetail: { TotalTax: centsToNumber(invoice.taxCents) },
    TotalAmt: centsToNumber(invoice.totalCents),
    Balance: centsToNumber(invoice.balanceCents),
    HomeTotalAmt: rate === undefined ? undefined : centsToNumber(convertCents(invoice.totalCents, rate)),
    HomeBalance: rate === undefined ? undefined : centsToNumber(convertCents(invoice.balanceCents, rate)),
    AllowOnlineCreditCardPayment: invoice.allowOnlineCard,
    AllowOnlineACHPayment: invoice.allowOnlineAch,
    ApplyTaxAfterDiscount: false,
    PrintStatus: "NotSet",
    EmailStatus: invoice.emailStatus,
    DeliveryInfo:
      invoice.deliveryTime === undefined
        ? undefined
        : { DeliveryType: "Email", DeliveryTime: instant(invoice.deliveryTime, company) },
    LinkedTxn: invoice.paymentIds.map((id) => ({ TxnId: id, TxnType: "Payment" })),
    InvoiceLink: invoiceLink(invoice, company, options),
    MetaData: metaData(invoice, company),
  });
}

function linkedTxn(line: PaymentLineRecord): Array<{ TxnId: string; TxnType: string }> {
  if (line.invoiceId !== undefined) return [{ TxnId: line.invoiceId, TxnType: "Invoice" }];
  if (line.creditMemoId !== undefined) return [{ TxnId: line.creditMemoId, TxnType: "CreditMemo" }];
  return [];
}

/**
 * A Payment in the shape of Intuit's samples: TotalAmt (cash), UnappliedAmt, one LinkedTxn per
 * line. A voided payment keeps its lines and links with every amount 0.
 */
export function paymentJson(payment: PaymentRecord, company: Company): Json {
  const amount = (cents: number) => (payment.voided ? 0 : centsToNumber(cents));
  return compact({
    Id: payment.id,
    SyncToken: String(payment.syncToken),
    domain: "QBO",
    sparse: false,
    TxnDate: payment.txnDate,
    CurrencyRef: currencyRef(payment.currency),
    ExchangeRate: payment.exchangeRate,
    CustomerRef: { value: payment.customerId, name: company.customer(payment.customerId)?.displayName },
    DepositToAccountRef: payment.depositToAccount,
    PaymentMethodRef: payment.paymentMethod,
    PaymentRefNum: payment.paymentRefNum,
    TotalAmt: amount(payment.totalCents),
    UnappliedAmt: amount(unappliedCents(payment)),
    ProcessPayment: false,
    PrivateNote: payment.privateNote,
    Line: payment.lines.map((line) => ({ Amount: amount(line.amountCents), LinkedTxn: linkedTxn(line) })),
    MetaData: metaData(payment, company),
  });
}

/**
 * A CreditMemo in the shape of Intuit's sample (Finance.xsd fields, python-quickbooks
 * `CreditMemo`): sales lines like an invoice's, TotalAmt, RemainingCredit and Balance (the same).
 */
export function creditMemoJson(memo: CreditMemoRecord, company: Company): Json {
  const customer = company.customer(memo.customerId);
  const rate = memo.exchangeRate;
  return compact({
    Id: memo.id,
    SyncToken: String(memo.syncToken),
    domain: "QBO",
    sparse: false,
    DocNumber: memo.docNumber,
    TxnDate: memo.txnDate,
    CurrencyRef: currencyRef(memo.currency),
    ExchangeRate: rate,
    CustomerRef: { value: memo.customerId, name: customer?.displayName },
    CustomerMemo: memo.customerMemo === undefined ? undefined : { value: memo.customerMemo },
    PrivateNote: memo.privateNote,
    BillEmail: memo.billEmail === undefined ? undefined : { Address: memo.billEmail },
    BillAddr: customer?.billAddr,
    Line: salesLinesJson(memo.lines, memo.state === "voided"),
    TxnTaxDetail: { TotalTax: centsToNumber(memo.taxCents) },
    TotalAmt: centsToNumber(memo.totalCents),
    RemainingCredit: centsToNumber(memo.remainingCents),
    Balance: centsToNumber(memo.remainingCents),
    HomeTotalAmt: rate === undefined ? undefined : centsToNumber(convertCents(memo.totalCents, rate)),
    ApplyTaxAfterDiscount: false,
    PrintStatus: "NotSet",
    EmailStatus: "NotSet",
    // No LinkedTxn: Intuit's sample of a fully applied memo has none (test/fixtures/qbo-real/
    // creditmemo-read-intuit-docs.json); the payments using it are found from the invoice side.
    MetaData: metaData(memo, company),
  });
}

/**
 * The company's Preferences, the parts that follow from the settings, in the shape of Intuit's
 * own sample (QuickBooks-V3-DotNET-SDK `JsonSerializerTest.PreferenceDeSerializerTest`; field
 * names from Finance.xsd). `Id` is always "1"; each settings change bumps `SyncToken`.
 */
export function preferencesJson(settings: CompanySettings): Json {
  const {
    tax,
    homeCurrency,
    multicurrency,
    customTransactionNumbers,
    onlinePayments,
    autoApplyCredits,
    timestampOffset,
  } = settings.value;
  const automated = tax.mode === "automated";
  return {
    AccountingInfoPrefs: { CustomerTerminology: "Customers" },
    ProductAndServicesPrefs: {
      ForSales: true,
      ForPurchase: true,
      QuantityWithPriceAndRate: true,
      QuantityOnHand: true,
    },
    SalesFormsPrefs: {
      CustomTxnNumbers: customTransactionNumbers,
      AllowDeposit: false,
      AllowDiscount: false,
      AllowEstimates: true,
      ETransactionPaymentEnabled: onlinePayments,
      AutoApplyCredit: autoApplyCredits,
      IPNSupportEnabled: false,
      AllowServiceDate: false,
      AllowShipping: false,
      DefaultTerms: { value: "3" },
    },
    VendorAndPurchasesPrefs: { TrackingByCustomer: false, BillableExpenseTracking: false },
    TaxPrefs: { UsingSalesTax: automated, PartnerTaxEnabled: automated },
    CurrencyPrefs: { MultiCurrencyEnabled: multicurrency, HomeCurrency: { value: homeCurrency } },
    OtherPrefs: { NameValue: [{ Name: "SalesFormsPrefs.DefaultItem", Value: "1" }] },
    domain: "QBO",
    sparse: false,
    Id: "1",
    SyncToken: String(settings.version),
    MetaData: {
      CreateTime: formatInstant(settings.created, timestampOffset, { millis: false }),
      LastUpdatedTime: formatInstant(settings.updated, timestampOffset, { millis: false }),
    },
  };
}

const COUNTRY_OF_CURRENCY: Record<string, string> = { USD: "US", CAD: "CA", GBP: "GB", AUD: "AU" };

/** CompanyInfo: the company's name and country (from its home currency). */
export function companyInfoJson(companyName: string, settings: CompanySettings): Json {
  const { homeCurrency, timestampOffset } = settings.value;
  const created = formatInstant(settings.created, timestampOffset, { millis: false });
  return compact({
    CompanyName: companyName,
    LegalName: companyName,
    Country: COUNTRY_OF_CURRENCY[homeCurrency],
    SupportedLanguages: "en",
    FiscalYearStartMonth: "January",
    CompanyStartDate: settings.created.slice(0, 10),
    domain: "QBO",
    sparse: false,
    Id: "1",
    SyncToken: "0",
    MetaData: { CreateTime: created, LastUpdatedTime: created },
  });
}

export function queryRowJson(
  entity: QueryEntity,
  row: QueryRow,
  company: Company,
  options: RenderOptions,
): Json {
  if (entity === "Invoice") return invoiceJson(row as InvoiceRecord, company, options);
  if (entity === "Customer") return customerJson(row as CustomerRecord, company);
  if (entity === "CreditMemo") return creditMemoJson(row as CreditMemoRecord, company);
  return paymentJson(row as PaymentRecord, company);
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
