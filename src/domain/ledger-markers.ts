/**
 * The marker a QBO Payment or CreditMemo we pushed carries in its `PrivateNote` (COMMON decision):
 * `qpo-payment:<conferenceSlug>:<localId>` or `qpo-credit-note:<conferenceSlug>:<localId>`.
 * The push looks its own earlier work up by it (when QBO forgot a `requestid`), and
 * reconciliation uses it to recognise our pushes, so they are never recorded again as money
 * found in QuickBooks. QBO prefixes voided notes ("Voided - …"), so parsing searches, never anchors.
 */

export type LedgerMarkerKind = "payment" | "credit_note";

export interface LedgerMarker {
  kind: LedgerMarkerKind;
  conferenceSlug: string;
  localId: number;
}

const PREFIX: Record<LedgerMarkerKind, string> = { payment: "qpo-payment", credit_note: "qpo-credit-note" };

export function ledgerMarker(kind: LedgerMarkerKind, conferenceSlug: string, localId: number): string {
  return `${PREFIX[kind]}:${conferenceSlug}:${localId}`;
}

// Slugs are lower-case letters, digits and hyphens; ids are decimal.
const PATTERN = /qpo-(payment|credit-note):([a-z0-9][a-z0-9-]*):(\d{1,15})(?![\d])/;

/** The marker in a PrivateNote (anywhere in it), or null. */
export function parseLedgerMarker(privateNote: string | null | undefined): LedgerMarker | null {
  const m = PATTERN.exec(privateNote ?? "");
  if (!m?.[2] || !m[3]) return null;
  return {
    kind: m[1] === "payment" ? "payment" : "credit_note",
    conferenceSlug: m[2],
    localId: Number(m[3]),
  };
}

/** Whether the note carries exactly this marker (not a longer id that starts the same). */
export function hasLedgerMarker(
  privateNote: string | null | undefined,
  kind: LedgerMarkerKind,
  conferenceSlug: string,
  localId: number,
): boolean {
  const found = parseLedgerMarker(privateNote);
  return (
    found !== null &&
    found.kind === kind &&
    found.conferenceSlug === conferenceSlug &&
    found.localId === localId
  );
}
