/**
 * SPEC §3 "Status after any payment or credit note" (django-program's `update_po_status`), through
 * the API, and held to the pure rule in domain/po-status.ts.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { nextStatus } from "../../src/domain/po-status";
import { call, createConference, createPo, expectError, paths } from "../helpers";

/** Integer cents as the API's two-place decimal string, by integer arithmetic only. */
const fmt = (cents: number) =>
  `${cents < 0 ? "-" : ""}${Math.floor(Math.abs(cents) / 100)}.${String(Math.abs(cents) % 100).padStart(2, "0")}`;

async function pay(slug: string, ref: string, amount: string) {
  return call("POST", paths.payments(slug, ref), { amount, method: "wire", paymentDate: "2026-03-01" });
}

async function credit(slug: string, ref: string, amount: string) {
  return call("POST", paths.creditNotes(slug, ref), { amount, reason: "Adjustment" });
}

async function send(slug: string, ref: string) {
  const res = await call("POST", paths.send(slug, ref));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

/** A PO of 1000.00 in a fresh conference. */
async function thousandPo(sent = false) {
  const slug = await createConference();
  const po = await createPo(slug, {
    lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: "1000.00" }],
  });
  if (sent) await send(slug, po.reference);
  return { slug, ref: po.reference };
}

describe("status after a payment or a credit note", () => {
  it("moves a draft with a partial payment to partially_paid", async () => {
    const { slug, ref } = await thousandPo();

    const res = await pay(slug, ref, "400.00");

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: "partially_paid", totalPaid: "400.00", balanceDue: "600.00" });
  });

  it("moves a sent PO with a partial payment to partially_paid", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await pay(slug, ref, "0.01");

    expect(res.body).toMatchObject({ status: "partially_paid", balanceDue: "999.99" });
  });

  it("moves a sent PO paid in full to paid", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await pay(slug, ref, "1000.00");

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ status: "paid", totalPaid: "1000.00", balanceDue: "0.00" });
  });

  it("moves a draft paid in full straight to paid", async () => {
    const { slug, ref } = await thousandPo();

    const res = await pay(slug, ref, "1000.00");

    expect(res.body).toMatchObject({ status: "paid", balanceDue: "0.00" });
  });

  it("completes a partially paid PO to paid with a second payment", async () => {
    const { slug, ref } = await thousandPo(true);
    await pay(slug, ref, "250.00");

    const res = await pay(slug, ref, "750.00");

    expect(res.body).toMatchObject({ status: "paid", totalPaid: "1000.00", balanceDue: "0.00" });
    expect(res.body.payments.map((p: any) => p.amount)).toEqual(["250.00", "750.00"]);
  });

  it("marks an overpayment overpaid with a negative balance due", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await pay(slug, ref, "1000.50");

    expect(res.body).toMatchObject({ status: "overpaid", totalPaid: "1000.50", balanceDue: "-0.50" });
  });

  it("moves a paid PO to overpaid when another payment arrives", async () => {
    const { slug, ref } = await thousandPo(true);
    await pay(slug, ref, "1000.00");

    const res = await pay(slug, ref, "12.34");

    expect(res.body).toMatchObject({ status: "overpaid", balanceDue: "-12.34" });
  });

  it("marks a PO whose credit note covers the total paid, with nothing paid", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await credit(slug, ref, "1000.00");

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      status: "paid",
      totalPaid: "0.00",
      totalCredited: "1000.00",
      balanceDue: "0.00",
    });
  });

  it("marks a draft whose credit note covers the total paid", async () => {
    const { slug, ref } = await thousandPo();

    const res = await credit(slug, ref, "1000.00");

    expect(res.body).toMatchObject({ status: "paid", balanceDue: "0.00" });
  });

  it("marks a PO paid when a payment and a credit note together cover the total", async () => {
    const { slug, ref } = await thousandPo(true);
    const first = await pay(slug, ref, "800.00");

    const res = await credit(slug, ref, "200.00");

    expect(first.body.status).toBe("partially_paid");
    expect(res.body).toMatchObject({
      status: "paid",
      totalPaid: "800.00",
      totalCredited: "200.00",
      balanceDue: "0.00",
    });
  });

  it("keeps a draft in draft after a partial credit note, with no payment", async () => {
    const { slug, ref } = await thousandPo();

    const res = await credit(slug, ref, "100.00");

    expect(res.body).toMatchObject({ status: "draft", totalCredited: "100.00", balanceDue: "900.00" });
  });

  it("keeps a sent PO sent after a partial credit note, with no payment", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await credit(slug, ref, "100.00");

    expect(res.body).toMatchObject({ status: "sent", balanceDue: "900.00" });
  });

  it("marks a PO overpaid when credit notes exceed the total", async () => {
    const { slug, ref } = await thousandPo(true);

    const res = await credit(slug, ref, "1000.01");

    expect(res.body).toMatchObject({ status: "overpaid", totalPaid: "0.00", balanceDue: "-0.01" });
  });

  it("keeps a PO with a zero total in draft, and sends it to sent, while nothing is paid", async () => {
    const slug = await createConference();
    const po = await createPo(slug, {
      lineItems: [{ description: "Comp ticket", quantity: 2, unitPrice: "0.00" }],
    });

    const sent = await call("POST", paths.send(slug, po.reference));

    expect(po).toMatchObject({ status: "draft", total: "0.00", balanceDue: "0.00" });
    expect(sent.body).toMatchObject({ status: "sent", total: "0.00", balanceDue: "0.00" });
  });

  it("marks a payment on a zero-total PO overpaid", async () => {
    const slug = await createConference();
    const po = await createPo(slug, {
      lineItems: [{ description: "Comp ticket", quantity: 1, unitPrice: "0" }],
    });

    const res = await pay(slug, po.reference, "5.00");

    expect(res.body).toMatchObject({ status: "overpaid", balanceDue: "-5.00" });
  });

  it("keeps a cancelled PO cancelled: later payments and credits are refused and change nothing", async () => {
    const { slug, ref } = await thousandPo(true);
    await pay(slug, ref, "1000.00");
    const cancelled = await call("POST", paths.cancel(slug, ref));

    const payment = await pay(slug, ref, "5.00");
    const creditNote = await credit(slug, ref, "5.00");
    const after = await call("GET", paths.po(slug, ref));

    expect(cancelled.body).toMatchObject({ status: "cancelled", totalPaid: "1000.00", balanceDue: "0.00" });
    expectError(payment, 409, "invalid_state");
    expectError(creditNote, 409, "invalid_state");
    expect(after.body).toMatchObject({ status: "cancelled", totalPaid: "1000.00", totalCredited: "0.00" });
  });
});

describe("concurrent payments", () => {
  it("counts both of two payments posted at the same time", async () => {
    const { slug, ref } = await thousandPo(true);

    const results = await Promise.all([pay(slug, ref, "300.00"), pay(slug, ref, "700.00")]);
    const after = await call("GET", paths.po(slug, ref));

    expect(results.map((r) => r.status)).toEqual([201, 201]);
    expect(after.body).toMatchObject({ status: "paid", totalPaid: "1000.00", balanceDue: "0.00" });
    expect(after.body.payments.map((p: any) => p.amount).sort()).toEqual(["300.00", "700.00"]);
  });

  it("counts ten concurrent payments and credit notes exactly", async () => {
    const { slug, ref } = await thousandPo(true);

    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 ? pay(slug, ref, "100.00") : credit(slug, ref, "100.00"))),
    );
    const after = await call("GET", paths.po(slug, ref));

    expect(results.every((r) => r.status === 201)).toBe(true);
    expect(after.body).toMatchObject({
      status: "paid",
      totalPaid: "500.00",
      totalCredited: "500.00",
      balanceDue: "0.00",
    });
  });

  it("records no payment that races a cancellation after the cancellation lands", async () => {
    const { slug, ref } = await thousandPo(true);

    const [payment, cancel] = await Promise.all([
      pay(slug, ref, "10.00"),
      call("POST", paths.cancel(slug, ref)),
    ]);
    const after = await call("GET", paths.po(slug, ref));

    expect(cancel.status).toBe(200);
    expect(after.body.status).toBe("cancelled");
    if (payment.status === 201) expect(after.body.totalPaid).toBe("10.00");
    else {
      expect(payment.status).toBe(409);
      expect(after.body.totalPaid).toBe("0.00");
    }
  });
});

describe("the status rule as a whole", () => {
  it("matches domain nextStatus after every step of random payment and credit sequences", async () => {
    const slug = await createConference();
    const cents = fc.integer({ min: 1, max: 60_000 });
    const step = fc.record({ kind: fc.constantFrom("payment", "credit"), cents });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 100_000 }),
        fc.boolean(),
        fc.array(step, { minLength: 1, maxLength: 4 }),
        async (totalCents, sendFirst, steps) => {
          const po = await createPo(slug, {
            lineItems: [{ description: "x", quantity: 1, unitPrice: fmt(totalCents) }],
          });
          if (sendFirst) await send(slug, po.reference);
          let status: Parameters<typeof nextStatus>[0]["status"] = sendFirst ? "sent" : "draft";
          let paidCents = 0;
          let creditedCents = 0;
          for (const s of steps) {
            const amount = fmt(s.cents);
            const res =
              s.kind === "payment"
                ? await pay(slug, po.reference, amount)
                : await credit(slug, po.reference, amount);
            if (s.kind === "payment") paidCents += s.cents;
            else creditedCents += s.cents;
            status = nextStatus({ status, totalCents, paidCents, creditedCents });
            expect(res.status).toBe(201);
            expect(res.body.status).toBe(status);
            expect(res.body.balanceDue).toBe(fmt(totalCents - paidCents - creditedCents));
          }
        },
      ),
      { numRuns: 30 },
    );
  });

  it("is the table of SPEC §3 in its pure form", () => {
    const s = (status: any, totalCents: number, paidCents: number, creditedCents: number) =>
      nextStatus({ status, totalCents, paidCents, creditedCents });

    expect(s("cancelled", 100, 100, 0)).toBe("cancelled");
    expect(s("sent", 100, 100, 0)).toBe("paid");
    expect(s("draft", 100, 0, 100)).toBe("paid");
    expect(s("sent", 100, 60, 40)).toBe("paid");
    expect(s("sent", 100, 101, 0)).toBe("overpaid");
    expect(s("draft", 100, 0, 101)).toBe("overpaid");
    expect(s("draft", 100, 1, 0)).toBe("partially_paid");
    expect(s("paid", 100, 1, 0)).toBe("partially_paid");
    expect(s("draft", 100, 0, 1)).toBe("draft");
    expect(s("draft", 0, 0, 0)).toBe("draft");
    expect(s("sent", 0, 0, 0)).toBe("sent");
    expect(s("partially_paid", 100, 0, 50)).toBe("sent");
  });
});
