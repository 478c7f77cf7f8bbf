/** Money on the wire: exact decimal strings out, strings or numbers with at most two places in. */
import { describe, expect, it } from "vitest";
import { call, createConference, createPo, expectError, paths, poBody } from "../helpers";

const MONEY = /^-?\d+\.\d{2}$/;

const line = (unitPrice: unknown, quantity: unknown = 1) => ({ description: "Item", quantity, unitPrice });
const pay = (slug: string, ref: string, amount: unknown) =>
  call("POST", paths.payments(slug, ref), { amount, method: "wire", paymentDate: "2026-03-01" });

describe("exact arithmetic", () => {
  it('multiplies "0.10" by 3 to exactly "0.30"', async () => {
    const slug = await createConference();

    const po = await createPo(slug, { lineItems: [line("0.10", 3)] });

    expect(po.lineItems[0]).toMatchObject({ unitPrice: "0.10", lineTotal: "0.30" });
    expect(po.total).toBe("0.30");
  });

  it("adds lines that drift in floating point (0.1 + 0.2) to exactly 0.30", async () => {
    const slug = await createConference();

    const po = await createPo(slug, { lineItems: [line("0.10"), line("0.20")] });

    expect(po.total).toBe("0.30");
  });

  it('settles a "0.30" PO exactly with three payments of "0.10"', async () => {
    const slug = await createConference();
    const po = await createPo(slug, { lineItems: [line("0.10", 3)] });

    const first = await pay(slug, po.reference, "0.10");
    const second = await pay(slug, po.reference, "0.10");
    const third = await pay(slug, po.reference, "0.10");

    expect(first.body).toMatchObject({ status: "partially_paid", balanceDue: "0.20" });
    expect(second.body).toMatchObject({ status: "partially_paid", balanceDue: "0.10" });
    expect(third.status).toBe(201);
    expect(third.body).toMatchObject({ status: "paid", totalPaid: "0.30", balanceDue: "0.00" });
  });

  it("renders every amount with exactly two places", async () => {
    const slug = await createConference();
    const po = await createPo(slug, { lineItems: [line("7", 2), line("0.5")] });

    const res = await pay(slug, po.reference, "1");

    for (const v of [
      res.body.subtotal,
      res.body.total,
      res.body.totalPaid,
      res.body.totalCredited,
      res.body.balanceDue,
    ])
      expect(v).toMatch(MONEY);
    expect(res.body).toMatchObject({ total: "14.50", totalPaid: "1.00", balanceDue: "13.50" });
    expect(res.body.lineItems.map((l: any) => [l.unitPrice, l.lineTotal])).toEqual([
      ["7.00", "14.00"],
      ["0.50", "0.50"],
    ]);
  });
});

describe("accepted amounts", () => {
  it.each([
    [12.5, "12.50"],
    [7, "7.00"],
    [0.1, "0.10"],
    [4.35, "4.35"],
    [1234.56, "1234.56"],
    ["7", "7.00"],
    ["7.5", "7.50"],
    ["0.01", "0.01"],
    ["0", "0.00"],
    [0, "0.00"],
  ])("accepts the unit price %j as %s", async (unitPrice, expected) => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), poBody({ lineItems: [line(unitPrice)] }));

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.lineItems[0].unitPrice).toBe(expected);
    expect(res.body.total).toBe(expected);
  });

  it.each([
    [12.5, "12.50"],
    [0.01, "0.01"],
    ["99.9", "99.90"],
  ])("accepts the payment amount %j as %s", async (amount, expected) => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await pay(slug, po.reference, amount);

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.payments[0].amount).toBe(expected);
    expect(res.body.totalPaid).toBe(expected);
  });

  it("accepts a numeric credit note amount", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.creditNotes(slug, po.reference), {
      amount: 0.3,
      reason: "x",
    });

    expect(res.status).toBe(201);
    expect(res.body.creditNotes[0].amount).toBe("0.30");
  });
});

describe("rejected amounts", () => {
  it.each([
    ["1.234"],
    [1.234],
    ["-1.00"],
    [-1],
    ["abc"],
    [""],
    [" "],
    ["1,000.00"],
    ["1e3"],
    [1e21],
    ["Infinity"],
    ["0x10"],
    ["12."],
    [".5"],
    ["+5"],
    [null],
    [true],
    [{}],
    [["1.00"]],
  ])("rejects the unit price %j with validation_failed on lineItems.0.unitPrice", async (unitPrice) => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), poBody({ lineItems: [line(unitPrice)] }));
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toContainEqual({
      path: "lineItems.0.unitPrice",
      message: expect.any(String),
    });
    expect(list.body.items).toEqual([]);
  });

  it.each([[0], [1.5], ["2"], [-1], [null], [1_000_001], [Number.MAX_SAFE_INTEGER]])(
    "rejects the quantity %j with validation_failed on lineItems.0.quantity",
    async (quantity) => {
      const slug = await createConference();

      const res = await call("POST", paths.pos(slug), poBody({ lineItems: [line("1.00", quantity)] }));

      expectError(res, 400, "validation_failed");
      expect(res.body.error.details).toContainEqual({
        path: "lineItems.0.quantity",
        message: expect.any(String),
      });
    },
  );

  it.each([[0], ["0"], ["0.00"], [-5], ["-0.01"], ["0.001"], [0.001], ["abc"], [""]])(
    "rejects the payment amount %j with validation_failed on amount, recording nothing",
    async (amount) => {
      const slug = await createConference();
      const po = await createPo(slug);

      const res = await pay(slug, po.reference, amount);
      const after = await call("GET", paths.po(slug, po.reference));

      expectError(res, 400, "validation_failed");
      expect(res.body.error.details).toEqual([{ path: "amount", message: expect.any(String) }]);
      expect(after.body).toMatchObject({ payments: [], totalPaid: "0.00", status: "draft" });
    },
  );

  it.each([[0], ["0.00"], [-1]])("rejects the credit note amount %j", async (amount) => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.creditNotes(slug, po.reference), { amount, reason: "x" });

    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: "amount", message: expect.any(String) }]);
  });
});

describe("very large amounts", () => {
  it("computes a large total exactly: 9999999999.99 × 1000 = 9999999999990.00", async () => {
    const slug = await createConference();

    const po = await createPo(slug, { lineItems: [line("9999999999.99", 1000)] });

    expect(po.lineItems[0].lineTotal).toBe("9999999999990.00");
    expect(po.total).toBe("9999999999990.00");
    expect(po.balanceDue).toBe("9999999999990.00");
  });

  it("accepts exactly the maximum amount, 10000000000000.00", async () => {
    const slug = await createConference();

    const po = await createPo(slug, { lineItems: [line("10000000000000.00")] });

    expect(po.total).toBe("10000000000000.00");
  });

  it("pays a very large PO exactly to the cent", async () => {
    const slug = await createConference();
    const po = await createPo(slug, { lineItems: [line("9999999999999.99")] });

    const partial = await pay(slug, po.reference, "9999999999999.98");
    const last = await pay(slug, po.reference, "0.01");

    expect(partial.body).toMatchObject({ status: "partially_paid", balanceDue: "0.01" });
    expect(last.body).toMatchObject({ status: "paid", totalPaid: "9999999999999.99", balanceDue: "0.00" });
  });

  it.each([
    ["a unit price over the maximum", [line("10000000000000.01")], "lineItems.0.unitPrice"],
    ["a 16-digit unit price", [line("9999999999999999")], "lineItems.0.unitPrice"],
    ["a 99999999999.99 × 1000 line", [line("99999999999.99", 1000)], "lineItems.0"],
    ["a line product over the maximum", [line("9999999999.99", 1001)], "lineItems.0"],
    [
      "lines each under the maximum but summing over it",
      [line("6000000000000.00"), line("6000000000000.00")],
      "lineItems",
    ],
  ])("rejects %s with 400 validation_failed, not 500", async (_, lineItems, path) => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), poBody({ lineItems }));
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toContainEqual({ path, message: expect.any(String) });
    expect(list.body.items).toEqual([]);
  });

  it("rejects a payment over the maximum with 400", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await pay(slug, po.reference, "10000000000000.01");

    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: "amount", message: expect.any(String) }]);
  });

  it("keeps totals exact when many maximal payments overpay far beyond 2^53 cents", async () => {
    const slug = await createConference();
    const po = await createPo(slug, { lineItems: [line("0.01")] });

    let last = await pay(slug, po.reference, "9999999999999.99");
    for (let i = 1; i < 11; i++) last = await pay(slug, po.reference, "9999999999999.99");

    // 11 × 999999999999999 cents = 10999999999999989 cents, an odd number above 2^53.
    expect(last.status).toBe(201);
    expect(last.body).toMatchObject({
      status: "overpaid",
      totalPaid: "109999999999999.89",
      balanceDue: "-109999999999999.88",
    });
  });
});
