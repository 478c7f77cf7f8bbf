import { describe, expect, it } from "vitest";
import { type QboClient, useEmulator } from "./harness.ts";

const emulator = useEmulator();

async function invoice(qbo: QboClient, extra: Record<string, unknown> = {}, params?: Record<string, string>) {
  const customer = await qbo.customer(`Customer ${crypto.randomUUID()}`);
  return qbo.post(
    "/invoice",
    {
      CustomerRef: { value: customer },
      Line: [
        { DetailType: "SalesItemLineDetail", Amount: 10, SalesItemLineDetail: { Qty: 1, UnitPrice: 10 } },
      ],
      ...extra,
    },
    params,
  );
}

describe("the invoice PDF", () => {
  it("needs Accept: application/pdf by default (400 otherwise)", async () => {
    const { qbo } = await emulator.realm();
    const id = (await invoice(qbo)).body.Invoice.Id;
    const json = await qbo.get(`/invoice/${id}/pdf`);
    expect(json.status).toBe(400);
    expect(json.body.Fault).toMatchObject({ type: "ValidationFault", Error: [{ element: "Accept" }] });
    const pdf = await qbo.pdf(id);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get("content-type")).toBe("application/pdf");
    expect(pdf.text).toContain("Tax: 0.89   Total: 10.89 USD");
  });

  it("is served whatever the Accept with pdfRequiresAcceptPdf off", async () => {
    const { qbo } = await emulator.realm({ settings: { pdfRequiresAcceptPdf: false } });
    const id = (await invoice(qbo)).body.Invoice.Id;
    expect((await qbo.get(`/invoice/${id}/pdf`)).status).toBe(200);
  });
});

describe("InvoiceLink", () => {
  const online = {
    AllowOnlineCreditCardPayment: true,
    AllowOnlineACHPayment: false,
    BillEmail: { Address: "ap@customer.test" },
  };

  it("is never returned by default (no QuickBooks Payments), but the Allow* flags are echoed", async () => {
    const { qbo } = await emulator.realm();
    const created = (await invoice(qbo, online, { include: "invoiceLink" })).body.Invoice;
    expect(created.InvoiceLink).toBeUndefined();
    expect(created).toMatchObject({ AllowOnlineCreditCardPayment: true, AllowOnlineACHPayment: false });
    const plain = (await invoice(qbo)).body.Invoice;
    expect(plain).toMatchObject({ AllowOnlineCreditCardPayment: false, AllowOnlineACHPayment: false });
  });

  it("needs include=invoiceLink, online payments, an Allow* flag and a BillEmail", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { onlinePayments: true } });
    await emulator.control.setLimits(tokens.realmId, {}); // a dozen requests in well under a second
    const link = /^https:\/\/connect\.intuit\.com\/portal\/app\/CommerceNetwork\/view\/scs-v1-/;
    const include = { include: "invoiceLink" };
    expect((await invoice(qbo, online, include)).body.Invoice.InvoiceLink).toMatch(link);
    const ach = { ...online, AllowOnlineCreditCardPayment: false, AllowOnlineACHPayment: true };
    expect((await invoice(qbo, ach, include)).body.Invoice.InvoiceLink).toMatch(link);
    const created = (await invoice(qbo, online)).body.Invoice;
    expect(created.InvoiceLink).toBeUndefined();
    expect((await qbo.get(`/invoice/${created.Id}`, include)).body.Invoice.InvoiceLink).toMatch(link);
    const notAllowed = { ...online, AllowOnlineCreditCardPayment: false };
    expect((await invoice(qbo, notAllowed, include)).body.Invoice.InvoiceLink).toBeUndefined();
    const noEmail = { AllowOnlineCreditCardPayment: true };
    expect((await invoice(qbo, noEmail, include)).body.Invoice.InvoiceLink).toBeUndefined();
  });
});

describe("requestid", () => {
  it("is forgotten after requestIdRetentionSeconds: a retry then creates again", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { requestIdRetentionSeconds: 0.2 } });
    const customer = await qbo.customer("Retried");
    const body = {
      CustomerRef: { value: customer },
      Line: [
        { DetailType: "SalesItemLineDetail", Amount: 10, SalesItemLineDetail: { Qty: 1, UnitPrice: 10 } },
      ],
    };
    const first = await qbo.post("/invoice", body, { requestid: "po-invoice-1" });
    const replay = await qbo.post("/invoice", body, { requestid: "po-invoice-1" });
    expect(replay.text).toBe(first.text);
    await new Promise((resolve) => setTimeout(resolve, 250));
    const again = await qbo.post("/invoice", body, { requestid: "po-invoice-1" });
    expect(again.status).toBe(200);
    expect(again.body.Invoice.Id).not.toBe(first.body.Invoice.Id);
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(2);
  });

  it("is remembered for 300 seconds by default", async () => {
    const { tokens, qbo } = await emulator.realm();
    const first = await invoice(qbo, {}, { requestid: "kept" });
    const customer = first.body.Invoice.CustomerRef.value;
    const again = await qbo.post(
      "/invoice",
      { CustomerRef: { value: customer }, Line: [{ DetailType: "SalesItemLineDetail", Amount: 1 }] },
      { requestid: "kept" },
    );
    expect(again.text).toBe(first.text);
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(1);
  });

  it("refuses more than 50 characters (2050) and does nothing", async () => {
    const { tokens, qbo } = await emulator.realm();
    const long = await qbo.post("/customer", { DisplayName: "Long Id" }, { requestid: "r".repeat(51) });
    expect(long.status).toBe(400);
    expect(long.body.Fault.Error[0]).toMatchObject({ code: "2050", element: "requestid" });
    expect((await emulator.control.customers(tokens.realmId)).customers).toHaveLength(0);
    const max = await qbo.post("/customer", { DisplayName: "Long Id" }, { requestid: "r".repeat(50) });
    expect(max.status).toBe(200);
  });
});

describe("answers a client must not trust", () => {
  const fault = {
    Fault: {
      Error: [
        { Message: "A business validation error has occurred", Detail: "Voided elsewhere", code: "6000" },
      ],
      type: "ValidationFault",
    },
  };

  it("body: HTTP 200 with a Fault body, nothing done", async () => {
    const { tokens, qbo } = await emulator.realm();
    const id = (await invoice(qbo)).body.Invoice.Id;
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "body", status: 200, body: fault, match: { operation: "void:invoice" } }],
    });
    const voided = await qbo.post("/invoice", { Id: id, SyncToken: "0" }, { operation: "void" });
    expect(voided.status).toBe(200);
    expect(voided.body).toEqual({ ...fault, time: expect.stringMatching(/-07:00$/) });
    expect((await qbo.get(`/invoice/${id}`)).body.Invoice.TotalAmt).toBe(10.89);
  });

  it("commit-then-body: the write happens, the answer is a 200 with a Fault body", async () => {
    const { tokens, qbo } = await emulator.realm();
    const customer = await qbo.customer("Committed");
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "commit-then-body", body: fault, match: { operation: "create:invoice" } }],
    });
    const created = await qbo.post(
      "/invoice",
      {
        CustomerRef: { value: customer },
        Line: [
          { DetailType: "SalesItemLineDetail", Amount: 5, SalesItemLineDetail: { Qty: 1, UnitPrice: 5 } },
        ],
      },
      { requestid: "ctb-1" },
    );
    expect(created.status).toBe(200);
    expect(created.body.Fault).toEqual(fault.Fault);
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(1);
    const retry = await qbo.post("/invoice", {}, { requestid: "ctb-1" });
    expect(retry.body.Invoice.TotalAmt).toBe(5.44);
  });

  it("body: an Invoice with more than two decimals, e.g. TotalAmt 100.005, is sent as written", async () => {
    const { tokens, qbo } = await emulator.realm();
    const weird = { Invoice: { Id: "77", SyncToken: "0", TotalAmt: 100.005, Balance: 100.005 } };
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "body", body: weird, match: { operation: "read:invoice" } }],
    });
    const read = await qbo.get("/invoice/77");
    expect(read.status).toBe(200);
    expect(read.text).toContain('"TotalAmt":100.005');
    expect(read.body.Invoice).toEqual(weird.Invoice);
  });

  it("but refuses more than two decimals in what it is sent (2010)", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Precise");
    const response = await qbo.post("/invoice", {
      CustomerRef: { value: customer },
      Line: [{ DetailType: "SalesItemLineDetail", Amount: 100.005 }],
    });
    expect(response.status).toBe(400);
    expect(response.body.Fault.Error[0].code).toBe("2010");
  });
});
