import { describe, expect, it } from "vitest";
import { call, createPo, emulator, expectError, invoicedPo, paths, UNTAXED } from "../helpers";

describe("syncing a PO with its QBO invoice", () => {
  it("records one QBO payment and marks the PO paid when QBO shows it paid", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo(undefined, UNTAXED);
    const { Payment } = await emulator().recordPayment(realmId, invoiceId, {
      amount: "1200.00",
      webhook: false,
    });

    const res = await call("POST", paths.qboInvoiceSync(slug, reference));

    expect(res.status).toBe(200);
    expect(res.body.status).toBe("paid");
    expect(res.body.totalPaid).toBe("1200.00");
    expect(res.body.balanceDue).toBe("0.00");
    expect(res.body.payments).toHaveLength(1);
    expect(res.body.payments[0]).toMatchObject({
      amount: "1200.00",
      method: "other",
      source: "qbo",
      reference: `QBO Payment #${Payment.Id}`,
      note: `Recorded from QuickBooks Payment #${Payment.Id}.`,
      paymentDate: Payment.TxnDate,
    });
    expect(res.body.qbo).toMatchObject({ balance: "0.00", totalAmt: "1200.00", discrepancy: null });
  });

  it("records a partial payment and nothing more on a repeated sync", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1000.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "250.10", webhook: false });

    const first = await call("POST", paths.qboInvoiceSync(slug, reference));
    const second = await call("POST", paths.qboInvoiceSync(slug, reference));

    expect(first.body.status).toBe("partially_paid");
    expect(second.body.payments).toHaveLength(1);
    expect(second.body.totalPaid).toBe("250.10");
    expect(second.body.balanceDue).toBe("749.90");
  });

  it("records a QBO payment at its full amount beside a manual payment not pushed to QBO", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("500.00", UNTAXED);
    await call("POST", paths.payments(slug, reference), {
      amount: "200.00",
      method: "wire",
      paymentDate: "2026-11-01",
    });
    await emulator().recordPayment(realmId, invoiceId, { amount: "500.00", webhook: false });
    const res = await call("POST", paths.qboInvoiceSync(slug, reference));
    // Two payments on two sides: the QBO one is money of its own, not "the rest" of ours.
    expect(res.body.status).toBe("overpaid");
    expect(res.body.payments.map((p: any) => [p.source, p.amount])).toEqual([
      ["manual", "200.00"],
      ["qbo", "500.00"],
    ]);
  });

  it("records one payment under 8 concurrent syncs of the same state", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("300.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "120.00", webhook: false });
    const results = await Promise.all(
      Array.from({ length: 8 }, () => call("POST", paths.qboInvoiceSync(slug, reference))),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    const po = await call("GET", paths.po(slug, reference));
    expect(po.body.payments).toHaveLength(1);
    expect(po.body.totalPaid).toBe("120.00");
  });

  it("voids, and keeps, the counterpart of a payment deleted in QBO", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("400.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "100.00", webhook: false });
    await call("POST", paths.qboInvoiceSync(slug, reference));
    await emulator().deletePayments(realmId, invoiceId);

    const res = await call("POST", paths.qboInvoiceSync(slug, reference));

    expect(res.body.totalPaid).toBe("0.00");
    expect(res.body.status).toBe("sent");
    expect(res.body.payments).toHaveLength(1);
    expect(res.body.payments[0]).toMatchObject({
      amount: "100.00",
      source: "qbo",
      voidReason: "Deleted in QuickBooks",
    });
    expect(res.body.qbo.discrepancy).toBeNull();
  });

  it("flags a voided invoice without touching payments", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("400.00", UNTAXED);
    await emulator().voidInvoice(realmId, invoiceId);
    const res = await call("POST", paths.qboInvoiceSync(slug, reference));
    expect(res.status).toBe(200);
    expect(res.body.qbo.discrepancy.kind).toBe("invoice_voided");
    expect(res.body.payments).toHaveLength(0);
    expect(res.body.status).toBe("sent");
  });

  it("refuses to sync a paid PO or one without an invoice", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("10.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "10.00", webhook: false });
    expect((await call("POST", paths.qboInvoiceSync(slug, reference))).body.status).toBe("paid");
    const again = await call("POST", paths.qboInvoiceSync(slug, reference));
    expectError(again, 409, "invalid_state");
    const bare = await createPo(slug);
    const none = await call("POST", paths.qboInvoiceSync(slug, bare.reference));
    expect(none.status).toBe(409);
  });

  it("reads the invoice with one query, not a per-invoice GET", async () => {
    const { slug, realmId, reference } = await invoicedPo(undefined, UNTAXED);
    await emulator().resetStats(realmId);
    await call("POST", paths.qboInvoiceSync(slug, reference));
    const stats = await emulator().stats(realmId);
    expect(stats.requests.byOperation["query:Invoice"]).toBe(1);
    expect(stats.requests.byOperation["read:invoice"] ?? 0).toBe(0);
  });
});
