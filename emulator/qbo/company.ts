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
  type PaymentInput,
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
import type { CustomerRecord, InvoiceRecord, NameListRecord, PaymentRecord, QueryRow } from "./records.ts";

const FIRST_DOC_NUMBER = 1001;
/** The DocNumber that asks QBO for the next number even with custom transaction numbers on. */
const AUTO_GENERATE = "AUTO_GENERATE";

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

  customer(id: string): CustomerRecord | undefined {
    return this.#customers.get(id);
  }

  /** The customer's open balance: what QBO shows as Customer.Balance. */
  customerBalanceCents(customerId: string): number {
    let total = 0;
    for (const invoice of this.#invoices.values()) {
      if (invoice.customerId === customerId && invoice.state !== "deleted") total += invoice.balanceCents;
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
    const { tax, multicurrency, homeCurrency, exchangeRates } = this.settings;
    const lines = input.lines.map((line) => ({
      ...line,
      taxCode: line.taxCode ?? (tax.mode === "automated" ? "TAX" : "NON"),
    }));
    const subtotalCents = lines.reduce((sum, line) => sum + line.amountCents, 0);
    const taxableCents = lines
      .filter((line) => line.taxCode !== "NON")
      .reduce((sum, line) => sum + line.amountCents, 0);
    const taxCents = tax.mode === "automated" ? percentOfCents(taxableCents, tax.ratePercent) : 0;
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
      totalCents: subtotalCents + taxCents,
      balanceCents: subtotalCents + taxCents,
      currency,
      exchangeRate: multicurrency ? (currency === homeCurrency ? 1 : exchangeRates[currency]) : undefined,
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

  /** Records a payment; each line lowers the balance of the invoice it links to. */
  createPayment(body: unknown): PaymentRecord {
    const input = parsePayment(body);
    if (!this.#customers.has(input.customerId))
      throw faults.invalidReference("CustomerRef", input.customerId);
    // Validate every line before touching any invoice, so a rejected payment changes nothing.
    const applied = new Map<string, number>();
    for (const [index, line] of input.lines.entries()) {
      if (line.invoiceId === undefined) continue;
      const invoice = this.#invoices.get(line.invoiceId);
      if (!invoice || invoice.state === "deleted") {
        throw faults.invalidReference(`Line.${index}.LinkedTxn`, line.invoiceId);
      }
      if (invoice.customerId !== input.customerId) {
        throw faults.business(`Invoice ${invoice.id} belongs to another customer`);
      }
      const total = (applied.get(invoice.id) ?? 0) + line.amountCents;
      if (total > invoice.balanceCents) {
        throw faults.business(`The payment amount exceeds the open balance of invoice ${invoice.id}`);
      }
      applied.set(invoice.id, total);
    }
    const appliedCents = input.lines.reduce((sum, line) => sum + line.amountCents, 0);
    if (appliedCents > input.totalCents) throw faults.business("The lines add up to more than TotalAmt");
    return this.#recordPayment(input);
  }

  /** A customer paying one invoice (control API, seeding): 0 < amount ≤ balance. */
  payInvoice(invoice: InvoiceRecord, amountCents: number): PaymentRecord {
    if (invoice.state !== "open") throw faults.business(`Invoice ${invoice.id} is ${invoice.state}`);
    if (amountCents <= 0) throw faults.invalid("Amount", "must be positive");
    if (amountCents > invoice.balanceCents) {
      throw faults.business(`The payment amount exceeds the open balance of invoice ${invoice.id}`);
    }
    return this.#recordPayment({
      customerId: invoice.customerId,
      totalCents: amountCents,
      lines: [{ amountCents, invoiceId: invoice.id }],
    });
  }

  payment(id: string): PaymentRecord {
    const payment = this.#payments.get(id);
    if (!payment || payment.deleted) throw faults.objectNotFound("Payment", id);
    return payment;
  }

  /** Deletes every payment applied to the invoice, giving the invoices back their balance. */
  deletePaymentsOf(invoice: InvoiceRecord): PaymentRecord[] {
    const deleted: PaymentRecord[] = [];
    for (const paymentId of [...invoice.paymentIds]) {
      const payment = this.#payments.get(paymentId);
      if (!payment || payment.deleted) continue;
      const now = timestamp();
      for (const line of payment.lines) {
        const linked = line.invoiceId === undefined ? undefined : this.#invoices.get(line.invoiceId);
        if (!linked) continue;
        if (linked.state === "open") linked.balanceCents += line.amountCents;
        linked.paymentIds = linked.paymentIds.filter((id) => id !== payment.id);
        touch(linked, now);
      }
      payment.deleted = true;
      touch(payment, now);
      deleted.push(payment);
    }
    return deleted;
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
    return this.#payments;
  }

  #recordPayment(input: PaymentInput): PaymentRecord {
    const now = timestamp();
    const payment: PaymentRecord = {
      id: this.#takeId(),
      syncToken: 0,
      txnDate: input.txnDate ?? now.slice(0, 10),
      customerId: input.customerId,
      totalCents: input.totalCents,
      lines: input.lines,
      privateNote: input.privateNote,
      deleted: false,
      created: now,
      updated: now,
    };
    this.#payments.set(payment.id, payment);
    for (const line of input.lines) {
      const invoice = line.invoiceId === undefined ? undefined : this.#invoices.get(line.invoiceId);
      if (!invoice) continue;
      invoice.balanceCents -= line.amountCents;
      if (!invoice.paymentIds.includes(payment.id)) invoice.paymentIds.push(payment.id);
      touch(invoice, now);
    }
    return payment;
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
