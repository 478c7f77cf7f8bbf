/**
 * Property: whatever JSON a client sends to the write routes, the Worker never answers 5xx, and
 * every 4xx carries SPEC §3's error body. Bodies are arbitrary JSON values and valid bodies with
 * one field replaced, removed or added.
 */
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import { call, createConference, createPo, paths, poBody } from "../helpers";

const NUM_RUNS = 150;
const ERROR_CODES = [
  "unauthorized",
  "not_found",
  "invalid_json",
  "validation_failed",
  "invalid_state",
  "qbo_invoice_exists",
  "qbo_invoice_in_progress",
  "qbo_not_configured",
  "qbo_reconnect_required",
];

type Json = unknown;

/** Strings that have broken JSON APIs before: NULs, lone surrogates, huge, numeric-looking, SQL. */
const nastyString = fc.oneof(
  fc.string(),
  fc.string({ unit: "binary" }),
  fc.constantFrom(
    "",
    " ",
    "\u0000",
    "\ud800",
    "\udfff abc",
    "💸",
    "1e309",
    "-0",
    "NaN",
    "9".repeat(400),
    "x".repeat(10_000),
    "'; DROP TABLE payments; --",
    "__proto__",
    "2026-02-29",
    "0000-00-00",
  ),
);

const nastyNumber = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.integer(),
  fc.constantFrom(0, -0, 0.1, 1e21, -1e21, Number.MAX_SAFE_INTEGER, Number.MAX_VALUE, 5e-324, 1.005),
);

const leaf: fc.Arbitrary<Json> = fc.oneof(
  nastyString,
  nastyNumber,
  fc.boolean(),
  fc.constant(null),
  fc.constant([]),
  fc.constant({}),
);

/** A valid body with one top-level or nested field replaced, removed or added. */
function mutated(valid: Record<string, unknown>, nested: string[] = []): fc.Arbitrary<Json> {
  const keys = [...Object.keys(valid), ...nested, "unexpected"];
  const replacement = fc.oneof(leaf, fc.anything({ maxDepth: 2 }));
  return fc
    .record({ key: fc.constantFrom(...keys), value: replacement, remove: fc.boolean() })
    .map(({ key, value, remove }) => {
      const body: any = structuredClone(valid);
      const [head, ...rest] = key.split(".");
      if (rest.length === 0) {
        if (remove) delete body[head!];
        else body[head!] = value;
        return body;
      }
      let target = body;
      for (const part of [head!, ...rest.slice(0, -1)]) target = target[part];
      const last = rest.at(-1)!;
      if (remove) delete target[last];
      else target[last] = value;
      return body;
    });
}

/** Arbitrary JSON values, objects of junk, and mutations of a valid body. */
function bodies(valid: Record<string, unknown>, nested: string[] = []): fc.Arbitrary<Json> {
  return fc.oneof(
    { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
    { weight: 1, arbitrary: fc.object({ maxDepth: 2 }) },
    { weight: 1, arbitrary: fc.dictionary(fc.constantFrom(...Object.keys(valid)), leaf) },
    { weight: 4, arbitrary: mutated(valid, nested) },
  );
}

/** JSON.stringify, turning values it cannot represent (undefined, -0) into what a client would send. */
function encode(value: Json): string {
  return JSON.stringify(value) ?? "null";
}

function expectWellFormed(res: { status: number; body: any; headers: Headers }, sent: string) {
  const context = `sent ${sent.slice(0, 500)} → ${res.status} ${JSON.stringify(res.body).slice(0, 500)}`;
  expect(res.status, context).toBeLessThan(500);
  expect(res.headers.get("x-request-id"), context).toBeTruthy();
  if (res.status >= 400) {
    expect(res.body, context).toEqual({
      error: expect.objectContaining({ code: expect.any(String), message: expect.any(String) }),
    });
    expect(ERROR_CODES, context).toContain(res.body.error.code);
    expect(
      Object.keys(res.body.error).every((k) => ["code", "message", "details"].includes(k)),
      context,
    ).toBe(true);
    if (res.body.error.code === "validation_failed" && res.body.error.details !== undefined) {
      expect(res.body.error.details, context).toEqual(
        expect.arrayContaining([{ path: expect.any(String), message: expect.any(String) }]),
      );
      for (const d of res.body.error.details)
        expect(Object.keys(d).sort(), context).toEqual(["message", "path"]);
    }
  }
}

async function postAnything(
  method: string,
  path: string,
  arb: fc.Arbitrary<Json>,
  check?: (res: any) => void,
) {
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      const raw = encode(value);
      const res = await call(method, path, undefined, { rawBody: raw });
      expectWellFormed(res, raw);
      check?.(res);
    }),
    { numRuns: NUM_RUNS },
  );
}

describe("random request bodies never produce a 5xx", () => {
  let slug: string;
  let reference: string;

  beforeAll(async () => {
    slug = await createConference();
    reference = (await createPo(slug, { lineItems: [{ description: "x", quantity: 1, unitPrice: "1.00" }] }))
      .reference;
  });

  it("holds for create-PO bodies, and an accepted body is a draft PO", async () => {
    await postAnything(
      "POST",
      paths.pos(slug),
      bodies(poBody(), [
        "lineItems.0",
        "lineItems.0.quantity",
        "lineItems.0.unitPrice",
        "lineItems.0.description",
      ]),
      (res) => {
        if (res.status === 201) {
          expect(res.body.status).toBe("draft");
          expect(res.body.reference).toMatch(/^PO-[A-Z0-9]{6}$/);
          expect(res.body.total).toMatch(/^\d+\.\d{2}$/);
        } else expect(res.status).toBe(400);
      },
    );
  });

  it("holds for payment bodies, and an accepted payment is in the PO", async () => {
    await postAnything(
      "POST",
      paths.payments(slug, reference),
      bodies({ amount: "0.01", method: "wire", reference: "r", paymentDate: "2026-03-01", note: "n" }),
      (res) => {
        if (res.status === 201) expect(res.body.payments.length).toBeGreaterThan(0);
        else expect(res.status).toBe(400);
      },
    );
  });

  it("holds for credit-note bodies", async () => {
    await postAnything(
      "POST",
      paths.creditNotes(slug, reference),
      bodies({ amount: "0.01", reason: "Discount" }),
      (res) => expect([201, 400]).toContain(res.status),
    );
  });

  it("holds for PUT conference bodies", async () => {
    await postAnything(
      "PUT",
      paths.conference(slug),
      bodies(
        { name: "Conf", currency: "USD", qbo: { realmId: "123", environment: "sandbox", itemId: "1" } },
        ["qbo.realmId", "qbo.environment", "qbo.itemId"],
      ),
      (res) => expect([200, 400]).toContain(res.status),
    );
  });

  it("holds for cancel bodies on a fresh PO each time", async () => {
    await fc.assert(
      fc.asyncProperty(bodies({ voidQboInvoice: false }), async (value) => {
        const po = await createPo(slug);
        const raw = encode(value);
        const res = await call("POST", paths.cancel(slug, po.reference), undefined, {
          rawBody: raw,
        });
        expectWellFormed(res, raw);
        expect([200, 400]).toContain(res.status);
      }),
      { numRuns: 40 },
    );
  });

  it("holds for raw bytes that are mostly not JSON", async () => {
    const raw = fc.oneof(
      fc.string({ unit: "binary", maxLength: 200 }),
      fc.json().map((j) => j.slice(0, Math.max(0, j.length - 1))),
      fc.constantFrom("{", "[", '{"a":', "\u0000", "﻿{}", "{}{}", "NaN", "undefined", "'x'"),
    );
    await fc.assert(
      fc.asyncProperty(raw, async (text) => {
        const res = await call("POST", paths.pos(slug), undefined, {
          rawBody: text,
        });
        expectWellFormed(res, text);
        expect(res.status).toBe(400);
        expect(["invalid_json", "validation_failed"]).toContain(res.body.error.code);
      }),
      { numRuns: NUM_RUNS },
    );
  });

  it("holds for random query strings on the list route", async () => {
    const query = fc.record(
      {
        status: nastyString,
        qbo: nastyString,
        limit: fc.oneof(nastyString, nastyNumber.map(String)),
        cursor: fc.oneof(nastyString, fc.base64String()),
      },
      { requiredKeys: [] },
    );
    await fc.assert(
      fc.asyncProperty(query, async (q) => {
        const qs = new URLSearchParams(q as Record<string, string>).toString();
        const res = await call("GET", `/api/conferences/${slug}/purchase-orders?${qs}`);
        expectWellFormed(res, qs);
        expect([200, 400]).toContain(res.status);
      }),
      { numRuns: NUM_RUNS },
    );
  });
});
