import { describe, expect, it } from "vitest";
import { type QboClient, useEmulator } from "./harness.ts";

const emulator = useEmulator();

/** A one-line invoice body for 1 × `amount`, plus whatever else the test sets. */
function invoiceBody(customerId: string, amount: number, extra: Record<string, unknown> = {}) {
  return {
    CustomerRef: { value: customerId },
    Line: [
      {
        DetailType: "SalesItemLineDetail",
        Amount: amount,
        SalesItemLineDetail: { Qty: 1, UnitPrice: amount },
      },
    ],
    ...extra,
  };
}

async function createInvoice(qbo: QboClient, body: unknown, params?: Record<string, string>) {
  return qbo.post("/invoice", body, params);
}

describe("sales tax (automated by default, 8.875 %)", () => {
  it("taxes every line, exactly to the cent: 1000.00 → 88.75 tax, TotalAmt 1088.75", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Taxed Inc");
    const created = await createInvoice(qbo, invoiceBody(customer, 1000));
    expect(created.status).toBe(200);
    expect(created.body.Invoice).toMatchObject({
      TxnTaxDetail: { TotalTax: 88.75 },
      TotalAmt: 1088.75,
      Balance: 1088.75,
    });
    expect(created.body.Invoice.Line[0].SalesItemLineDetail.TaxCodeRef).toEqual({ value: "TAX" });
    expect(created.body.Invoice.Line.at(-1)).toMatchObject({
      DetailType: "SubTotalLineDetail",
      Amount: 1000,
    });
  });

  it("rounds half up on the taxable subtotal and leaves NON lines untaxed, echoing TaxCodeRef", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Mixed Lines");
    const created = await createInvoice(qbo, {
      CustomerRef: { value: customer },
      Line: [
        // 0.40 × 8.875 % = 0.0355 → 0.04 (half up)
        {
          DetailType: "SalesItemLineDetail",
          Amount: 0.4,
          SalesItemLineDetail: { Qty: 1, UnitPrice: 0.4, TaxCodeRef: { value: "TAX" } },
        },
        {
          DetailType: "SalesItemLineDetail",
          Amount: 500,
          SalesItemLineDetail: { Qty: 1, UnitPrice: 500, TaxCodeRef: { value: "NON" } },
        },
      ],
    });
    expect(created.body.Invoice).toMatchObject({ TxnTaxDetail: { TotalTax: 0.04 }, TotalAmt: 500.44 });
    expect(
      created.body.Invoice.Line.slice(0, 2).map((line: any) => line.SalesItemLineDetail.TaxCodeRef),
    ).toEqual([{ value: "TAX" }, { value: "NON" }]);
  });

  it("uses the realm's rate, and a void zeroes the tax too", async () => {
    const { qbo } = await emulator.realm({ settings: { tax: { mode: "automated", ratePercent: 20 } } });
    const customer = await qbo.customer("Rated");
    const created = (await createInvoice(qbo, invoiceBody(customer, 50))).body.Invoice;
    expect(created).toMatchObject({ TxnTaxDetail: { TotalTax: 10 }, TotalAmt: 60 });
    const voided = await qbo.post("/invoice", { Id: created.Id, SyncToken: "0" }, { operation: "void" });
    expect(voided.body.Invoice).toMatchObject({ TxnTaxDetail: { TotalTax: 0 }, TotalAmt: 0, Balance: 0 });
  });

  it('adds no tax with tax mode "none": TotalTax 0, TotalAmt = Σ lines, lines NON', async () => {
    const { qbo } = await emulator.realm({ settings: { tax: { mode: "none" } } });
    const customer = await qbo.customer("Untaxed");
    const created = (await createInvoice(qbo, invoiceBody(customer, 1000))).body.Invoice;
    expect(created).toMatchObject({ TxnTaxDetail: { TotalTax: 0 }, TotalAmt: 1000, Balance: 1000 });
    expect(created.Line[0].SalesItemLineDetail.TaxCodeRef).toEqual({ value: "NON" });
  });
});

describe("currencies", () => {
  it("puts the home currency on customers and invoices, and no ExchangeRate without multicurrency", async () => {
    const { qbo } = await emulator.realm();
    const customer = (await qbo.post("/customer", { DisplayName: "Home" })).body.Customer;
    expect(customer.CurrencyRef).toEqual({ value: "USD", name: "United States Dollar" });
    const invoice = (await createInvoice(qbo, invoiceBody(customer.Id, 10))).body.Invoice;
    expect(invoice.CurrencyRef).toEqual({ value: "USD", name: "United States Dollar" });
    expect(invoice.ExchangeRate).toBeUndefined();
    expect(invoice.HomeTotalAmt).toBeUndefined();
  });

  it("refuses a foreign currency on a customer or an invoice while multicurrency is off", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.post("/customer", { DisplayName: "Euro GmbH", CurrencyRef: { value: "EUR" } });
    expect(customer.status).toBe(400);
    expect(customer.body.Fault).toMatchObject({
      type: "ValidationFault",
      Error: [{ code: "6000", element: "CurrencyRef", Detail: expect.stringContaining("Multicurrency") }],
    });
    const home = await qbo.customer("Home Customer");
    const invoice = await createInvoice(qbo, invoiceBody(home, 10, { CurrencyRef: { value: "EUR" } }));
    expect(invoice.status).toBe(400);
    expect(invoice.body.Fault.Error[0]).toMatchObject({ code: "6000", element: "CurrencyRef" });
  });

  it("with multicurrency: the customer's currency, its ExchangeRate and HomeTotalAmt to the cent", async () => {
    const { qbo } = await emulator.realm({ settings: { multicurrency: true } });
    const euro = (await qbo.post("/customer", { DisplayName: "Euro SA", CurrencyRef: { value: "EUR" } })).body
      .Customer;
    expect(euro.CurrencyRef).toEqual({ value: "EUR", name: "Euro" });
    // 1000.00 + 88.75 tax = 1088.75 EUR × 1.08 = 1175.85 USD
    const invoice = (await createInvoice(qbo, invoiceBody(euro.Id, 1000))).body.Invoice;
    expect(invoice).toMatchObject({
      CurrencyRef: { value: "EUR", name: "Euro" },
      ExchangeRate: 1.08,
      TotalAmt: 1088.75,
      HomeTotalAmt: 1175.85,
      HomeBalance: 1175.85,
    });
    const home = await qbo.customer("Dollar Inc");
    const usd = (await createInvoice(qbo, invoiceBody(home, 10))).body.Invoice;
    expect(usd).toMatchObject({ CurrencyRef: { value: "USD" }, ExchangeRate: 1 });
  });

  it("with multicurrency: refuses an invoice in another currency than its customer's, and unknown currencies", async () => {
    const { qbo } = await emulator.realm({ settings: { multicurrency: true } });
    const euro = await qbo.customer("Euro Ltd", { CurrencyRef: { value: "EUR" } });
    const mismatch = await createInvoice(qbo, invoiceBody(euro, 10, { CurrencyRef: { value: "GBP" } }));
    expect(mismatch.status).toBe(400);
    expect(mismatch.body.Fault.Error[0]).toMatchObject({ code: "6000", element: "CurrencyRef" });
    const unknown = await qbo.post("/customer", { DisplayName: "Yen KK", CurrencyRef: { value: "JPY" } });
    expect(unknown.status).toBe(400);
    expect(unknown.body.Fault.Error[0].Detail).toContain("JPY");
  });
});

describe("DocNumber (custom transaction numbers on by default)", () => {
  it("is absent unless sent, kept as sent, and AUTO_GENERATE takes the next number", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Numbers");
    const none = (await createInvoice(qbo, invoiceBody(customer, 10))).body.Invoice;
    expect(none.DocNumber).toBeUndefined();
    const sent = (await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-ABC123" }))).body
      .Invoice;
    expect(sent.DocNumber).toBe("PO-ABC123");
    const auto = (await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "AUTO_GENERATE" }))).body
      .Invoice;
    expect(auto.DocNumber).toBe("1001");
  });

  it("is numbered 1001, 1002… when the company numbers invoices itself", async () => {
    const { qbo } = await emulator.realm({ settings: { customTransactionNumbers: false } });
    const customer = await qbo.customer("Auto");
    const first = (await createInvoice(qbo, invoiceBody(customer, 10))).body.Invoice;
    const second = (await createInvoice(qbo, invoiceBody(customer, 10))).body.Invoice;
    expect([first.DocNumber, second.DocNumber]).toEqual(["1001", "1002"]);
  });

  it("refuses a number another live invoice has (6140) unless include=allowduplicatedocnum", async () => {
    const { tokens, qbo } = await emulator.realm();
    const customer = await qbo.customer("Dupes");
    const first = (await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-1" }))).body.Invoice;
    const duplicate = await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-1" }));
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.Fault).toMatchObject({
      type: "ValidationFault",
      Error: [
        {
          code: "6140",
          Message: "Duplicate Document Number Error",
          Detail: expect.stringContaining(
            `DocNumber=PO-1 is assigned to TxnType=Invoice with TxnId=${first.Id}`,
          ),
        },
      ],
    });
    const allowed = await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-1" }), {
      include: "allowduplicatedocnum",
    });
    expect(allowed.status).toBe(200);
    // A voided invoice keeps its number; a deleted one frees it.
    await qbo.post("/invoice", { Id: first.Id, SyncToken: "0" }, { operation: "void" });
    expect((await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-1" }))).status).toBe(400);
    await emulator.control.deleteInvoice(tokens.realmId, first.Id, { webhook: false });
    await emulator.control.deleteInvoice(tokens.realmId, allowed.body.Invoice.Id, { webhook: false });
    expect((await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-1" }))).status).toBe(200);
  });

  it("refuses more than 21 characters with 2050", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Long");
    const long = await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "X".repeat(22) }));
    expect(long.status).toBe(400);
    expect(long.body.Fault.Error[0]).toMatchObject({ code: "2050", element: "DocNumber" });
    const max = await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "X".repeat(21) }));
    expect(max.status).toBe(200);
  });

  it("can be queried with = and IN", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Queried");
    const a = (await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-A" }))).body.Invoice;
    const b = (await createInvoice(qbo, invoiceBody(customer, 10, { DocNumber: "PO-B" }))).body.Invoice;
    await createInvoice(qbo, invoiceBody(customer, 10));
    const one = await qbo.query("SELECT * FROM Invoice WHERE DocNumber = 'PO-A'");
    expect(one.body.QueryResponse.Invoice.map((i: { Id: string }) => i.Id)).toEqual([a.Id]);
    const both = await qbo.query("SELECT * FROM Invoice WHERE DocNumber IN ('PO-A', 'PO-B', 'PO-C')");
    expect(both.body.QueryResponse.Invoice.map((i: { Id: string }) => i.Id)).toEqual([a.Id, b.Id]);
  });
});

describe("Preferences and CompanyInfo", () => {
  it("describe the hostile defaults in Intuit's shape", async () => {
    const { tokens, qbo } = await emulator.realm();
    const response = await qbo.get("/preferences");
    expect(response.status).toBe(200);
    expect(response.body.Preferences).toMatchObject({
      Id: "1",
      SyncToken: "0",
      domain: "QBO",
      CurrencyPrefs: { MultiCurrencyEnabled: false, HomeCurrency: { value: "USD" } },
      SalesFormsPrefs: { CustomTxnNumbers: true, ETransactionPaymentEnabled: false },
      TaxPrefs: { UsingSalesTax: true, PartnerTaxEnabled: true },
      MetaData: { CreateTime: expect.stringMatching(/-07:00$/), LastUpdatedTime: expect.any(String) },
    });
    expect(response.body.time).toMatch(/-07:00$/);
    expect((await emulator.control.stats(tokens.realmId)).requests.byOperation["read:preferences"]).toBe(1);
  });

  it("follow the settings, with SyncToken bumped by each change", async () => {
    const { tokens, qbo } = await emulator.realm({
      settings: { multicurrency: true, homeCurrency: "CAD", tax: { mode: "none" }, onlinePayments: true },
    });
    await emulator.control.updateSettings(tokens.realmId, { customTransactionNumbers: false });
    const { Preferences } = (await qbo.get("/preferences")).body;
    expect(Preferences).toMatchObject({
      SyncToken: "1",
      CurrencyPrefs: { MultiCurrencyEnabled: true, HomeCurrency: { value: "CAD" } },
      SalesFormsPrefs: { CustomTxnNumbers: false, ETransactionPaymentEnabled: true },
      TaxPrefs: { UsingSalesTax: false, PartnerTaxEnabled: false },
    });
  });

  it("answer SELECT * FROM Preferences as Intuit's sample does", async () => {
    const { tokens, qbo } = await emulator.realm();
    const response = await qbo.query("select * from Preferences");
    expect(response.status).toBe(200);
    expect(response.body.QueryResponse).toEqual({
      Preferences: [expect.objectContaining({ Id: "1", CurrencyPrefs: expect.any(Object) })],
      maxResults: 1,
    });
    expect((await qbo.query("SELECT * FROM Preferences WHERE Colour = 'red'")).body.Fault.Error[0].code).toBe(
      "4001",
    );
    expect((await emulator.control.stats(tokens.realmId)).requests.byOperation["query:Preferences"]).toBe(2);
  });

  it("serve CompanyInfo for the realm, 610 for another id", async () => {
    const { tokens, qbo } = await emulator.realm({ companyName: "Conference Org LLC" });
    const info = await qbo.get(`/companyinfo/${tokens.realmId}`);
    expect(info.body.CompanyInfo).toMatchObject({
      CompanyName: "Conference Org LLC",
      Country: "US",
      Id: "1",
    });
    expect((await qbo.get("/companyinfo/42")).body.Fault.Error[0].code).toBe("610");
  });
});
