import { describe, expect, it } from "vitest";
import {
  call,
  connectedConference,
  createConference,
  createPo,
  emulator,
  expectError,
  paths,
  UNTAXED,
  unique,
} from "../helpers";

async function realmStats(realmId: string) {
  return emulator().stats(realmId);
}

describe("creating the QuickBooks invoice of a PO", () => {
  it("creates the customer and the invoice, exact to the cent, and moves a draft to sent", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug, {
      organizationName: unique("Globex"),
      billingAddress: "1 Main St\nSuite 2\nSpringfield\nIL 62701\nUSA\nPlanet Earth",
      lineItems: [
        { description: "Silver sponsorship", quantity: 3, unitPrice: "0.10" },
        { description: "Booth", quantity: 2, unitPrice: "1234.56" },
      ],
    });

    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.status).toBe("sent");
    expect(res.body.qbo).toMatchObject({
      invoiceUrl: `https://app.qbo.intuit.com/app/invoice?txnId=${res.body.qbo.invoiceId}&companyId=${realmId}`,
      totalAmt: "2469.42",
      balance: "2469.42",
      discrepancy: null,
    });
    // No QuickBooks Payments on a default company: no link, and that is fine (real-companies tests the link).
    expect(res.body.qbo.paymentLink).toBeNull();
    const customers: any[] = (await emulator().customers(realmId)).customers;
    expect(customers).toHaveLength(1);
    expect(customers[0]).toMatchObject({
      DisplayName: po.organizationName,
      PrimaryEmailAddr: { Address: "ada@acme.test" },
      BillAddr: {
        Line1: "1 Main St",
        Line2: "Suite 2",
        Line3: "Springfield",
        Line4: "IL 62701",
        Line5: "USA, Planet Earth",
      },
    });
    const invoices: any[] = (await emulator().invoices(realmId)).invoices;
    expect(invoices).toHaveLength(1);
    expect(invoices[0]).toMatchObject({
      TotalAmt: 2469.42,
      CustomerRef: { value: customers[0].Id },
      CustomerMemo: { value: `Purchase Order ${po.reference}` },
      BillEmail: { Address: "ada@acme.test" },
    });
    expect(
      invoices[0].Line.filter((l: any) => l.DetailType === "SalesItemLineDetail").map((l: any) => [
        l.Amount,
        l.SalesItemLineDetail.Qty,
        l.SalesItemLineDetail.UnitPrice,
      ]),
    ).toEqual([
      [0.3, 3, 0.1],
      [2469.12, 2, 1234.56],
    ]);
    const stats = await realmStats(realmId);
    expect(stats.requests.byOperation["query:Customer"]).toBe(1);
    expect(stats.requests.byOperation["create:customer"]).toBe(1);
    expect(stats.requests.byOperation["create:invoice"]).toBe(1);
    expect(stats.lastMinorVersion).toBe("75");
  });

  it("uses an existing QBO customer, and remembers it so the next PO costs no look-up", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const org = unique("Initech");
    const first = await createPo(slug, { organizationName: org });
    expect((await call("POST", paths.qboInvoice(slug, first.reference), {})).status).toBe(201);
    // A second conference on the same company finds the customer by name instead of creating it.
    const other = await createConference();
    const grant = await emulator().issueTokens(realmId);
    await call("PUT", paths.qboTokens(other), {
      realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
    });
    await emulator().resetStats(realmId);
    const second = await createPo(other, { organizationName: org.toUpperCase() });
    expect((await call("POST", paths.qboInvoice(other, second.reference), {})).status).toBe(201);
    let stats = await realmStats(realmId);
    expect(stats.requests.byOperation["query:Customer"]).toBe(1);
    expect(stats.requests.byOperation["create:customer"] ?? 0).toBe(0);

    await emulator().resetStats(realmId);
    const third = await createPo(other, { organizationName: org });
    expect((await call("POST", paths.qboInvoice(other, third.reference), {})).status).toBe(201);
    stats = await realmStats(realmId);
    expect(stats.requests.byOperation["query:Customer"] ?? 0).toBe(0);
    expect(stats.requests.total).toBe(1);
    expect((await emulator().customers(realmId)).customers).toHaveLength(1);
  });

  it("escapes quotes and backslashes in the organization name", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const org = `O'Brien \\ Sons "Ltd" ${unique("x")}`;
    const po = await createPo(slug, { organizationName: org });
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
    const other = await connectedConferenceOnRealm(realmId);
    const po2 = await createPo(other, { organizationName: org });
    expect((await call("POST", paths.qboInvoice(other, po2.reference), {})).status).toBe(201);
    const { customers } = await emulator().customers(realmId);
    expect(customers.map((c: any) => c.DisplayName)).toEqual([org]);
  });

  it("answers 409 qbo_not_configured when the conference has no tokens", async () => {
    const slug = await createConference();
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(res, 409, "qbo_not_configured");
    expect((await call("GET", paths.po(slug, po.reference))).body.qbo).toBeNull();
  });

  it("answers 409 qbo_invoice_exists for a PO that already has one", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
    const again = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(again, 409, "qbo_invoice_exists");
  });

  it("answers 409 invalid_state for a cancelled PO", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    await call("POST", paths.cancel(slug, po.reference), {});
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(res, 409, "invalid_state");
  });

  it("answers 502 qbo_api_error when QBO returns a customer without an Id, and keeps the PO without invoice", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          times: 1,
          status: 200,
          body: { Customer: { DisplayName: "x" } },
          match: { operation: "create:customer" },
        },
      ],
    });
    const po = await createPo(slug, { organizationName: unique("NoId") });
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(res, 502, "qbo_api_error");
    const after = await call("GET", paths.po(slug, po.reference));
    expect(after.body.qbo).toBeNull();
    expect(after.body.status).toBe("draft");
  });

  it("answers 502 qbo_api_error when QBO returns an invoice without an Id", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          times: 1,
          status: 200,
          body: { Invoice: { TotalAmt: 1 } },
          match: { operation: "create:invoice" },
        },
      ],
    });
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(res, 502, "qbo_api_error");
    expect((await call("GET", paths.po(slug, po.reference))).body.qbo).toBeNull();
  });

  it("passes QBO's faults and intuit_tid through in a 502", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 400, times: 1, match: { operation: "create:invoice" } }],
    });
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expect(res.status).toBe(502);
    expect(res.body.error.details.status).toBe(400);
    expect(res.body.error.details.intuit_tid).toEqual(expect.any(String));
    expect(Array.isArray(res.body.error.details.faults)).toBe(true);
  });

  it("answers 503 qbo_unavailable on throttling, and a later retry succeeds", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "throttle", times: 1, retryAfterSeconds: 7, match: { operation: "create:invoice" } }],
    });
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expect(res.status).toBe(503);
    expect(res.body.error).toMatchObject({
      code: "qbo_unavailable",
      details: { status: 429, retryAfterSeconds: 7 },
    });
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
  });

  it("makes one QBO invoice when the first create committed but its response was lost", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-fail", status: 500, times: 1, match: { operation: "create:invoice" } }],
    });
    const po = await createPo(slug);
    const first = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expect(first.status).toBe(503);
    expect((await emulator().invoices(realmId)).invoices).toHaveLength(1);
    const retry = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expect(retry.status).toBe(201);
    const invoices: any[] = (await emulator().invoices(realmId)).invoices;
    expect(invoices).toHaveLength(1);
    expect(retry.body.qbo.invoiceId).toBe(invoices[0].Id);
  });

  it("makes one QBO invoice when the connection dropped after the commit", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { operation: "create:invoice" } }],
    });
    const po = await createPo(slug);
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(503);
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
    expect((await emulator().invoices(realmId)).invoices).toHaveLength(1);
  });

  it("lets 10 concurrent creates for one PO make exactly one QBO create request", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "latency", ms: 150, times: 1, match: { operation: "create:invoice" } }],
    });
    const po = await createPo(slug);
    const results = await Promise.all(
      Array.from({ length: 10 }, () => call("POST", paths.qboInvoice(slug, po.reference), {})),
    );
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(1);
    for (const r of results.filter((r) => r.status !== 201)) {
      expect(r.status).toBe(409);
      expect(["qbo_invoice_in_progress", "qbo_invoice_exists"]).toContain(r.body.error.code);
    }
    expect((await emulator().invoices(realmId)).invoices).toHaveLength(1);
    expect((await realmStats(realmId)).requests.byOperation["create:invoice"]).toBe(1);
  });

  it("emails the invoice when asked to (send: true)", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), { send: true });
    expect(res.status).toBe(201);
    expect(res.body.qbo.emailStatus).toBe("EmailSent");
    expect((await realmStats(realmId)).requests.byOperation["send:invoice"]).toBe(1);
  });
});

describe("sending, PDF and voiding", () => {
  it("sends the invoice to the PO's contact through QBO", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug, { contactEmail: "billing@example.test" });
    await call("POST", paths.qboInvoice(slug, po.reference), {});
    const res = await call("POST", paths.qboInvoiceSend(slug, po.reference));
    expect(res.status).toBe(200);
    expect(res.body.qbo.emailStatus).toBe("EmailSent");
    const { invoices } = await emulator().invoices(realmId);
    expect(invoices[0]).toMatchObject({
      EmailStatus: "EmailSent",
      BillEmail: { Address: "billing@example.test" },
    });
  });

  it("refuses to send a PO without an invoice (409 invalid_state)", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoiceSend(slug, po.reference));
    expectError(res, 409, "invalid_state");
  });

  it("returns the invoice PDF", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    await call("POST", paths.qboInvoice(slug, po.reference), {});
    const res = await call("GET", paths.qboInvoicePdf(slug, po.reference));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
    expect(String(res.body).startsWith("%PDF-")).toBe(true);
  });

  it("voids the QBO invoice when cancelling with voidQboInvoice", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    await call("POST", paths.qboInvoice(slug, po.reference), {});
    const res = await call("POST", paths.cancel(slug, po.reference), {
      voidQboInvoice: true,
    });
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("cancelled");
    expect(res.body.qbo.totalAmt).toBe("0.00");
    const { invoices } = await emulator().invoices(realmId);
    expect(invoices[0]).toMatchObject({ TotalAmt: 0, Balance: 0, PrivateNote: "Voided" });
  });

  it("leaves the PO as it was when voiding fails", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await createPo(slug);
    await call("POST", paths.qboInvoice(slug, po.reference), {});
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 503, times: 1, match: { operation: "void:invoice" } }],
    });
    const res = await call("POST", paths.cancel(slug, po.reference), {
      voidQboInvoice: true,
    });
    expect(res.status).toBe(503);
    expect((await call("GET", paths.po(slug, po.reference))).body.status).toBe("sent");
  });
});

async function connectedConferenceOnRealm(realmId: string): Promise<string> {
  const slug = await createConference();
  const grant = await emulator().issueTokens(realmId);
  const res = await call("PUT", paths.qboTokens(slug), {
    realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: grant.accessTokenExpiresAt,
  });
  expect(res.status).toBe(200);
  return slug;
}
