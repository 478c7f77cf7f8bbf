/**
 * One QBO company: customers, invoices and payments with QBO's rules (unique display names,
 * references that must exist, balances that never go below zero, SyncTokens, void and
 * delete), shaped by the realm's settings (tax, currencies, numbering). State and rules only:
 * methods throw `QboFault` and return records.
 */

import { faults } from "../http.ts";
import type { CompanySettings } from "../settings.ts";
import { nowIso } from "../time.ts";
import {
  type CreditMemoInput,
  type PaymentInput,
  parseCreditMemo,
  parseCustomer,
  parseCustomerUpdate,
  parseInvoice,
  parseNamed,
  parsePayment,
  parseSyncRef,
} from "./inputs.ts";
import { centsToNumber, percentOfCents } from "./money.ts";
import type { ParsedQuery, QueryEntity } from "./query.ts";
import { compileConditions } from "./query-fields.ts";
import type {
  CreditMemoRecord,
  CustomerRecord,
  InvoiceLineRecord,
  InvoiceRecord,
  NameListRecord,
  PaymentLineRecord,
  PaymentRecord,
  QueryRow,
  RefRecord,
} from "./records.ts";

const FIRST_DOC_NUMBER = 1001;
/** The DocNumber that asks QBO for the next number even with custom transaction numbers on. */
const AUTO_GENERATE = "AUTO_GENERATE";
/** The memo of QBO's own credit-linking payment (qbo-api.md A10, S27). */
export const AUTO_APPLY_NOTE = "Created by QB Online to link credits to charges";
/** Intuit's Payment sample deposits to account 4 (Undeposited Funds) when none is named. */
const UNDEPOSITED_FUNDS: RefRecord = { value: "4" };

/** What the control API's "receive payment" screen sends: cash and/or credit for one invoice. */
export interface Settlement {
  cashCents: number;
  credit?: { creditMemoId: string; amountCents: number };
  paymentMethod?: RefRecord;
  paymentRefNum?: string;
  privateNote?: string;
}

/** A credit memo and the payment, if any, that applied it on creation. */
export interface CreditMemoResult {
  creditMemo: CreditMemoRecord;
  linkPayment?: PaymentRecord;
}

/** A credit memo voided or deleted, and the payments that changed with it. */
export interface CreditMemoRemoval {
  creditMemo: CreditMemoRecord;
  updated: PaymentRecord[];
  deleted: PaymentRecord[];
}

type NameKind = "Customer" | NameListRecord["kind"];

export class Company {
  readonly #settings: CompanySettings;
  readonly #customers = new Map<string, CustomerRecord>();
  readonly #nameLists = new Map<string, NameListRecord>();
  /** DisplayName (lower case) → owner, across customers, vendors and employees, active or not. */
  readonly #names = new Map<string, { kind: NameKind; id: string }>();
  readonly #invoices = new Map<string, InvoiceRecord>();
  /** DocNumber → ids of the live (not deleted) invoices carrying it. */
  readonly #docNumbers = new Map<string, Set<string>>();
  readonly #payments = new Map<string, PaymentRecord>();
  readonly #creditMemos = new Map<string, CreditMemoRecord>();
  /** One id sequence for every entity, so a customer id is never mistaken for an invoice id. */
  #nextId = 1;
  #nextDocNumber = FIRST_DOC_NUMBER;

  constructor(settings: CompanySettings) {
    this.#settings = settings;
  }

  /** The realm's settings as they are now. */
  get settings(): CompanySettings["value"] {
    return this.#settings.value;
  }

  customers(): CustomerRecord[] {
    return [...this.#customers.values()];
  }

  invoices(): InvoiceRecord[] {
    return [...this.#invoices.values()];
  }

  payments(): PaymentRecord[] {
    return [...this.#payments.values()];
  }

  creditMemos(): CreditMemoRecord[] {
    return [...this.#creditMemos.values()];
  }

  customer(id: string): CustomerRecord | undefined {
    return this.#customers.get(id);
  }

  /**
   * The customer's open balance, what QBO shows as Customer.Balance: open invoices less unused
   * credit (credit memos' RemainingCredit and payments' UnappliedAmt).
   */
  customerBalanceCents(customerId: string): number {
    let total = 0;
    for (const invoice of this.#invoices.values()) {
      if (invoice.customerId === customerId && invoice.state !== "deleted") total += invoice.balanceCents;
    }
    for (const memo of this.#creditMemos.values()) {
      if (memo.customerId === customerId && memo.state === "open") total -= memo.remainingCents;
    }
    for (const payment of this.#payments.values()) {
      if (payment.customerId === customerId && isLive(payment)) total -= unappliedCents(payment);
    }
    return total;
  }

  /**
   * DisplayName is unique case-insensitively (6240) across customers, vendors and employees,
   * inactive ones included. The currency is the home one unless CurrencyRef says otherwise,
   * which needs multicurrency on.
   */
  createCustomer(body: unknown): CustomerRecord {
    const { active, currency, ...input } = parseCustomer(body);
    this.#claimName(input.displayName);
    const customerCurrency = currency ?? this.settings.homeCurrency;
    this.#checkCurrency(customerCurrency);
    const now = timestamp();
    const customer: CustomerRecord = {
      ...input,
      id: this.#takeId(),
      syncToken: 0,
      active: active ?? true,
      currency: customerCurrency,
      created: now,
      updated: now,
    };
    this.#customers.set(customer.id, customer);
    this.#names.set(nameKey(customer.displayName), { kind: "Customer", id: customer.id });
    return customer;
  }

  /**
   * `POST /customer` with an Id: a stale SyncToken → 5010; `sparse` changes only the fields
   * sent (e.g. `Active: true` reactivates), a full update clears the others. A new name must
   * still be free (6240); the currency is fixed at creation.
   */
  updateCustomer(body: unknown): CustomerRecord {
    const { id, syncToken, changes } = parseCustomerUpdate(body);
    const customer = this.#customers.get(id);
    if (!customer) throw faults.objectNotFound("Customer", id);
    if (syncToken !== String(customer.syncToken)) throw faults.staleSyncToken();
    const { active, currency, displayName, ...fields } = changes;
    if (currency !== undefined && currency !== customer.currency) {
      throw faults.currency(`The currency of customer ${id} is ${customer.currency} and cannot be changed`);
    }
    if (displayName !== undefined && nameKey(displayName) !== nameKey(customer.displayName)) {
      this.#claimName(displayName, id);
      this.#names.delete(nameKey(customer.displayName));
      this.#names.set(nameKey(displayName), { kind: "Customer", id });
    }
    if (displayName !== undefined) customer.displayName = displayName;
    Object.assign(customer, fields);
    if ("active" in changes) customer.active = active ?? true;
    touch(customer, timestamp());
    return customer;
  }

  /** A vendor or an employee: they exist here only to take names from customers (6240). */
  createNameListEntry(kind: NameListRecord["kind"], body: unknown): NameListRecord {
    const { displayName } = parseNamed(body);
    this.#claimName(displayName);
    const now = timestamp();
    const record: NameListRecord = {
      id: this.#takeId(),
      syncToken: 0,
      kind,
      displayName,
      active: true,
      created: now,
      updated: now,
    };
    this.#nameLists.set(record.id, record);
    this.#names.set(nameKey(displayName), { kind, id: record.id });
    return record;
  }

  /** A customer by name, active or not (vendors' and employees' names find nothing). */
  findCustomerByName(displayName: string): CustomerRecord | undefined {
    const owner = this.#names.get(nameKey(displayName));
    return owner?.kind === "Customer" ? this.#customers.get(owner.id) : undefined;
  }

  /**
   * An invoice as the company's settings shape it: each line taxable unless its TaxCodeRef is
   * "NON" (automated tax), TotalAmt = Σ lines + tax, Balance = TotalAmt; the customer's
   * currency; a DocNumber only when sent or when the company numbers invoices itself.
   */
  createInvoice(body: unknown, options: { allowDuplicateDocNumber?: boolean } = {}): InvoiceRecord {
    const input = parseInvoice(body);
    const customer = this.#customers.get(input.customerId);
    if (!customer) throw faults.invalidReference("CustomerRef", input.customerId);
    const currency = input.currency ?? customer.currency;
    this.#checkCurrency(currency);
    if (currency !== customer.currency) {
      throw faults.currency(
        `The invoice currency ${currency} is not the customer's currency ${customer.currency}`,
      );
    }
    const docNumber = this.#docNumberFor(input.docNumber, options.allowDuplicateDocNumber ?? false);
    const { lines, taxCents, totalCents } = this.#price(input.lines);
    const now = timestamp();
    const txnDate = input.txnDate ?? now.slice(0, 10);
    const invoice: InvoiceRecord = {
      id: this.#takeId(),
      syncToken: 0,
      docNumber,
      txnDate,
      dueDate: input.dueDate ?? addDays(txnDate, 30),
      customerId: customer.id,
      lines,
      taxCents,
      totalCents,
      balanceCents: totalCents,
      currency,
      exchangeRate: this.#exchangeRate(currency),
      allowOnlineCard: input.allowOnlineCard,
      allowOnlineAch: input.allowOnlineAch,
      customerMemo: input.customerMemo,
      privateNote: input.privateNote,
      billEmail: input.billEmail,
      emailStatus: "NotSet",
      state: "open",
      paymentIds: [],
      invoiceLink: `https://connect.intuit.com/portal/app/CommerceNetwork/view/scs-v1-${randomHex(16)}`,
      created: now,
      updated: now,
    };
    this.#invoices.set(invoice.id, invoice);
    if (docNumber !== undefined) this.#indexDocNumber(docNumber, invoice.id);
    // "Automatically apply credits": unused credit goes to the customer's next invoice (S27).
    if (this.settings.autoApplyCredits) this.#autoApplyCredits(customer.id);
    return invoice;
  }

  /** Live invoices by DocNumber (voided ones keep theirs; deleted ones free it). */
  invoicesByDocNumber(docNumber: string): InvoiceRecord[] {
    return [...(this.#docNumbers.get(docNumber) ?? [])].flatMap((id) => this.#invoices.get(id) ?? []);
  }

  /** Any invoice, deleted ones included. */
  findInvoice(id: string): InvoiceRecord | undefined {
    return this.#invoices.get(id);
  }

  /** An invoice that exists and is not deleted, else QBO's 610. */
  invoice(id: string): InvoiceRecord {
    const invoice = this.#invoices.get(id);
    if (!invoice || invoice.state === "deleted") throw faults.objectNotFound("Invoice", id);
    return invoice;
  }

  sendInvoice(id: string, sendTo: string | undefined): InvoiceRecord {
    const invoice = this.invoice(id);
    const address = sendTo ?? invoice.billEmail;
    if (!address) throw faults.required("sendTo");
    if (!/^[^\s@,]+@[^\s@,]+\.[^\s@,]+$/.test(address)) {
      throw faults.invalid("sendTo", "is not a valid email address");
    }
    invoice.billEmail = address;
    invoice.emailStatus = "EmailSent";
    invoice.deliveryTime = timestamp();
    touch(invoice, invoice.deliveryTime);
    return invoice;
  }

  /** `operation=void`: a stale SyncToken is refused (5010). */
  voidInvoice(body: unknown): InvoiceRecord {
    const ref = parseSyncRef(body);
    const invoice = this.invoice(ref.id);
    if (ref.syncToken !== String(invoice.syncToken)) throw faults.staleSyncToken();
    return this.markVoided(invoice);
  }

  /** QBO's void: the invoice stays, every amount (tax too) zeroed, PrivateNote "Voided". No SyncToken check. */
  markVoided(invoice: InvoiceRecord): InvoiceRecord {
    invoice.state = "voided";
    invoice.taxCents = 0;
    invoice.totalCents = 0;
    invoice.balanceCents = 0;
    invoice.privateNote = "Voided";
    touch(invoice, timestamp());
    return invoice;
  }

  deleteInvoice(body: unknown): InvoiceRecord {
    const ref = parseSyncRef(body);
    const invoice = this.invoice(ref.id);
    if (ref.syncToken !== String(invoice.syncToken)) throw faults.staleSyncToken();
    return this.markDeleted(invoice);
  }

  markDeleted(invoice: InvoiceRecord): InvoiceRecord {
    invoice.state = "deleted";
    if (invoice.docNumber !== undefined) this.#docNumbers.get(invoice.docNumber)?.delete(invoice.id);
    touch(invoice, timestamp());
    return invoice;
  }

  /**
   * `POST /payment`: lines linking invoices (the amount applied, cash and credit together) and
   * credit memos (the credit used); TotalAmt is the cash, at least Σ invoice lines − Σ credit
   * lines, the rest unapplied. Every line is checked before anything changes (610, 6000).
   */
  createPayment(body: unknown): PaymentRecord {
    const input = parsePayment(body);
    this.#checkPayment(input);
    return this.#recordPayment(input, false);
  }

  /** A customer paying one invoice (control API, seeding): 0 < amount ≤ balance. */
  payInvoice(invoice: InvoiceRecord, amountCents: number): PaymentRecord {
    if (invoice.state !== "open") throw faults.business(`Invoice ${invoice.id} is ${invoice.state}`);
    if (amountCents <= 0) throw faults.invalid("Amount", "must be positive");
    if (amountCents > invoice.balanceCents) {
      throw faults.business(`The payment amount exceeds the open balance of invoice ${invoice.id}`);
    }
    return this.#recordPayment(
      {
        customerId: invoice.customerId,
        totalCents: amountCents,
        lines: [{ amountCents, invoiceId: invoice.id }],
      },
      false,
    );
  }

  /**
   * QBO's Receive Payment screen for one invoice: cash and/or a credit memo's credit in one
   * payment (an invoice line of cash + credit, a credit memo line of the credit; TotalAmt = cash).
   */
  settleInvoice(invoice: InvoiceRecord, settlement: Settlement): PaymentRecord {
    if (invoice.state !== "open") throw faults.business(`Invoice ${invoice.id} is ${invoice.state}`);
    const creditCents = settlement.credit?.amountCents ?? 0;
    const appliedCents = settlement.cashCents + creditCents;
    if (appliedCents <= 0) throw faults.invalid("Amount", "must be positive");
    const lines: PaymentLineRecord[] = [{ amountCents: appliedCents, invoiceId: invoice.id }];
    if (settlement.credit && creditCents > 0) {
      lines.push({ amountCents: creditCents, creditMemoId: settlement.credit.creditMemoId });
    }
    const input: PaymentInput = {
      customerId: invoice.customerId,
      totalCents: settlement.cashCents,
      lines,
      paymentMethod: settlement.paymentMethod,
      paymentRefNum: settlement.paymentRefNum,
      privateNote: settlement.privateNote,
    };
    this.#checkPayment(input);
    return this.#recordPayment(input, false);
  }

  /** Any payment, deleted ones included. */
  findPayment(id: string): PaymentRecord | undefined {
    return this.#payments.get(id);
  }

  /** A payment that exists and is not deleted (voided ones included), else QBO's 610. */
  payment(id: string): PaymentRecord {
    const payment = this.#payments.get(id);
    if (!payment || payment.deleted) throw faults.objectNotFound("Payment", id);
    return payment;
  }

  /**
   * `POST /payment?operation=update&include=void` `{Id, SyncToken, sparse: true}` (or
   * `operation=void`): a stale SyncToken → 5010.
   */
  voidPayment(body: unknown): PaymentRecord {
    const ref = parseSyncRef(body);
    const payment = this.payment(ref.id);
    if (ref.syncToken !== String(payment.syncToken)) throw faults.staleSyncToken();
    return this.markPaymentVoided(payment);
  }

  /**
   * QBO's void: the payment stays readable with every amount 0 and "Voided" prepended to its
   * PrivateNote; it no longer counts, so its invoices get their Balance back and its credit
   * memos their RemainingCredit, and their LinkedTxn drop it.
   */
  markPaymentVoided(payment: PaymentRecord): PaymentRecord {
    if (payment.voided) return payment;
    const now = timestamp();
    payment.voided = true;
    payment.privateNote = voidedNote(payment.privateNote);
    this.#unlink(payment, now);
    touch(payment, now);
    return payment;
  }

  /** `POST /payment?operation=delete` `{Id, SyncToken}`. */
  deletePayment(body: unknown): PaymentRecord {
    const ref = parseSyncRef(body);
    const payment = this.payment(ref.id);
    if (ref.syncToken !== String(payment.syncToken)) throw faults.staleSyncToken();
    return this.markPaymentDeleted(payment);
  }

  /** Gone: reads give 610, queries skip it; what it applied is given back, as with void. */
  markPaymentDeleted(payment: PaymentRecord): PaymentRecord {
    const now = timestamp();
    if (!payment.voided) this.#unlink(payment, now);
    payment.deleted = true;
    touch(payment, now);
    return payment;
  }

  /** Deletes every payment applied to the invoice, giving the invoices back their balance. */
  deletePaymentsOf(invoice: InvoiceRecord): PaymentRecord[] {
    const deleted: PaymentRecord[] = [];
    for (const paymentId of [...invoice.paymentIds]) {
      const payment = this.#payments.get(paymentId);
      if (!payment || payment.deleted) continue;
      deleted.push(this.markPaymentDeleted(payment));
    }
    return deleted;
  }

  /**
   * `POST /creditmemo`: sales lines priced like an invoice's (tax per the realm), RemainingCredit
   * = TotalAmt. With `autoApplyCredits` (and unless `autoApply: false`, the control API applying
   * it by hand), QBO applies it at once to the customer's oldest open invoices through a
   * zero-amount payment of its own.
   */
  createCreditMemo(body: unknown, options: { autoApply?: boolean } = {}): CreditMemoResult {
    return this.#storeCreditMemo(parseCreditMemo(body), options.autoApply ?? true);
  }

  /** Any credit memo, deleted ones included. */
  findCreditMemo(id: string): CreditMemoRecord | undefined {
    return this.#creditMemos.get(id);
  }

  /** A credit memo that exists and is not deleted, else QBO's 610. */
  creditMemo(id: string): CreditMemoRecord {
    const memo = this.#creditMemos.get(id);
    if (!memo || memo.state === "deleted") throw faults.objectNotFound("CreditMemo", id);
    return memo;
  }

  /** Void (`operation=void`, or `operation=update&include=void`): a stale SyncToken → 5010. */
  voidCreditMemo(body: unknown): CreditMemoRemoval {
    const ref = parseSyncRef(body);
    const memo = this.creditMemo(ref.id);
    if (ref.syncToken !== String(memo.syncToken)) throw faults.staleSyncToken();
    return this.markCreditMemoVoided(memo);
  }

  /**
   * The memo stays with every amount 0 and "Voided" prepended to its PrivateNote. The credit it
   * gave is taken back from the payments that used it: each loses its CreditMemo line and its
   * invoice lines shrink by as much (latest first), so the invoices' Balance rises again; QBO's
   * own linking payment left with no line is deleted.
   */
  markCreditMemoVoided(memo: CreditMemoRecord): CreditMemoRemoval {
    if (memo.state !== "open") return { creditMemo: memo, updated: [], deleted: [] };
    const now = timestamp();
    const changes = this.#withdrawCredit(memo, now);
    memo.state = "voided";
    memo.taxCents = 0;
    memo.totalCents = 0;
    memo.remainingCents = 0;
    memo.privateNote = voidedNote(memo.privateNote);
    touch(memo, now);
    return { creditMemo: memo, ...changes };
  }

  /** `POST /creditmemo?operation=delete` `{Id, SyncToken}`. */
  deleteCreditMemo(body: unknown): CreditMemoRemoval {
    const ref = parseSyncRef(body);
    const memo = this.creditMemo(ref.id);
    if (ref.syncToken !== String(memo.syncToken)) throw faults.staleSyncToken();
    return this.markCreditMemoDeleted(memo);
  }

  /** Gone (610 on read); the credit it gave is taken back as with void. */
  markCreditMemoDeleted(memo: CreditMemoRecord): CreditMemoRemoval {
    const now = timestamp();
    const changes = memo.state === "open" ? this.#withdrawCredit(memo, now) : { updated: [], deleted: [] };
    memo.state = "deleted";
    touch(memo, now);
    return { creditMemo: memo, ...changes };
  }

  /**
   * Bulk creation for benchmarks: one customer, one single-line invoice per amount, as if typed
   * in QBO's screens: numbered 1001, 1002… and not taxable, so TotalAmt is the amount given.
   */
  seedInvoices(customerName: string, invoices: Array<{ amountCents: number; paidCents: number }>): string[] {
    const customer =
      this.findCustomerByName(customerName) ?? this.createCustomer({ DisplayName: customerName });
    return invoices.map(({ amountCents, paidCents }) => {
      const amount = centsToNumber(amountCents);
      const invoice = this.createInvoice({
        CustomerRef: { value: customer.id },
        DocNumber: AUTO_GENERATE,
        Line: [
          {
            DetailType: "SalesItemLineDetail",
            Amount: amount,
            Description: "Seeded invoice",
            SalesItemLineDetail: { Qty: 1, UnitPrice: amount, TaxCodeRef: { value: "NON" } },
          },
        ],
      });
      if (paidCents > 0) this.payInvoice(invoice, paidCents);
      return invoice.id;
    });
  }

  /**
   * Runs a parsed query; `Id` conditions use the index, so `Id IN (...)` stays cheap at 10k rows.
   * Customer queries skip inactive customers unless the WHERE names `Active` (qbo-api.md A9).
   */
  query(query: ParsedQuery): { rows: QueryRow[]; total: number } {
    const conditions = [...query.conditions];
    const namesActive = conditions.some((condition) => condition.field.toLowerCase() === "active");
    if (query.entity === "Customer" && this.settings.hideInactiveCustomers && !namesActive) {
      conditions.push({ field: "Active", operator: "=", values: ["true"] });
    }
    if (
      !this.settings.privateNoteQueryable &&
      conditions.some((condition) => condition.field.toLowerCase() === "privatenote")
    ) {
      throw faults.queryValidation(`property 'PrivateNote' is not queryable on ${query.entity}`);
    }
    const matches = compileConditions(query.entity, conditions);
    const source = this.#source(query.entity);
    const idCondition = query.conditions.find(
      (condition) => condition.field.toLowerCase() === "id" && condition.operator !== "LIKE",
    );
    const candidates: Iterable<QueryRow> = idCondition
      ? [...new Set(idCondition.values)]
          .sort((a, b) => Number(a) - Number(b))
          .flatMap((id) => source.get(id) ?? [])
      : source.values();
    const rows: QueryRow[] = [];
    for (const record of candidates) {
      if (isDeleted(record)) continue;
      if (matches(record)) rows.push(record);
    }
    const start = query.startPosition - 1;
    return { rows: rows.slice(start, start + query.maxResults), total: rows.length };
  }

  #source(entity: QueryEntity): Map<string, QueryRow> {
    if (entity === "Customer") return this.#customers;
    if (entity === "Invoice") return this.#invoices;
    if (entity === "CreditMemo") return this.#creditMemos;
    return this.#payments;
  }

  /** Lines as the company prices them: default tax codes, the tax, TotalAmt. */
  #price(sent: InvoiceLineRecord[]): { lines: InvoiceLineRecord[]; taxCents: number; totalCents: number } {
    const { tax } = this.settings;
    const lines = sent.map((line) => ({
      ...line,
      taxCode: line.taxCode ?? (tax.mode === "automated" ? "TAX" : "NON"),
    }));
    const subtotalCents = lines.reduce((sum, line) => sum + line.amountCents, 0);
    const taxableCents = lines
      .filter((line) => line.taxCode !== "NON")
      .reduce((sum, line) => sum + line.amountCents, 0);
    const taxCents = tax.mode === "automated" ? percentOfCents(taxableCents, tax.ratePercent) : 0;
    return { lines, taxCents, totalCents: subtotalCents + taxCents };
  }

  /** Home units per 1 unit of `currency`, in multicurrency companies only. */
  #exchangeRate(currency: string): number | undefined {
    const { multicurrency, homeCurrency, exchangeRates } = this.settings;
    if (!multicurrency) return undefined;
    return currency === homeCurrency ? 1 : exchangeRates[currency];
  }

  #storeCreditMemo(input: CreditMemoInput, autoApply: boolean): CreditMemoResult {
    const customer = this.#customers.get(input.customerId);
    if (!customer) throw faults.invalidReference("CustomerRef", input.customerId);
    const currency = input.currency ?? customer.currency;
    this.#checkCurrency(currency);
    if (currency !== customer.currency) {
      throw faults.currency(
        `The credit memo currency ${currency} is not the customer's currency ${customer.currency}`,
      );
    }
    // Credit memos draw on the sales forms' number sequence; duplicates are not checked (UNVERIFIED).
    const docNumber =
      input.docNumber === AUTO_GENERATE ||
      (input.docNumber === undefined && !this.settings.customTransactionNumbers)
        ? this.#docNumberFor(AUTO_GENERATE, false)
        : input.docNumber;
    const { lines, taxCents, totalCents } = this.#price(input.lines);
    const now = timestamp();
    const creditMemo: CreditMemoRecord = {
      id: this.#takeId(),
      syncToken: 0,
      docNumber,
      txnDate: input.txnDate ?? now.slice(0, 10),
      customerId: customer.id,
      lines,
      taxCents,
      totalCents,
      remainingCents: totalCents,
      currency,
      exchangeRate: this.#exchangeRate(currency),
      customerMemo: input.customerMemo,
      privateNote: input.privateNote,
      billEmail: input.billEmail,
      state: "open",
      paymentIds: [],
      created: now,
      updated: now,
    };
    this.#creditMemos.set(creditMemo.id, creditMemo);
    const linkPayment =
      autoApply && this.settings.autoApplyCredits ? this.#autoApplyCredits(customer.id) : undefined;
    return { creditMemo, linkPayment };
  }

  /**
   * "Automatically apply credits" (S27): the customer's unused credit memo credit, oldest memo
   * first, goes to the oldest open invoices, through one payment QBO makes itself: TotalAmt 0,
   * PrivateNote "Created by QB Online to link credits to charges".
   */
  #autoApplyCredits(customerId: string): PaymentRecord | undefined {
    const memos = [...this.#creditMemos.values()]
      .filter((memo) => memo.customerId === customerId && memo.state === "open" && memo.remainingCents > 0)
      .sort(byAge);
    if (memos.length === 0) return undefined;
    const invoices = [...this.#invoices.values()]
      .filter(
        (invoice) =>
          invoice.customerId === customerId && invoice.state === "open" && invoice.balanceCents > 0,
      )
      .sort(byAge);
    const toInvoices = new Map<string, number>();
    const fromMemos = new Map<string, number>();
    let memoIndex = 0;
    let memoLeft = memos[0]?.remainingCents ?? 0;
    for (const invoice of invoices) {
      let due = invoice.balanceCents;
      while (due > 0 && memoIndex < memos.length) {
        const memo = memos[memoIndex];
        if (!memo) break;
        const take = Math.min(due, memoLeft);
        toInvoices.set(invoice.id, (toInvoices.get(invoice.id) ?? 0) + take);
        fromMemos.set(memo.id, (fromMemos.get(memo.id) ?? 0) + take);
        due -= take;
        memoLeft -= take;
        if (memoLeft === 0) {
          memoIndex++;
          memoLeft = memos[memoIndex]?.remainingCents ?? 0;
        }
      }
      if (memoIndex >= memos.length) break;
    }
    if (toInvoices.size === 0) return undefined;
    const lines: PaymentLineRecord[] = [
      ...[...toInvoices].map(([invoiceId, amountCents]) => ({ amountCents, invoiceId })),
      ...[...fromMemos].map(([creditMemoId, amountCents]) => ({ amountCents, creditMemoId })),
    ];
    return this.#recordPayment({ customerId, totalCents: 0, lines, privateNote: AUTO_APPLY_NOTE }, true);
  }

  /**
   * QBO's payment rules, checked before anything changes: the customer exists (2500) and pays in
   * its currency (6000); each linked invoice and credit memo exists (610, as QBO answers an
   * unknown TxnId) and is the customer's (6000); what a payment applies to an invoice is at most
   * its Balance, the credit it takes from a memo at most its RemainingCredit (6000); the credit
   * used is at most what is applied to invoices, and TotalAmt covers the rest (6000).
   */
  #checkPayment(input: PaymentInput): void {
    const customer = this.#customers.get(input.customerId);
    if (!customer) throw faults.invalidReference("CustomerRef", input.customerId);
    if (input.currency !== undefined && input.currency !== customer.currency) {
      throw faults.currency(
        `The payment currency ${input.currency} is not the customer's currency ${customer.currency}`,
      );
    }
    const toInvoices = new Map<string, number>();
    const fromMemos = new Map<string, number>();
    let chargedCents = 0;
    let creditCents = 0;
    for (const line of input.lines) {
      if (line.creditMemoId !== undefined) {
        const memo = this.#creditMemos.get(line.creditMemoId);
        if (!memo || memo.state === "deleted") throw faults.objectNotFound("CreditMemo", line.creditMemoId);
        if (memo.customerId !== customer.id) {
          throw faults.business(`Credit memo ${memo.id} belongs to another customer`);
        }
        const total = (fromMemos.get(memo.id) ?? 0) + line.amountCents;
        if (total > memo.remainingCents) {
          throw faults.business(`The credit applied exceeds the remaining credit of credit memo ${memo.id}`);
        }
        fromMemos.set(memo.id, total);
        creditCents += line.amountCents;
        continue;
      }
      chargedCents += line.amountCents;
      if (line.invoiceId === undefined) continue;
      const invoice = this.#invoices.get(line.invoiceId);
      if (!invoice || invoice.state === "deleted") throw faults.objectNotFound("Invoice", line.invoiceId);
      if (invoice.customerId !== customer.id) {
        throw faults.business(`Invoice ${invoice.id} belongs to another customer`);
      }
      const total = (toInvoices.get(invoice.id) ?? 0) + line.amountCents;
      if (total > invoice.balanceCents) {
        throw faults.business(`The payment amount exceeds the open balance of invoice ${invoice.id}`);
      }
      toInvoices.set(invoice.id, total);
    }
    if (creditCents > chargedCents) {
      throw faults.business("The credits applied exceed the amounts applied to invoices");
    }
    if (chargedCents - creditCents > input.totalCents) {
      throw faults.business("The lines add up to more than TotalAmt");
    }
  }

  #recordPayment(input: PaymentInput, auto: boolean): PaymentRecord {
    const now = timestamp();
    const customer = this.#customers.get(input.customerId);
    const currency = customer?.currency ?? this.settings.homeCurrency;
    const payment: PaymentRecord = {
      id: this.#takeId(),
      syncToken: 0,
      txnDate: input.txnDate ?? now.slice(0, 10),
      customerId: input.customerId,
      totalCents: input.totalCents,
      lines: input.lines,
      privateNote: input.privateNote,
      paymentRefNum: input.paymentRefNum,
      paymentMethod: input.paymentMethod,
      depositToAccount: input.depositToAccount ?? (auto ? undefined : UNDEPOSITED_FUNDS),
      currency,
      exchangeRate: this.#exchangeRate(currency),
      voided: false,
      deleted: false,
      auto,
      created: now,
      updated: now,
    };
    this.#payments.set(payment.id, payment);
    for (const line of input.lines) {
      const linked = this.#linkedTo(line);
      if (linked && !linked.paymentIds.includes(payment.id)) linked.paymentIds.push(payment.id);
    }
    this.#refreshLinked(payment, now);
    return payment;
  }

  /** The invoice or credit memo a payment line links, if it is still there. */
  #linkedTo(line: PaymentLineRecord): InvoiceRecord | CreditMemoRecord | undefined {
    if (line.invoiceId !== undefined) return this.#invoices.get(line.invoiceId);
    if (line.creditMemoId !== undefined) return this.#creditMemos.get(line.creditMemoId);
    return undefined;
  }

  /** The payment stops counting: its invoices and credit memos drop it and are recomputed. */
  #unlink(payment: PaymentRecord, now: string): void {
    for (const line of payment.lines) {
      const linked = this.#linkedTo(line);
      if (linked) linked.paymentIds = linked.paymentIds.filter((id) => id !== payment.id);
    }
    this.#refreshLinked(payment, now);
  }

  /**
   * Recomputes Balance / RemainingCredit of everything the payment's lines link (once each,
   * `except` the record the caller touches itself).
   */
  #refreshLinked(payment: PaymentRecord, now: string, except?: string): void {
    const seen = new Set<string>(except === undefined ? [] : [except]);
    for (const line of payment.lines) {
      const linked = this.#linkedTo(line);
      if (!linked || seen.has(linked.id)) continue;
      seen.add(linked.id);
      if ("balanceCents" in linked) this.#refreshInvoice(linked);
      else this.#refreshCreditMemo(linked);
      touch(linked, now);
    }
  }

  /** Balance = TotalAmt − Σ applied by the live payments it lists (a voided invoice stays at 0). */
  #refreshInvoice(invoice: InvoiceRecord): void {
    if (invoice.state !== "open") return;
    invoice.balanceCents =
      invoice.totalCents - this.#usedBy(invoice.paymentIds, (l) => l.invoiceId === invoice.id);
  }

  /** RemainingCredit = TotalAmt − Σ credit taken by the live payments it lists. */
  #refreshCreditMemo(memo: CreditMemoRecord): void {
    if (memo.state !== "open") return;
    memo.remainingCents = memo.totalCents - this.#usedBy(memo.paymentIds, (l) => l.creditMemoId === memo.id);
  }

  #usedBy(paymentIds: string[], matches: (line: PaymentLineRecord) => boolean): number {
    let total = 0;
    for (const id of paymentIds) {
      const payment = this.#payments.get(id);
      if (!payment || !isLive(payment)) continue;
      for (const line of payment.lines) if (matches(line)) total += line.amountCents;
    }
    return total;
  }

  /**
   * Takes a credit memo's credit back from the payments that used it (void or delete of the
   * memo): each loses its lines linking the memo and its invoice lines shrink by as much, latest
   * first, so TotalAmt stays what was received; QBO's own linking payment left empty is deleted.
   */
  #withdrawCredit(
    memo: CreditMemoRecord,
    now: string,
  ): { updated: PaymentRecord[]; deleted: PaymentRecord[] } {
    const updated: PaymentRecord[] = [];
    const deleted: PaymentRecord[] = [];
    for (const paymentId of [...memo.paymentIds]) {
      const payment = this.#payments.get(paymentId);
      if (!payment || !isLive(payment)) continue;
      const before = [...payment.lines];
      let creditCents = 0;
      for (const line of before) if (line.creditMemoId === memo.id) creditCents += line.amountCents;
      const lines = before.filter((line) => line.creditMemoId !== memo.id);
      for (let index = lines.length - 1; index >= 0 && creditCents > 0; index--) {
        const line = lines[index];
        if (!line || line.invoiceId === undefined) continue;
        const take = Math.min(line.amountCents, creditCents);
        lines[index] = { ...line, amountCents: line.amountCents - take };
        creditCents -= take;
      }
      payment.lines = lines.filter((line) => line.amountCents > 0 || line.invoiceId === undefined);
      // Unlink everything the payment linked before, then link what is left.
      for (const line of before) {
        const linked = this.#linkedTo(line);
        if (linked) linked.paymentIds = linked.paymentIds.filter((id) => id !== payment.id);
      }
      for (const line of payment.lines) {
        const linked = this.#linkedTo(line);
        if (linked && !linked.paymentIds.includes(payment.id)) linked.paymentIds.push(payment.id);
      }
      this.#refreshLinked({ ...payment, lines: before }, now, memo.id);
      if (payment.auto && payment.lines.length === 0) {
        payment.deleted = true;
        deleted.push(payment);
      } else {
        updated.push(payment);
      }
      touch(payment, now);
    }
    return { updated, deleted };
  }

  /**
   * "AUTO_GENERATE", or nothing sent while the company numbers invoices itself → the next free
   * number. Anything else is kept as sent, and a DocNumber another live invoice has → 6140
   * unless `include=allowduplicatedocnum`.
   */
  #docNumberFor(sent: string | undefined, allowDuplicate: boolean): string | undefined {
    if (sent === AUTO_GENERATE || (sent === undefined && !this.settings.customTransactionNumbers)) {
      let number = String(this.#nextDocNumber++);
      while (this.invoicesByDocNumber(number).length > 0) number = String(this.#nextDocNumber++);
      return number;
    }
    if (sent === undefined) return undefined;
    const clash = this.invoicesByDocNumber(sent)[0];
    if (clash && !allowDuplicate) throw faults.duplicateDocNumber(sent, clash.id);
    return sent;
  }

  #indexDocNumber(docNumber: string, invoiceId: string): void {
    const ids = this.#docNumbers.get(docNumber) ?? new Set<string>();
    ids.add(invoiceId);
    this.#docNumbers.set(docNumber, ids);
  }

  #claimName(displayName: string, ownId?: string): void {
    const owner = this.#names.get(nameKey(displayName));
    if (owner && owner.id !== ownId) throw faults.duplicateName();
  }

  /** A currency other than the home one needs multicurrency on and a rate (the currency list). */
  #checkCurrency(currency: string): void {
    const { homeCurrency, multicurrency, exchangeRates } = this.settings;
    if (currency === homeCurrency) return;
    if (!multicurrency)
      throw faults.currency(`Multicurrency is off: ${currency} is not the home currency ${homeCurrency}`);
    if (exchangeRates[currency] === undefined) {
      throw faults.currency(`${currency} is not in the company's currency list`);
    }
  }

  #takeId(): string {
    return String(this.#nextId++);
  }
}

function isDeleted(record: QueryRow): boolean {
  return ("state" in record && record.state === "deleted") || ("deleted" in record && record.deleted);
}

/** A payment that counts: neither voided nor deleted. */
function isLive(payment: PaymentRecord): boolean {
  return !payment.voided && !payment.deleted;
}

/** Σ invoice (and unlinked) lines − Σ credit memo lines: the cash the lines use. */
export function cashAppliedCents(lines: PaymentLineRecord[]): number {
  return lines.reduce((sum, line) => sum + (line.creditMemoId === undefined ? 1 : -1) * line.amountCents, 0);
}

/** TotalAmt less the cash applied: what QBO shows as UnappliedAmt. */
export function unappliedCents(payment: PaymentRecord): number {
  return payment.totalCents - cashAppliedCents(payment.lines);
}

/** "Voided", or "Voided - <note>": Intuit prepends it to an existing PrivateNote (qbo-api.md A8, A10). */
function voidedNote(note: string | undefined): string {
  return note === undefined || note === "" ? "Voided" : `Voided - ${note}`;
}

/** Oldest first: TxnDate, then creation order. */
function byAge(a: { txnDate: string; id: string }, b: { txnDate: string; id: string }): number {
  if (a.txnDate !== b.txnDate) return a.txnDate < b.txnDate ? -1 : 1;
  return Number(a.id) - Number(b.id);
}

/** Every mutation bumps SyncToken and MetaData.LastUpdatedTime. */
function touch(record: { syncToken: number; updated: string }, now: string): void {
  record.syncToken++;
  record.updated = now;
}

function timestamp(): string {
  return nowIso();
}

function nameKey(displayName: string): string {
  return displayName.toLowerCase();
}

function addDays(isoDate: string, days: number): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

function randomHex(bytes: number): string {
  const random = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(random, (byte) => byte.toString(16).padStart(2, "0")).join("");
}
