/** The pure parts of the ledger push: PrivateNote markers, requestids, PaymentRefNum, a credit memo's line before tax. */
import { describe, expect, it } from "vitest";
import { ledgerRequestId, paymentRefNum, preTaxCents } from "../../src/domain/ledger";
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

describe("a credit memo's line before tax (preTaxCents)", () => {
  it("is the line whose total with tax, rounded half up, is the credit note's amount", () => {
    // 8.875 % as an invoice of 1,200.00 shows it: 106.50 of tax.
    const rate = { taxCents: 10_650, taxableCents: 120_000 };
    expect(preTaxCents(15_000, rate)).toBe(13_777); // 137.77 + 12.23
    for (const total of [1, 99, 1_000, 15_000, 123_457, 99_999_999]) {
      const line = preTaxCents(total, rate);
      if (line === null) continue;
      expect(line + Math.floor((2 * line * 10_650 + 120_000) / 240_000)).toBe(total);
    }
  });

  it("is the amount itself without tax, and null where no line lands exactly", () => {
    expect(preTaxCents(15_000, { taxCents: 0, taxableCents: 120_000 })).toBe(15_000);
    expect(preTaxCents(15_000, { taxCents: 500, taxableCents: 0 })).toBe(15_000);
    // At 50 %, lines of 1 and 2 cents total 2 and 3 (1 + 0.5 → 1, 2 + 1): 1 cent is out of reach.
    expect(preTaxCents(1, { taxCents: 1, taxableCents: 2 })).toBeNull();
  });

  it("gives every credit memo step of a retried push its own requestid, the plain one unchanged", async () => {
    const plain = await ledgerRequestId("cm", "conf", 7, 0);
    expect(await ledgerRequestId("cm", "conf", 7, 0, undefined)).toBe(plain);
    const other = await ledgerRequestId("cm", "conf", 7, 0, "line 13777");
    expect(other).not.toBe(plain);
    expect(other.length).toBeLessThanOrEqual(50);
  });
});
