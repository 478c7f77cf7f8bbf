/**
 * Markers that name our own rows inside QBO (SPEC §9): a Payment or CreditMemo we push carries
 * `qpo-payment:<conferenceSlug>:<localId>` or `qpo-credit-note:<conferenceSlug>:<localId>` in
 * its `PrivateNote`. Reconciliation reads them to recognise our own pushes, so a payment we
 * pushed is never recorded a second time as money found in QuickBooks (even when the push's
 * answer was lost and the local row never learnt its QBO id).
 */

export type LedgerMarkerKind = "payment" | "credit_note";

export interface LedgerMarker {
  kind: LedgerMarkerKind;
  conferenceSlug: string;
  localId: number;
}

const PREFIX: Record<LedgerMarkerKind, string> = { payment: "qpo-payment", credit_note: "qpo-credit-note" };

/** The marker of a local payment or credit note, for the PrivateNote of its QBO counterpart. */
export function ledgerMarker(kind: LedgerMarkerKind, conferenceSlug: string, localId: number): string {
  return `${PREFIX[kind]}:${conferenceSlug}:${localId}`;
}

export const paymentMarker = (conferenceSlug: string, localId: number) =>
  ledgerMarker("payment", conferenceSlug, localId);
export const creditNoteMarker = (conferenceSlug: string, localId: number) =>
  ledgerMarker("credit_note", conferenceSlug, localId);

/** Slugs are lower-case words joined by hyphens; ids positive integers. Anywhere in the note. */
const MARKER = /\bqpo-(payment|credit-note):([a-z0-9][a-z0-9-]{0,62}):([1-9][0-9]{0,15})\b/;

/** The first marker in a PrivateNote (QBO may prefix it, e.g. "Voided - …"), or null. */
export function parseLedgerMarker(note: string | null | undefined): LedgerMarker | null {
  const m = MARKER.exec(note ?? "");
  if (!m?.[1] || !m[2] || !m[3]) return null;
  return {
    kind: m[1] === "payment" ? "payment" : "credit_note",
    conferenceSlug: m[2],
    localId: Number(m[3]),
  };
}
