/**
 * SPEC §15 "Reversal": a payment or credit note recorded by mistake is voided, kept with why,
 * and leaves every total; the status follows.
 */
import { describe, expect, it } from "vitest";
import { call, createConference, createPo, emulator, invoicedPo, UNTAXED } from "../helpers";

const poPath = (slug: string, ref: string) => `/api/conferences/${slug}/purchase-orders/${ref}`;

async function poOf(total: string) {
  const slug = await createConference();
  const { reference } = await createPo(slug, {
    lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: total }],
  });
  return { slug, reference, path: poPath(slug, reference) };
}

const wire = (amount: string) => ({
  amount,
  method: "wire",
  paymentDate: "2026-11-20",
  reference: "WIRE-42",
});

describe("voiding a payment", () => {
  it("fixes a double-recorded wire in one call: the row is kept, leaves the totals, and the status is recomputed", async () => {
    const { path } = await poOf("1000.00");
    await call("POST", `${path}/payments`, wire("600.00"));
    const twice = await call("POST", `${path}/payments`, wire("600.00"));
    expect(twice.body).toMatchObject({ status: "overpaid", totalPaid: "1200.00", balanceDue: "-200.00" });
    const duplicate = twice.body.payments[1].id;

    const res = await call("POST", `${path}/payments/${duplicate}/void`, { reason: "Entered twice" });

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "partially_paid", totalPaid: "600.00", balanceDue: "400.00" });
    expect(res.body.payments).toHaveLength(2);
    expect(res.body.payments[0]).toMatchObject({ voidedAt: null, voidReason: null });
    expect(res.body.payments[1]).toMatchObject({
      id: duplicate,
      amount: "600.00",
      voidedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      voidReason: "Entered twice",
    });
  });

  it("moves a paid PO back to sent when its only payment is voided", async () => {
    const { path } = await poOf("100.00");
    const paid = await call("POST", `${path}/payments`, wire("100.00"));
    expect(paid.body.status).toBe("paid");

    const res = await call("POST", `${path}/payments/${paid.body.payments[0].id}/void`, {
      reason: "Bounced",
    });

    expect(res.body).toMatchObject({ status: "sent", totalPaid: "0.00", balanceDue: "100.00" });
  });

  it("answers 409 invalid_state to a second void of the same payment, even concurrently, and voids it once", async () => {
    const { path } = await poOf("100.00");
    const id = (await call("POST", `${path}/payments`, wire("50.00"))).body.payments[0].id;

    const results = await Promise.all([
      call("POST", `${path}/payments/${id}/void`, { reason: "first" }),
      call("POST", `${path}/payments/${id}/void`, { reason: "second" }),
    ]);

    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)?.body.error.code).toBe("invalid_state");
    const po = (await call("GET", path)).body;
    expect(po.payments[0].voidReason).toBe(
      results.find((r) => r.status === 200)?.body.payments[0].voidReason,
    );
    expect(po.totalPaid).toBe("0.00");
  });

  it("answers 404 for a payment of another PO or an unknown id, and changes nothing", async () => {
    const a = await poOf("100.00");
    const b = await poOf("100.00");
    const id = (await call("POST", `${a.path}/payments`, wire("50.00"))).body.payments[0].id;

    const other = await call("POST", `${b.path}/payments/${id}/void`, { reason: "wrong PO" });
    const unknown = await call("POST", `${a.path}/payments/999999999/void`, { reason: "no such" });

    expect(other.status).toBe(404);
    expect(other.body.error.code).toBe("not_found");
    expect(unknown.status).toBe(404);
    expect((await call("GET", a.path)).body).toMatchObject({ totalPaid: "50.00", status: "partially_paid" });
  });

  it("refuses a void without a reason or with a bad id with 400, and changes nothing", async () => {
    const { path } = await poOf("100.00");
    const id = (await call("POST", `${path}/payments`, wire("50.00"))).body.payments[0].id;

    for (const [url, body] of [
      [`${path}/payments/${id}/void`, {}],
      [`${path}/payments/${id}/void`, { reason: "   " }],
      [`${path}/payments/abc/void`, { reason: "x" }],
      [`${path}/payments/0/void`, { reason: "x" }],
    ] as const) {
      const res = await call("POST", url, body);
      expect(res.status, url).toBe(400);
      expect(res.body.error.code).toBe("validation_failed");
    }
    expect((await call("GET", path)).body.payments[0].voidedAt).toBeNull();
  });

  it("refuses to void a payment recorded from QuickBooks: it follows QuickBooks", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("100.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "100.00", webhook: false });
    const synced = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);
    const qboPayment = synced.body.payments[0];
    expect(qboPayment.source).toBe("qbo");

    const res = await call("POST", `${poPath(slug, reference)}/payments/${qboPayment.id}/void`, {
      reason: "no",
    });

    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("invalid_state");
    expect((await call("GET", poPath(slug, reference))).body).toMatchObject({
      status: "paid",
      totalPaid: "100.00",
    });
  });

  it("leaves reconciliation's sums: a voided manual payment no longer hides what QuickBooks received", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("100.00", UNTAXED);
    const path = poPath(slug, reference);
    const manual = (await call("POST", `${path}/payments`, wire("100.00"))).body.payments[0].id;
    await emulator().recordPayment(realmId, invoiceId, { amount: "100.00", webhook: false });
    await call("POST", `${path}/payments/${manual}/void`, { reason: "The wire was the QBO payment" });

    const synced = await call("POST", `${path}/qbo-invoice/sync`);

    expect(synced.status, JSON.stringify(synced.body)).toBe(200);
    expect(synced.body).toMatchObject({ status: "paid", totalPaid: "100.00", balanceDue: "0.00" });
    expect(synced.body.payments.filter((p: any) => p.voidedAt === null)).toMatchObject([
      { source: "qbo", amount: "100.00" },
    ]);
  });
});

describe("voiding a credit note", () => {
  it("keeps the row with its reason, removes it from the totals and recomputes the status", async () => {
    const { path } = await poOf("100.00");
    const credited = await call("POST", `${path}/credit-notes`, { amount: "100.00", reason: "Comped" });
    expect(credited.body.status).toBe("paid");

    const res = await call("POST", `${path}/credit-notes/${credited.body.creditNotes[0].id}/void`, {
      reason: "Comp withdrawn",
    });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "sent", totalCredited: "0.00", balanceDue: "100.00" });
    expect(res.body.creditNotes[0]).toMatchObject({ amount: "100.00", voidReason: "Comp withdrawn" });
    const again = await call("POST", `${path}/credit-notes/${credited.body.creditNotes[0].id}/void`, {
      reason: "again",
    });
    expect(again.status).toBe(409);
  });
});
