/** Purchase orders over HTTP: create, read, list and page, send, cancel, payments and credit notes. */
import { describe, expect, it } from "vitest";
import {
  call,
  createConference,
  createPo,
  expectError,
  type JsonResponse,
  paths,
  poBody,
  unique,
} from "../helpers";

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
const REFERENCE = /^PO-[A-Z0-9]{6}$/;

const payment = (amount: string | number = "100.00", extra: Record<string, unknown> = {}) => ({
  amount,
  method: "wire",
  paymentDate: "2026-03-01",
  ...extra,
});

describe("creating a purchase order", () => {
  it("creates the PO in draft with 201 and renders every field of SPEC §3", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), {
      organizationName: "Acme Corp",
      contactName: "Ada Lovelace",
      contactEmail: "ada@acme.test",
      billingAddress: "1 Main St\nSuite 2\nSpringfield",
      notes: "Net 30",
      lineItems: [{ description: "Gold sponsorship", quantity: 1, unitPrice: "1200.00" }],
    });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      reference: expect.stringMatching(REFERENCE),
      conference: slug,
      status: "draft",
      organizationName: "Acme Corp",
      contactName: "Ada Lovelace",
      contactEmail: "ada@acme.test",
      billingAddress: "1 Main St\nSuite 2\nSpringfield",
      notes: "Net 30",
      lineItems: [
        {
          id: expect.any(Number),
          description: "Gold sponsorship",
          quantity: 1,
          unitPrice: "1200.00",
          lineTotal: "1200.00",
        },
      ],
      subtotal: "1200.00",
      tax: "0.00",
      total: "1200.00",
      totalPaid: "0.00",
      totalCredited: "0.00",
      balanceDue: "1200.00",
      payments: [],
      creditNotes: [],
      qbo: null,
      createdAt: expect.stringMatching(ISO_INSTANT),
      updatedAt: expect.stringMatching(ISO_INSTANT),
    });
  });

  it("computes line totals, subtotal and total over several lines, keeping the lines in order", async () => {
    const slug = await createConference();

    const po = await createPo(slug, {
      lineItems: [
        { description: "Booth", quantity: 2, unitPrice: "1234.56" },
        { description: "Badges", quantity: 15, unitPrice: "99.99" },
        { description: "Free lunch", quantity: 3, unitPrice: "0" },
        { description: "Lanyards", quantity: 1000, unitPrice: "0.01" },
      ],
    });

    expect(po.lineItems.map((l: any) => [l.description, l.quantity, l.unitPrice, l.lineTotal])).toEqual([
      ["Booth", 2, "1234.56", "2469.12"],
      ["Badges", 15, "99.99", "1499.85"],
      ["Free lunch", 3, "0.00", "0.00"],
      ["Lanyards", 1000, "0.01", "10.00"],
    ]);
    expect(po.subtotal).toBe("3978.97");
    expect(po.total).toBe("3978.97");
    expect(po.balanceDue).toBe("3978.97");
  });

  it("defaults billingAddress and notes to empty strings", async () => {
    const slug = await createConference();
    const { billingAddress: _omit, ...body } = poBody();

    const res = await call("POST", paths.pos(slug), body);

    expect(res.status).toBe(201);
    expect(res.body.billingAddress).toBe("");
    expect(res.body.notes).toBe("");
  });

  it("accepts the maximum of 250 lines and stores them all", async () => {
    const slug = await createConference();
    const lineItems = Array.from({ length: 250 }, (_, i) => ({
      description: `Line ${i}`,
      quantity: i + 1,
      unitPrice: "1.01",
    }));

    const po = await createPo(slug, { lineItems });

    expect(po.lineItems).toHaveLength(250);
    expect(po.lineItems.at(-1)).toMatchObject({
      description: "Line 249",
      quantity: 250,
      lineTotal: "252.50",
    });
    // Σ (i+1) × 1.01 for i < 250 = 31375 × 1.01
    expect(po.total).toBe("31688.75");
  });

  it("gives every PO its own reference", async () => {
    const slug = await createConference();

    const refs = await Promise.all(Array.from({ length: 20 }, () => createPo(slug).then((p) => p.reference)));

    expect(new Set(refs).size).toBe(20);
    for (const ref of refs) expect(ref).toMatch(REFERENCE);
  });

  it("answers 404 not_found for an unknown conference and creates nothing", async () => {
    const slug = unique("ghost");

    const res = await call("POST", paths.pos(slug), poBody());

    expectError(res, 404, "not_found");
  });

  it.each([
    ["no lines", { lineItems: [] }, "lineItems"],
    ["a bad email", { contactEmail: "not-an-email" }, "contactEmail"],
    ["a blank organization", { organizationName: "  " }, "organizationName"],
    ["a missing contact name", { contactName: undefined }, "contactName"],
    [
      "a line without description",
      { lineItems: [{ quantity: 1, unitPrice: "1.00" }] },
      "lineItems.0.description",
    ],
    [
      "a bad quantity on the second line",
      {
        lineItems: [
          { description: "ok", quantity: 1, unitPrice: "1.00" },
          { description: "bad", quantity: -1, unitPrice: "1.00" },
        ],
      },
      "lineItems.1.quantity",
    ],
    [
      "251 lines",
      { lineItems: Array(251).fill({ description: "x", quantity: 1, unitPrice: "1" }) },
      "lineItems",
    ],
  ])("rejects %s with validation_failed naming the field, creating nothing", async (_, overrides, field) => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), poBody(overrides));
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toContainEqual({ path: field, message: expect.any(String) });
    expect(list.body.items).toEqual([]);
  });
});

describe("reading purchase orders", () => {
  it("returns the PO exactly as it was created", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("GET", paths.po(slug, po.reference));

    expect(res.status).toBe(200);
    expect(res.body).toEqual(po);
  });

  it("answers 404 not_found for a well-formed reference that does not exist", async () => {
    const slug = await createConference();

    const res = await call("GET", paths.po(slug, "PO-ZZZZZZ"));

    expectError(res, 404, "not_found");
  });

  it("answers a malformed reference with a 4xx error body", async () => {
    const slug = await createConference();

    const res = await call("GET", paths.po(slug, "po-abc"));

    expect([400, 404]).toContain(res.status);
    expect(res.body.error.code).toMatch(/^(validation_failed|not_found)$/);
  });
});

describe("listing purchase orders", () => {
  it("lists the conference's POs newest first, with nextCursor null on a single page", async () => {
    const slug = await createConference();
    const a = await createPo(slug, { organizationName: "First" });
    const b = await createPo(slug, { organizationName: "Second" });

    const res = await call("GET", paths.pos(slug));

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ items: [b, a], nextCursor: null });
  });

  it("pages through 5 POs 2 at a time: 3 pages, no duplicates, nextCursor null at the end", async () => {
    const slug = await createConference();
    const created: string[] = [];
    for (let i = 0; i < 5; i++) created.push((await createPo(slug)).reference);

    const pages: string[][] = [];
    let cursor: string | null = null;
    do {
      const res: JsonResponse = await call("GET", paths.pos(slug, { limit: 2, cursor: cursor ?? undefined }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      pages.push(res.body.items.map((p: any) => p.reference));
      cursor = res.body.nextCursor;
      expect(pages.length).toBeLessThanOrEqual(3);
    } while (cursor !== null);

    expect(pages.map((p) => p.length)).toEqual([2, 2, 1]);
    expect(pages.flat()).toEqual([...created].reverse());
  });

  it("returns nextCursor null when the last page is exactly full", async () => {
    const slug = await createConference();
    for (let i = 0; i < 4; i++) await createPo(slug);

    const first = await call("GET", paths.pos(slug, { limit: 2 }));
    const second = await call("GET", paths.pos(slug, { limit: 2, cursor: first.body.nextCursor }));

    expect(first.body.nextCursor).toEqual(expect.any(String));
    expect(second.status).toBe(200);
    expect(second.body.items).toHaveLength(2);
    expect(second.body.nextCursor).toBeNull();
  });

  it("filters by status", async () => {
    const slug = await createConference();
    const draft = await createPo(slug);
    const sent = await createPo(slug);
    await call("POST", paths.send(slug, sent.reference));
    const cancelled = await createPo(slug);
    await call("POST", paths.cancel(slug, cancelled.reference));

    const drafts = await call("GET", paths.pos(slug, { status: "draft" }));
    const sents = await call("GET", paths.pos(slug, { status: "sent" }));
    const cancels = await call("GET", paths.pos(slug, { status: "cancelled" }));
    const paid = await call("GET", paths.pos(slug, { status: "paid" }));

    expect(drafts.body.items.map((p: any) => p.reference)).toEqual([draft.reference]);
    expect(sents.body.items.map((p: any) => [p.reference, p.status])).toEqual([[sent.reference, "sent"]]);
    expect(cancels.body.items.map((p: any) => p.reference)).toEqual([cancelled.reference]);
    expect(paid.body).toEqual({ items: [], nextCursor: null });
  });

  it("pages within a status filter", async () => {
    const slug = await createConference();
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) {
      const po = await createPo(slug);
      await createPo(slug); // a draft between each sent PO
      await call("POST", paths.send(slug, po.reference));
      sent.push(po.reference);
    }

    const first = await call("GET", paths.pos(slug, { status: "sent", limit: 2 }));
    const second = await call(
      "GET",
      paths.pos(slug, { status: "sent", limit: 2, cursor: first.body.nextCursor }),
    );

    expect([...first.body.items, ...second.body.items].map((p: any) => p.reference)).toEqual(sent.reverse());
    expect(second.body.nextCursor).toBeNull();
  });

  it("never lists another conference's POs", async () => {
    const mine = await createConference();
    const theirs = await createConference();
    const own = await createPo(mine);
    await createPo(theirs);

    const res = await call("GET", paths.pos(mine));

    expect(res.body.items.map((p: any) => p.reference)).toEqual([own.reference]);
  });

  it("lists the POs without QBO invoices as neither outstanding nor discrepant", async () => {
    const slug = await createConference();
    await createPo(slug);

    const outstanding = await call("GET", paths.pos(slug, { qbo: "outstanding" }));
    const discrepancy = await call("GET", paths.pos(slug, { qbo: "discrepancy" }));

    expect(outstanding.body).toEqual({ items: [], nextCursor: null });
    expect(discrepancy.body).toEqual({ items: [], nextCursor: null });
  });

  it("answers an unknown status with 400 validation_failed on the status field", async () => {
    const slug = await createConference();

    const res = await call("GET", paths.pos(slug, { status: "shipped" }));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "status", message: expect.any(String) }]);
  });

  it.each([["not-a-cursor"], ["%%%"], [btoa("po:abc")], [btoa("id:12")], ["x".repeat(65)]])(
    "answers the cursor %j with 400 validation_failed",
    async (cursor) => {
      const slug = await createConference();

      const res = await call("GET", paths.pos(slug, { cursor }));

      expectError(res, 400, "validation_failed");
      expect(res.body.error.details).toEqual([{ path: "cursor", message: expect.any(String) }]);
    },
  );

  it.each([["0"], ["101"], ["abc"], ["1.5"], ["-1"]])(
    "answers limit=%s with 400 validation_failed",
    async (limit) => {
      const slug = await createConference();

      const res = await call("GET", paths.pos(slug, { limit }));

      expectError(res, 400, "validation_failed");
      expect(res.body.error.details).toEqual([{ path: "limit", message: expect.any(String) }]);
    },
  );

  it("answers 404 not_found for the POs of an unknown conference", async () => {
    const res = await call("GET", paths.pos(unique("ghost")));

    expectError(res, 404, "not_found");
  });
});

describe("a PO asked for under another conference", () => {
  it("is not found on read, send, cancel, payment or credit note, and is left untouched", async () => {
    const owner = await createConference();
    const other = await createConference();
    const po = await createPo(owner);

    const responses = await Promise.all([
      call("GET", paths.po(other, po.reference)),
      call("POST", paths.send(other, po.reference)),
      call("POST", paths.cancel(other, po.reference)),
      call("POST", paths.payments(other, po.reference), payment("1200.00")),
      call("POST", paths.creditNotes(other, po.reference), { amount: "1.00", reason: "x" }),
    ]);
    const after = await call("GET", paths.po(owner, po.reference));

    for (const res of responses) expectError(res, 404, "not_found");
    expect(after.body).toEqual(po);
  });

  it("is not found under a conference that does not exist", async () => {
    const owner = await createConference();
    const po = await createPo(owner);

    const res = await call("GET", paths.po(unique("ghost"), po.reference));

    expectError(res, 404, "not_found");
  });
});

describe("sending a purchase order", () => {
  it("moves a draft to sent with 200", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.send(slug, po.reference));

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ reference: po.reference, status: "sent", balanceDue: "1200.00" });
  });

  it("answers 409 invalid_state when the PO was already sent, and stays sent", async () => {
    const slug = await createConference();
    const po = await createPo(slug);
    await call("POST", paths.send(slug, po.reference));

    const res = await call("POST", paths.send(slug, po.reference));
    const after = await call("GET", paths.po(slug, po.reference));

    expectError(res, 409, "invalid_state");
    expect(after.body.status).toBe("sent");
  });

  it("answers 409 invalid_state for a cancelled or partially paid PO", async () => {
    const slug = await createConference();
    const cancelled = await createPo(slug);
    await call("POST", paths.cancel(slug, cancelled.reference));
    const partial = await createPo(slug);
    await call("POST", paths.payments(slug, partial.reference), payment("1.00"));

    const a = await call("POST", paths.send(slug, cancelled.reference));
    const b = await call("POST", paths.send(slug, partial.reference));

    expectError(a, 409, "invalid_state");
    expectError(b, 409, "invalid_state");
    expect((await call("GET", paths.po(slug, partial.reference))).body.status).toBe("partially_paid");
  });

  it("lets exactly one of two concurrent sends succeed", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const results = await Promise.all([
      call("POST", paths.send(slug, po.reference)),
      call("POST", paths.send(slug, po.reference)),
    ]);

    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
  });
});

describe("cancelling a purchase order", () => {
  it("cancels with 200 and keeps its payments and credit notes", async () => {
    const slug = await createConference();
    const po = await createPo(slug);
    await call("POST", paths.payments(slug, po.reference), payment("200.00"));
    await call("POST", paths.creditNotes(slug, po.reference), { amount: "50.00", reason: "Discount" });

    const res = await call("POST", paths.cancel(slug, po.reference), {});

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      status: "cancelled",
      totalPaid: "200.00",
      totalCredited: "50.00",
      balanceDue: "950.00",
    });
    expect(res.body.payments).toHaveLength(1);
    expect(res.body.creditNotes).toHaveLength(1);
  });

  it("cancels with no body at all", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.cancel(slug, po.reference));

    expect(res.status).toBe(200);
    expect(res.body.status).toBe("cancelled");
  });

  it("cancels a PO without a QBO invoice even when asked to void it", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.cancel(slug, po.reference), { voidQboInvoice: true });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", qbo: null });
  });

  it("answers 409 invalid_state when cancelling twice", async () => {
    const slug = await createConference();
    const po = await createPo(slug);
    await call("POST", paths.cancel(slug, po.reference));

    const res = await call("POST", paths.cancel(slug, po.reference));

    expectError(res, 409, "invalid_state");
  });

  it("rejects a voidQboInvoice that is not a boolean, leaving the PO as it was", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.cancel(slug, po.reference), { voidQboInvoice: "yes" });
    const after = await call("GET", paths.po(slug, po.reference));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "voidQboInvoice", message: expect.any(String) }]);
    expect(after.body.status).toBe("draft");
  });

  it("answers 409 invalid_state to payments and credit notes on a cancelled PO and records nothing", async () => {
    const slug = await createConference();
    const po = await createPo(slug);
    await call("POST", paths.cancel(slug, po.reference));

    const pay = await call("POST", paths.payments(slug, po.reference), payment("10.00"));
    const credit = await call("POST", paths.creditNotes(slug, po.reference), {
      amount: "10.00",
      reason: "Late",
    });
    const after = await call("GET", paths.po(slug, po.reference));

    expectError(pay, 409, "invalid_state");
    expectError(credit, 409, "invalid_state");
    expect(after.body).toMatchObject({
      status: "cancelled",
      payments: [],
      creditNotes: [],
      totalPaid: "0.00",
    });
  });
});

describe("recording payments and credit notes", () => {
  it("records a payment with 201, rendering every field and defaulting reference and note", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.payments(slug, po.reference), {
      amount: "300.00",
      method: "check",
      paymentDate: "2026-02-28",
    });

    expect(res.status).toBe(201);
    expect(res.body.payments).toEqual([
      {
        id: expect.any(Number),
        amount: "300.00",
        method: "check",
        reference: "",
        paymentDate: "2026-02-28",
        note: "",
        source: "manual",
        createdAt: expect.stringMatching(ISO_INSTANT),
        voidedAt: null,
        voidReason: null,
        qbo: null,
      },
    ]);
    expect(res.body).toMatchObject({ totalPaid: "300.00", balanceDue: "900.00" });
  });

  it("keeps the reference and note given with a payment", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call(
      "POST",
      paths.payments(slug, po.reference),
      payment("1.00", { method: "ach", reference: "WIRE-7731", note: "First instalment" }),
    );

    expect(res.status).toBe(201);
    expect(res.body.payments[0]).toMatchObject({
      method: "ach",
      reference: "WIRE-7731",
      note: "First instalment",
    });
  });

  it.each(["wire", "ach", "check", "stripe", "other"])("accepts the payment method %s", async (method) => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.payments(slug, po.reference), payment("1.00", { method }));

    expect(res.status).toBe(201);
    expect(res.body.payments[0].method).toBe(method);
  });

  it.each([
    ["an unknown method", { method: "cash" }, "method"],
    ["an impossible date", { paymentDate: "2026-02-30" }, "paymentDate"],
    ["a date with a time", { paymentDate: "2026-03-01T10:00:00Z" }, "paymentDate"],
    ["no date", { paymentDate: undefined }, "paymentDate"],
    ["no amount", { amount: undefined }, "amount"],
  ])("rejects a payment with %s, recording nothing", async (_, overrides, field) => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.payments(slug, po.reference), { ...payment(), ...overrides });
    const after = await call("GET", paths.po(slug, po.reference));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toContainEqual({ path: field, message: expect.any(String) });
    expect(after.body.payments).toEqual([]);
  });

  it("records a credit note with 201 and its reason", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.creditNotes(slug, po.reference), {
      amount: "200.00",
      reason: "Sponsor downgraded",
    });

    expect(res.status).toBe(201);
    expect(res.body.creditNotes).toEqual([
      {
        id: expect.any(Number),
        amount: "200.00",
        reason: "Sponsor downgraded",
        source: "manual",
        createdAt: expect.stringMatching(ISO_INSTANT),
        voidedAt: null,
        voidReason: null,
        qbo: null,
      },
    ]);
    expect(res.body).toMatchObject({ totalCredited: "200.00", totalPaid: "0.00", balanceDue: "1000.00" });
  });

  it("rejects a credit note without a reason, recording nothing", async () => {
    const slug = await createConference();
    const po = await createPo(slug);

    const res = await call("POST", paths.creditNotes(slug, po.reference), {
      amount: "1.00",
      reason: " ",
    });
    const after = await call("GET", paths.po(slug, po.reference));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "reason", message: expect.any(String) }]);
    expect(after.body.creditNotes).toEqual([]);
  });

  it("answers 404 for a payment on an unknown reference", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.payments(slug, "PO-AAAAAA"), payment());

    expectError(res, 404, "not_found");
  });
});
