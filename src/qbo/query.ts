/**
 * Builds statements in QBO's query language. Strings are quoted with `\` and `'` escaped.
 *
 * QBO's lexer refuses some characters inside literals (curly quotes and dashes: 4000 "Lexical
 * error"), and a literal ending in a backslash breaks it (qbo-api.md A9). Names holding those
 * are looked up with LIKE, each troublesome character a `%`, and the caller keeps only exact
 * matches: so every name can be found, whatever it holds.
 */

export function quoteQboString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

/** Characters QBO's query lexer is known or suspected to choke on inside a literal. */
const LEXER_HOSTILE = /[\u2018\u2019\u201a\u201b\u201c\u201d\u2013\u2014\\]/;

/**
 * Customers named `name`, active or not (default queries hide inactive ones). The result may
 * hold other names when a LIKE pattern was needed: keep only `sameName` matches.
 */
export function customersNamed(name: string): string {
  const active = "Active IN (true, false)";
  if (!LEXER_HOSTILE.test(name)) {
    return `SELECT * FROM Customer WHERE DisplayName = ${quoteQboString(name)} AND ${active} MAXRESULTS 10`;
  }
  const pattern = name.replace(new RegExp(LEXER_HOSTILE.source, "g"), "%").replace(/%+/g, "%");
  return `SELECT * FROM Customer WHERE DisplayName LIKE ${quoteQboString(pattern)} AND ${active} MAXRESULTS 1000`;
}

/** QBO compares DisplayName case-insensitively (qbo-api.md A9, UNVERIFIED): so do we. */
export function sameName(a: string | null | undefined, b: string): boolean {
  return (a ?? "").trim().toLowerCase() === b.trim().toLowerCase();
}

/** The invoice(s) carrying this DocNumber (our PO reference). */
export function invoicesByDocNumber(docNumber: string): string {
  return `SELECT * FROM Invoice WHERE DocNumber = ${quoteQboString(docNumber)} MAXRESULTS 10`;
}

/** One query for up to 1000 invoices (QBO's MAXRESULTS ceiling). */
export function invoicesByIds(ids: readonly string[]): string {
  if (ids.length === 0 || ids.length > 1000) throw new RangeError("between 1 and 1000 invoice ids");
  return `SELECT * FROM Invoice WHERE Id IN (${ids.map(quoteQboString).join(", ")}) MAXRESULTS ${ids.length}`;
}

/** One query per entity for up to 1000 ids (QBO's MAXRESULTS ceiling; no IN-list limit is documented). */
function byIds(entity: "Payment" | "CreditMemo", ids: readonly string[]): string {
  if (ids.length === 0 || ids.length > 1000) throw new RangeError(`between 1 and 1000 ${entity} ids`);
  return `SELECT * FROM ${entity} WHERE Id IN (${ids.map(quoteQboString).join(", ")}) MAXRESULTS ${ids.length}`;
}

/** The payments linked from a batch of invoices (reconciliation's second read). */
export const paymentsByIds = (ids: readonly string[]) => byIds("Payment", ids);

/** The credit memos those payments apply (reconciliation's third read). */
export const creditMemosByIds = (ids: readonly string[]) => byIds("CreditMemo", ids);
