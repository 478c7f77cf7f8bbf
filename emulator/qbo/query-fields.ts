/** Which fields a query may filter on, per entity, and how each compares (DisplayName ignores case). */

import { faults } from "../http.ts";
import { parseCents } from "./money.ts";
import type { Condition, QueryEntity } from "./query.ts";
import type { CreditMemoRecord, CustomerRecord, InvoiceRecord, PaymentRecord, QueryRow } from "./records.ts";

interface QueryField {
  get(record: QueryRow): string | undefined;
  caseInsensitive?: boolean;
  /** Money: compared in cents, so '100' matches 100.00. */
  money?: boolean;
  /** An instant: compared to the second whatever its offset, as QBO keeps MetaData times. */
  instant?: boolean;
}

const common: Record<string, QueryField> = {
  id: { get: (r) => r.id },
  synctoken: { get: (r) => String(r.syncToken) },
  "metadata.createtime": { get: (r) => r.created, instant: true },
  "metadata.lastupdatedtime": { get: (r) => r.updated, instant: true },
};

const customer = (r: QueryRow) => r as CustomerRecord;
const invoice = (r: QueryRow) => r as InvoiceRecord;
const payment = (r: QueryRow) => r as PaymentRecord;
const creditMemo = (r: QueryRow) => r as CreditMemoRecord;

const FIELDS: Record<QueryEntity, Record<string, QueryField>> = {
  Customer: {
    ...common,
    displayname: { get: (r) => customer(r).displayName, caseInsensitive: true },
    companyname: { get: (r) => customer(r).companyName, caseInsensitive: true },
    givenname: { get: (r) => customer(r).givenName },
    familyname: { get: (r) => customer(r).familyName },
    primaryemailaddr: { get: (r) => customer(r).email, caseInsensitive: true },
    active: { get: (r) => String(customer(r).active) },
  },
  Invoice: {
    ...common,
    docnumber: { get: (r) => invoice(r).docNumber },
    txndate: { get: (r) => invoice(r).txnDate },
    duedate: { get: (r) => invoice(r).dueDate },
    customerref: { get: (r) => invoice(r).customerId },
    emailstatus: { get: (r) => invoice(r).emailStatus },
    totalamt: { get: (r) => String(invoice(r).totalCents), money: true },
    balance: { get: (r) => String(invoice(r).balanceCents), money: true },
  },
  Payment: {
    ...common,
    txndate: { get: (r) => payment(r).txnDate },
    customerref: { get: (r) => payment(r).customerId },
    totalamt: { get: (r) => String(payment(r).totalCents), money: true },
    paymentrefnum: { get: (r) => payment(r).paymentRefNum },
    // Refused (4001) unless the realm's privateNoteQueryable is on: see Company.query.
    privatenote: { get: (r) => payment(r).privateNote },
  },
  CreditMemo: {
    ...common,
    docnumber: { get: (r) => creditMemo(r).docNumber },
    txndate: { get: (r) => creditMemo(r).txnDate },
    customerref: { get: (r) => creditMemo(r).customerId },
    totalamt: { get: (r) => String(creditMemo(r).totalCents), money: true },
    privatenote: { get: (r) => creditMemo(r).privateNote },
  },
  // One row, answered from the settings; no field is filterable in the emulator.
  Preferences: {},
};

/** One predicate for all conditions (they are ANDed); unknown fields are QBO's 4001. */
export function compileConditions(
  entity: QueryEntity,
  conditions: Condition[],
): (record: QueryRow) => boolean {
  const checks = conditions.map((condition) => compile(entity, condition));
  return (record) => checks.every((check) => check(record));
}

function compile(entity: QueryEntity, condition: Condition): (record: QueryRow) => boolean {
  const field = FIELDS[entity][condition.field.toLowerCase()];
  if (!field) {
    throw faults.queryValidation(
      `property '${condition.field}' is not queryable on ${entity} in the emulator`,
    );
  }
  if (condition.operator === "LIKE") return compileLike(field, condition);
  const normalise = (value: string): string => {
    if (field.money) {
      const cents = parseCents(value);
      if (typeof cents !== "number") throw faults.queryValidation(`'${value}' is not an amount`);
      return String(cents);
    }
    if (field.instant) {
      const ms = Date.parse(value);
      if (Number.isNaN(ms)) throw faults.queryValidation(`'${value}' is not a date-time`);
      return String(Math.floor(ms / 1000));
    }
    return field.caseInsensitive ? value.toLowerCase() : value;
  };
  const stored = (value: string): string => {
    if (field.instant) return String(Math.floor(Date.parse(value) / 1000));
    return field.caseInsensitive ? value.toLowerCase() : value;
  };
  const wanted = new Set(condition.values.map(normalise));
  return (record) => {
    const value = field.get(record);
    if (value === undefined) return false;
    return wanted.has(stored(value));
  };
}

/**
 * LIKE with `%` as "any run of characters" (QBO supports only `%`); everything else, `_`
 * included, is literal. Case follows the field (DisplayName ignores it).
 */
function compileLike(field: QueryField, condition: Condition): (record: QueryRow) => boolean {
  if (field.money || field.instant) {
    throw faults.queryValidation(`LIKE is not supported on ${condition.field}`);
  }
  const pattern = (condition.values[0] ?? "")
    .split("%")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join("[\\s\\S]*");
  const regex = new RegExp(`^${pattern}$`, field.caseInsensitive ? "iu" : "u");
  return (record) => {
    const value = field.get(record);
    return value !== undefined && regex.test(value);
  };
}
