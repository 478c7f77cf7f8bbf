/**
 * SPEC §8 against the emulator's hostile defaults (SPEC §14): sales tax, currencies, invoice
 * numbers, customer names, online payment, and the protocol details of real companies.
 */
import { describe, expect, it, vi } from "vitest";
import {
  call,
  connectedConference,
  createPo,
  emulator,
  expectError,
  invoicedPo,
  paths,
  postWebhook,
  unique,
} from "../helpers";

const sponsorship = (unitPrice: string, extra: Record<string, unknown> = {}) => ({
  lineItems: [{ description: "Gold sponsorship", quantity: 1, unitPrice }],
  ...extra,
});

async function invoiceOf(realmId: string, invoiceId: string) {
  const { invoices } = await emulator().invoices(realmId);
  return invoices.find((i) => i.Id === invoiceId) as Record<string, any> | undefined;
}

describe("sales tax", () => {
  it("turns a 1,000.00 PO in an 8.875% Automated Sales Tax company into a 1,088.75 invoice, and paying it makes the PO paid", async () => {
    const { slug, realmId } = await connectedConference();
    const { reference } = await createPo(slug, sponsorship("1000.00"));

    const created = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({
      subtotal: "1000.00",
      tax: "88.75",
      total: "1088.75",
      balanceDue: "1088.75",
      qbo: { totalAmt: "1088.75", balance: "1088.75", discrepancy: null },
    });
    await emulator().recordPayment(realmId, created.body.qbo.invoiceId, {
      amount: "1088.75",
      webhook: false,
    });
    const synced = await call("POST", paths.qboInvoiceSync(slug, reference));
    expect(synced.body).toMatchObject({
      status: "paid",
      totalPaid: "1088.75",
      balanceDue: "0.00",
      qbo: { discrepancy: null },
    });
  });

  it("sends the conference's tax code on every line: NON means no tax", async () => {
    const { slug, realmId } = await connectedConference({
      conference: { name: "Exempt", qbo: { realmId: "1", environment: "sandbox", taxCodeId: "NON" } },
    });
    const { reference } = await createPo(slug, sponsorship("1000.00"));

    const created = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(created.body).toMatchObject({ tax: "0.00", total: "1000.00", qbo: { totalAmt: "1000.00" } });
    const inv = await invoiceOf(realmId, created.body.qbo.invoiceId);
    expect(
      inv?.Line.filter((l: any) => l.DetailType === "SalesItemLineDetail")[0].SalesItemLineDetail.TaxCodeRef,
    ).toEqual(expect.objectContaining({ value: "NON" }));
  });

  it("shows the conference's tax settings, validated", async () => {
    const slug = unique("conf");
    const bad = await call("PUT", paths.conference(slug), {
      name: "X",
      qbo: { realmId: "1", environment: "sandbox", taxCodeId: "no spaces please" },
    });
    expectError(bad, 400, "validation_failed");
    const good = await call("PUT", paths.conference(slug), {
      name: "X",
      qbo: {
        realmId: "1",
        environment: "sandbox",
        taxCodeId: "TAX",
        allowOnlinePayment: { card: true, ach: false },
        depositAccountId: "35",
      },
    });
    expect(good.status).toBe(201);
    expect(good.body.qbo).toMatchObject({
      taxCodeId: "TAX",
      allowOnlinePayment: { card: true, ach: false },
      depositAccountId: "35",
    });
  });
});

describe("currencies", () => {
  it("refuses 409 qbo_currency_unsupported before anything is created when the company has multicurrency off", async () => {
    const { slug, realmId } = await connectedConference({
      conference: { name: "Euro Conf", currency: "EUR" },
    });
    const { reference } = await createPo(slug, sponsorship("500.00"));
    await emulator().resetStats(realmId);

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expectError(res, 409, "qbo_currency_unsupported");
    expect(res.body.error.details).toMatchObject({ conferenceCurrency: "EUR", homeCurrency: "USD" });
    const ops = (await emulator().stats(realmId)).requests.byOperation;
    expect(ops["create:customer"] ?? 0).toBe(0);
    expect(ops["create:invoice"] ?? 0).toBe(0);
    expect((await call("GET", paths.po(slug, reference))).body.qbo).toBeNull();
  });

  it("invoices in the conference's currency with multicurrency on, under a customer of that currency, reading the company settings once", async () => {
    const { slug, realmId } = await connectedConference({
      conference: { name: "Euro Conf", currency: "EUR" },
      settings: { multicurrency: true },
    });
    await emulator().createCustomer(realmId, { DisplayName: "Acme Corp" }); // a USD customer of that name
    const first = await createPo(slug, sponsorship("500.00"));
    const second = await createPo(slug, sponsorship("250.00", { organizationName: "Initech" }));

    const a = await call("POST", paths.qboInvoice(slug, first.reference), {});
    const b = await call("POST", paths.qboInvoice(slug, second.reference), {});

    expect(a.status, JSON.stringify(a.body)).toBe(201);
    expect(b.status).toBe(201);
    expect(a.body.qbo.exchangeRate).toMatch(/^\d+(\.\d+)?$/);
    const inv = await invoiceOf(realmId, a.body.qbo.invoiceId);
    expect(inv?.CurrencyRef?.value).toBe("EUR");
    const customers = (await emulator().customers(realmId)).customers as Record<string, any>[];
    const used = customers.find((c) => c.Id === a.body.qbo.customerId);
    expect(used).toMatchObject({ DisplayName: "Acme Corp (EUR)", CurrencyRef: { value: "EUR" } });
    expect((await emulator().stats(realmId)).requests.byOperation["read:preferences"]).toBe(1);
  });
});

describe("invoice numbers", () => {
  it("numbers the invoice with the PO reference in a company with custom transaction numbers", async () => {
    const { slug, realmId } = await connectedConference();
    const { reference } = await createPo(slug, sponsorship("100.00"));

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(res.body.qbo.docNumber).toBe(reference);
    expect((await invoiceOf(realmId, res.body.qbo.invoiceId))?.DocNumber).toBe(reference);
  });

  it("makes one invoice when the create answer was lost and QuickBooks has forgotten the requestid", async () => {
    const { slug, realmId } = await connectedConference({ settings: { requestIdRetentionSeconds: 0 } });
    const { reference } = await createPo(slug, sponsorship("100.00"));
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", match: { operation: "create:invoice" } }],
    });

    const lost = await call("POST", paths.qboInvoice(slug, reference), {});
    expect(lost.status).toBe(503);
    const retried = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
    const mine = (await emulator().invoices(realmId)).invoices.filter((i) => i.DocNumber === reference);
    expect(mine).toHaveLength(1);
    expect(retried.body.qbo.invoiceId).toBe(mine[0]?.Id);
  });

  it("adopts its own invoice on a 6140 duplicate number instead of failing or making another", async () => {
    const { slug, realmId } = await connectedConference({ settings: { requestIdRetentionSeconds: 0 } });
    const { reference } = await createPo(slug, sponsorship("100.00"));
    // The create lands in QBO but answers a 4xx, so we think nothing was created.
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-fail", status: 400, match: { operation: "create:invoice" } }],
    });
    expect((await call("POST", paths.qboInvoice(slug, reference), {})).status).toBe(502);

    const retried = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(retried.status, JSON.stringify(retried.body)).toBe(201);
    const mine = (await emulator().invoices(realmId)).invoices.filter((i) => i.DocNumber === reference);
    expect(mine).toHaveLength(1);
    expect(retried.body.qbo.invoiceId).toBe(mine[0]?.Id);
  });
});

describe("customer names", () => {
  it("uses '<organization> (customer)' when a vendor holds the name (6240)", async () => {
    const { slug, realmId } = await connectedConference();
    await emulator().createVendor(realmId, { DisplayName: "Acme Corp" });
    const { reference } = await createPo(slug, sponsorship("100.00"));

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    const customers = (await emulator().customers(realmId)).customers as Record<string, any>[];
    expect(customers.find((c) => c.Id === res.body.qbo.customerId)?.DisplayName).toBe("Acme Corp (customer)");
  });

  it("does the same when an employee holds the name", async () => {
    const { slug, realmId } = await connectedConference();
    await emulator().createEmployee(realmId, { DisplayName: "Acme Corp" });
    const { reference } = await createPo(slug, sponsorship("100.00"));

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(res.status, JSON.stringify(res.body)).toBe(201);
  });

  it("reactivates an inactive customer of that name instead of failing or duplicating it", async () => {
    const { slug, realmId } = await connectedConference();
    const { Customer: inactive } = (await emulator().createCustomer(realmId, {
      DisplayName: "Acme Corp",
      Active: false,
    })) as { Customer: Record<string, any> };
    const { reference } = await createPo(slug, sponsorship("100.00"));

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.qbo.customerId).toBe(inactive.Id);
    const customers = (await emulator().customers(realmId)).customers as Record<string, any>[];
    expect(customers).toHaveLength(1);
    expect(customers[0]?.Active).toBe(true);
  });

  for (const name of [
    "O’Neil & Sons",
    "Back\\slash\\",
    "100% Fun",
    "株式会社テスト",
    "Zażółć “Gęślą” – Jaźń",
    "It's \\'quoted\\'",
  ]) {
    it(`finds an existing customer named ${JSON.stringify(name)} instead of creating another`, async () => {
      const { slug, realmId } = await connectedConference();
      const { Customer: existing } = (await emulator().createCustomer(realmId, { DisplayName: name })) as {
        Customer: Record<string, any>;
      };
      const { reference } = await createPo(slug, sponsorship("100.00", { organizationName: name }));

      const res = await call("POST", paths.qboInvoice(slug, reference), {});

      expect(res.status, JSON.stringify(res.body)).toBe(201);
      expect(res.body.qbo.customerId).toBe(existing.Id);
      expect((await emulator().customers(realmId)).customers).toHaveLength(1);
    });
  }
});

describe("online payment", () => {
  it("has no payment link without QuickBooks Payments, and nothing breaks", async () => {
    const { reference, slug } = await invoicedPo("100.00");
    expect((await call("GET", paths.po(slug, reference))).body.qbo.paymentLink).toBeNull();
  });

  it("sends the conference's online-payment flags and shows the link QuickBooks gives", async () => {
    const { slug, realmId } = await connectedConference({
      settings: { onlinePayments: true },
      conference: {
        name: "Pay",
        qbo: { realmId: "1", environment: "sandbox", allowOnlinePayment: { card: true, ach: true } },
      },
    });
    const { reference } = await createPo(slug, sponsorship("100.00"));

    const res = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(res.body.qbo.paymentLink).toMatch(/^https:\/\//);
    const inv = await invoiceOf(realmId, res.body.qbo.invoiceId);
    expect(inv).toMatchObject({ AllowOnlineCreditCardPayment: true, AllowOnlineACHPayment: true });
  });
});

describe("protocol details of real companies", () => {
  it("fetches the PDF with Accept: application/pdf", async () => {
    const { slug, reference } = await invoicedPo("100.00");

    const res = await call("GET", paths.qboInvoicePdf(slug, reference));

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/pdf");
  });

  it("treats a Fault in a 200 answer as a failure (502), not as success", async () => {
    const { slug, realmId, reference } = await invoicedPo("100.00");
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          status: 200,
          match: { operation: "send:invoice" },
          body: {
            Fault: {
              Error: [{ Message: "Business Validation Error", code: "6000" }],
              type: "ValidationFault",
            },
          },
        },
      ],
    });

    const res = await call("POST", paths.qboInvoiceSend(slug, reference));

    expectError(res, 502, "qbo_api_error");
    expect(res.body.error.details.faults).toMatchObject([{ code: "6000" }]);
    expect((await call("GET", paths.po(slug, reference))).body.qbo.emailStatus).not.toBe("EmailSent");
  });

  it("waits at least 60 seconds after a 429 that names no wait", async () => {
    const { slug, realmId, reference } = await invoicedPo("100.00");
    await emulator().setFaults(realmId, {
      rules: [{ kind: "throttle", match: { operation: "query:Invoice" } }],
    });

    const res = await call("POST", paths.qboInvoiceSync(slug, reference));

    expectError(res, 503, "qbo_unavailable");
    expect(res.body.error.details.retryAfterSeconds).toBeGreaterThanOrEqual(60);
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThanOrEqual(60);
  });

  it("flags amounts with more than two decimal places as a discrepancy, never a crash, and records nothing", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("100.00");
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          status: 200,
          match: { operation: "query:Invoice" },
          body: {
            QueryResponse: {
              Invoice: [
                { Id: invoiceId, TotalAmt: 108.875, Balance: 0.005, TxnTaxDetail: { TotalTax: 8.875 } },
              ],
            },
            time: "2026-11-28T01:00:00.000-07:00",
          },
        },
      ],
    });

    const res = await call("POST", paths.qboInvoiceSync(slug, reference));

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.qbo.discrepancy.kind).toBe("amount_precision");
    expect(res.body.payments).toEqual([]);
  });
});

describe("customer merges", () => {
  for (const format of ["classic", "cloudevents"] as const) {
    it(`moves the remembered customer to the surviving one (${format} webhook)`, async () => {
      const { slug, realmId } = await connectedConference();
      const first = await createPo(slug, sponsorship("100.00"));
      const merged = (await call("POST", paths.qboInvoice(slug, first.reference), {})).body.qbo.customerId;
      const { Customer: survivor } = (await emulator().createCustomer(realmId, {
        DisplayName: "Acme Holdings",
      })) as {
        Customer: Record<string, any>;
      };
      const body =
        format === "classic"
          ? {
              eventNotifications: [
                {
                  realmId,
                  dataChangeEvent: {
                    entities: [
                      {
                        name: "Customer",
                        id: survivor.Id,
                        operation: "Merge",
                        lastUpdated: "2026-11-28T01:00:00-07:00",
                        deletedId: merged,
                      },
                    ],
                  },
                },
              ],
            }
          : [
              {
                specversion: "1.0",
                id: crypto.randomUUID(),
                source: "intuit.test",
                type: "qbo.customer.merged.v1",
                time: "2026-11-28T08:00:00Z",
                intuitentityid: survivor.Id,
                intuitaccountid: realmId,
                data: { deletedid: merged },
              },
            ];

      expect((await postWebhook(JSON.stringify(body))).status).toBe(200);

      // The inbox is drained right after the answer (SPEC §10), so the move follows it shortly.
      await vi.waitFor(
        async () =>
          expect((await call("GET", paths.po(slug, first.reference))).body.qbo.customerId).toBe(survivor.Id),
        { timeout: 5_000, interval: 50 },
      );
      await emulator().resetStats(realmId);
      const second = await createPo(slug, sponsorship("50.00"));
      const res = await call("POST", paths.qboInvoice(slug, second.reference), {});
      expect(res.body.qbo.customerId).toBe(survivor.Id);
      expect((await invoiceOf(realmId, res.body.qbo.invoiceId))?.CustomerRef?.value).toBe(survivor.Id);
      expect((await emulator().stats(realmId)).requests.byOperation["query:Customer"] ?? 0).toBe(0);
    });
  }
});
