/** The pure parts of the ledger push: PrivateNote markers, requestids, PaymentRefNum. */
import { describe, expect, it } from "vitest";
import { ledgerRequestId, paymentRefNum } from "../../src/domain/ledger";
import { hasLedgerMarker, ledgerMarker, parseLedgerMarker } from "../../src/domain/ledger-markers";

describe("ledger markers", () => {
  it("round-trips, and is found inside a note QuickBooks prefixed when voiding", () => {
    const marker = ledgerMarker("credit_note", "pycon-2027", 42);
    expect(marker).toBe("qpo-credit-note:pycon-2027:42");
    expect(parseLedgerMarker(`Voided - ${marker} · credit note 42`)).toEqual({
      kind: "credit_note",
      conferenceSlug: "pycon-2027",
      localId: 42,
    });
    expect(parseLedgerMarker("Created by QB Online to link credits to charges")).toBeNull();
  });

  it("does not take payment 4 for payment 42, nor another conference's", () => {
    const note = `${ledgerMarker("payment", "conf-a", 42)} · wire`;
    expect(hasLedgerMarker(note, "payment", "conf-a", 42)).toBe(true);
    expect(hasLedgerMarker(note, "payment", "conf-a", 4)).toBe(false);
    expect(hasLedgerMarker(note, "payment", "conf", 42)).toBe(false);
    expect(hasLedgerMarker(note, "credit_note", "conf-a", 42)).toBe(false);
  });
});

describe("ledger requestids", () => {
  it("are stable, at most 50 characters even for a 63-character slug, and differ per row, step and retry", async () => {
    const slug = `a${"b".repeat(62)}`;
    const id = await ledgerRequestId("cmap", slug, 123456789, 0);
    expect(id.length).toBeLessThanOrEqual(50);
    expect(await ledgerRequestId("cmap", slug, 123456789, 0)).toBe(id);
    const others = await Promise.all([
      ledgerRequestId("cmap", slug, 123456780, 0),
      ledgerRequestId("cm", slug, 123456789, 0),
      ledgerRequestId("cmap", slug, 123456789, 1),
      ledgerRequestId("cmap", "other", 123456789, 0),
    ]);
    expect(new Set([id, ...others]).size).toBe(5);
  });
});

describe("PaymentRefNum", () => {
  it("is the reference cut to QuickBooks' 21 characters, never half a character", () => {
    expect(paymentRefNum("WIRE-2026-11-30-ACME-CORP")).toBe("WIRE-2026-11-30-ACME-");
    expect([...paymentRefNum("🎟️".repeat(30))].length).toBeLessThanOrEqual(21);
    expect(paymentRefNum("  short ")).toBe("short");
  });
});
