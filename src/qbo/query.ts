/** Builds statements in QBO's query language. Strings are quoted, with `\` and `'` escaped. */

export function quoteQboString(value: string): string {
  return `'${value.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
}

export function customerByDisplayName(name: string): string {
  return `SELECT * FROM Customer WHERE DisplayName = ${quoteQboString(name)} MAXRESULTS 1`;
}

/** One query for up to 1000 invoices (QBO's MAXRESULTS ceiling). */
export function invoicesByIds(ids: readonly string[]): string {
  if (ids.length === 0 || ids.length > 1000) throw new RangeError("between 1 and 1000 invoice ids");
  return `SELECT * FROM Invoice WHERE Id IN (${ids.map(quoteQboString).join(", ")}) MAXRESULTS ${ids.length}`;
}
