import { describe, expect, it } from "vitest";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

/** For tests about other things than sales tax: TotalAmt is the sum of the lines. */
const UNTAXED = { settings: { tax: { mode: "none" } } } as const;

describe("customers", () => {
  it("creates a customer with its email and billing address", async () => {
    const { qbo } = await emulator.realm();
    const response = await qbo.post("/customer", {
      DisplayName: "Acme Corp",
      PrimaryEmailAddr: { Address: "ada@acme.test" },
      BillAddr: { Line1: "1 Main St", Line2: "Suite 2", Line5: "USA", City: "Springfield" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("intuit_tid")).toEqual(expect.any(String));
    expect(response.body.Customer).toMatchObject({
      Id: expect.any(String),
      SyncToken: "0",
      DisplayName: "Acme Corp",
      PrimaryEmailAddr: { Address: "ada@acme.test" },
      BillAddr: { Line1: "1 Main St", Line2: "Suite 2", Line5: "USA", City: "Springfield" },
      MetaData: { CreateTime: expect.any(String), LastUpdatedTime: expect.any(String) },
    });
  });

  it("refuses a duplicate DisplayName, whatever its case, with Fault 6240", async () => {
    const { qbo } = await emulator.realm();
    await qbo.customer("Globex");
    const duplicate = await qbo.post("/customer", { DisplayName: "GLOBEX" });
    expect(duplicate.status).toBe(400);
    expect(duplicate.body.Fault).toMatchObject({
      type: "ValidationFault",
      Error: [{ code: "6240", Message: "Duplicate Name Exists Error" }],
    });
  });

  it("requires a DisplayName (2020)", async () => {
    const { qbo } = await emulator.realm();
    const response = await qbo.post("/customer", { PrimaryEmailAddr: { Address: "x@y.z" } });
    expect(response.status).toBe(400);
    expect(response.body.Fault.Error[0]).toMatchObject({ code: "2020", element: "DisplayName" });
  });
});

describe("invoices", () => {
  it("without tax or custom numbers: totals the lines exactly to the cent and starts DocNumbers at 1001", async () => {
    const { qbo } = await emulator.realm({
      settings: { tax: { mode: "none" }, customTransactionNumbers: false },
    });
    const customer = await qbo.customer("Initech");
    const first = await qbo.invoice(customer, [
      [3, 0.1, 0.3],
      [2, 1234.56, 2469.12],
    ]);
    expect(first.status).toBe(200);
    expect(first.body.Invoice).toMatchObject({
      SyncToken: "0",
      DocNumber: "1001",
      TotalAmt: 2469.42,
      Balance: 2469.42,
      EmailStatus: "NotSet",
      CustomerRef: { value: customer },
    });
    expect(first.body.Invoice.InvoiceLink).toBeUndefined();
    const second = await qbo.invoice(customer, [[1, 1200.5, 1200.5]]);
    expect(second.body.Invoice).toMatchObject({ DocNumber: "1002", TotalAmt: 1200.5 });
  });

  it("refuses a line whose Amount is not Qty × UnitPrice (6070)", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Hooli");
    const response = await qbo.invoice(customer, [[3, 0.1, 0.31]]);
    expect(response.status).toBe(400);
    expect(response.body.Fault.Error[0].code).toBe("6070");
    expect((await qbo.query("SELECT * FROM Invoice")).body.QueryResponse).toEqual({});
  });

  it("refuses amounts with float drift (more than 2 decimals) and unknown customers (2500)", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Drift Inc");
    const drift = await qbo.invoice(customer, [[3, 0.1, 0.1 + 0.2]]);
    expect(drift.status).toBe(400);
    expect(drift.body.Fault.Error[0]).toMatchObject({ code: "2010" });
    const unknown = await qbo.invoice("999", [[1, 1, 1]]);
    expect(unknown.status).toBe(400);
    expect(unknown.body.Fault.Error[0]).toMatchObject({ code: "2500", element: "CustomerRef" });
  });

  it("keeps memo, note, email and dates", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Umbrella");
    const body = {
      CustomerRef: { value: customer },
      Line: [
        { DetailType: "SalesItemLineDetail", Amount: 10, SalesItemLineDetail: { Qty: 1, UnitPrice: 10 } },
      ],
      CustomerMemo: { value: "Purchase Order PO-ABC123" },
      PrivateNote: "PO PO-ABC123",
      BillEmail: { Address: "pay@umbrella.test" },
      TxnDate: "2027-01-15",
    };
    const created = await qbo.post("/invoice", body);
    expect(created.body.Invoice).toMatchObject({
      CustomerMemo: { value: "Purchase Order PO-ABC123" },
      PrivateNote: "PO PO-ABC123",
      BillEmail: { Address: "pay@umbrella.test" },
      TxnDate: "2027-01-15",
      DueDate: "2027-02-14",
    });
  });

  it("reads an invoice, and answers 610 for an unknown one", async () => {
    const { qbo } = await emulator.realm(UNTAXED);
    const customer = await qbo.customer("Stark");
    const id = (await qbo.invoice(customer, [[1, 5, 5]])).body.Invoice.Id;
    const read = await qbo.get(`/invoice/${id}`);
    expect(read.status).toBe(200);
    expect(read.body.Invoice).toMatchObject({ Id: id, TotalAmt: 5 });
    const missing = await qbo.get("/invoice/424242");
    expect(missing.status).toBe(400);
    expect(missing.body.Fault.Error[0]).toMatchObject({ code: "610", Message: "Object Not Found" });
  });

  it("sends an invoice: EmailSent, BillEmail updated, DeliveryInfo set, SyncToken bumped", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Wayne");
    const id = (await qbo.invoice(customer, [[1, 5, 5]])).body.Invoice.Id;
    const sent = await qbo.request("POST", `/invoice/${id}/send`, { params: { sendTo: "ap@wayne.test" } });
    expect(sent.status).toBe(200);
    expect(sent.body.Invoice).toMatchObject({
      EmailStatus: "EmailSent",
      BillEmail: { Address: "ap@wayne.test" },
      DeliveryInfo: { DeliveryType: "Email", DeliveryTime: expect.any(String) },
      SyncToken: "1",
    });
  });

  it("serves a PDF naming the DocNumber", async () => {
    const { qbo } = await emulator.realm({ settings: { customTransactionNumbers: false } });
    const customer = await qbo.customer("Tyrell");
    const id = (await qbo.invoice(customer, [[1, 5, 5]])).body.Invoice.Id;
    const pdf = await qbo.pdf(id);
    expect(pdf.status).toBe(200);
    expect(pdf.headers.get("content-type")).toBe("application/pdf");
    expect(pdf.text.startsWith("%PDF-1.4")).toBe(true);
    expect(pdf.text.endsWith("%%EOF")).toBe(true);
    expect(pdf.text).toContain("Invoice 1001");
    // The xref offsets point at the objects they name.
    const xref = Number(/startxref\n(\d+)/.exec(pdf.text)?.[1]);
    expect(pdf.text.slice(xref, xref + 4)).toBe("xref");
  });

  it("voids an invoice: amounts zeroed, PrivateNote Voided, and refuses a stale SyncToken (5010)", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Cyberdyne");
    const id = (await qbo.invoice(customer, [[2, 50, 100]])).body.Invoice.Id;
    await qbo.request("POST", `/invoice/${id}/send`, { params: { sendTo: "a@b.test" } });
    const stale = await qbo.post("/invoice", { Id: id, SyncToken: "0" }, { operation: "void" });
    expect(stale.status).toBe(400);
    expect(stale.body.Fault.Error[0].code).toBe("5010");
    const voided = await qbo.post("/invoice", { Id: id, SyncToken: "1" }, { operation: "void" });
    expect(voided.status).toBe(200);
    expect(voided.body.Invoice).toMatchObject({
      TotalAmt: 0,
      Balance: 0,
      PrivateNote: "Voided",
      SyncToken: "2",
    });
    expect(voided.body.Invoice.Line.every((line: { Amount: number }) => line.Amount === 0)).toBe(true);
  });

  it("deletes an invoice; later reads answer 610 and queries skip it", async () => {
    const { tokens, qbo } = await emulator.realm();
    const customer = await qbo.customer("Soylent");
    const id = (await qbo.invoice(customer, [[1, 5, 5]])).body.Invoice.Id;
    const deleted = await qbo.post("/invoice", { Id: id, SyncToken: "0" }, { operation: "delete" });
    expect(deleted.status).toBe(200);
    expect(deleted.body.Invoice).toEqual({ Id: id, status: "Deleted", domain: "QBO" });
    expect((await qbo.get(`/invoice/${id}`)).body.Fault.Error[0].code).toBe("610");
    expect((await qbo.query(`SELECT * FROM Invoice WHERE Id = '${id}'`)).body.QueryResponse).toEqual({});
    const { invoices } = await emulator.control.invoices(tokens.realmId);
    expect(invoices).toMatchObject([{ Id: id, status: "Deleted" }]);
  });
});

describe("requestid", () => {
  it("replays the original response for a repeated requestid and creates one invoice", async () => {
    const { tokens, qbo } = await emulator.realm();
    const customer = await qbo.customer("Idempotent Ltd");
    const first = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "req-1" });
    const second = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "req-1" });
    expect(second.status).toBe(first.status);
    expect(second.text).toBe(first.text);
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(1);
    const other = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "req-2" });
    expect(other.body.Invoice.Id).not.toBe(first.body.Invoice.Id);
  });

  it("does not remember a rejected write, so a corrected retry with the same requestid goes through", async () => {
    const { qbo } = await emulator.realm();
    const customer = await qbo.customer("Retry Co");
    const bad = await qbo.invoice(customer, [[1, 10, 11]], { requestid: "req-x" });
    expect(bad.status).toBe(400);
    const good = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "req-x" });
    expect(good.status).toBe(200);
  });

  it("keeps requestids per realm", async () => {
    const a = await emulator.realm();
    const b = await emulator.realm();
    const first = await a.qbo.post("/customer", { DisplayName: "Shared" }, { requestid: "same" });
    const second = await b.qbo.post("/customer", { DisplayName: "Other" }, { requestid: "same" });
    expect(first.body.Customer.DisplayName).toBe("Shared");
    expect(second.body.Customer.DisplayName).toBe("Other");
  });
});

describe("payments", () => {
  it("lowers the linked invoice's balance and can be read back", async () => {
    const { qbo } = await emulator.realm(UNTAXED);
    const customer = await qbo.customer("Payer");
    const invoice = (await qbo.invoice(customer, [[1, 100, 100]])).body.Invoice;
    const created = await qbo.post("/payment", {
      CustomerRef: { value: customer },
      TotalAmt: 40.25,
      Line: [{ Amount: 40.25, LinkedTxn: [{ TxnId: invoice.Id, TxnType: "Invoice" }] }],
    });
    expect(created.status).toBe(200);
    const paymentId = created.body.Payment.Id;
    const read = await qbo.get(`/payment/${paymentId}`);
    expect(read.body.Payment).toMatchObject({
      Id: paymentId,
      TotalAmt: 40.25,
      CustomerRef: { value: customer },
      TxnDate: expect.any(String),
      Line: [{ Amount: 40.25, LinkedTxn: [{ TxnId: invoice.Id, TxnType: "Invoice" }] }],
    });
    const after = (await qbo.get(`/invoice/${invoice.Id}`)).body.Invoice;
    expect(after).toMatchObject({ Balance: 59.75, TotalAmt: 100, SyncToken: "1" });
    expect(after.LinkedTxn).toEqual([{ TxnId: paymentId, TxnType: "Payment" }]);
  });

  it("refuses a payment larger than the open balance and changes nothing", async () => {
    const { qbo } = await emulator.realm(UNTAXED);
    const customer = await qbo.customer("Overpayer");
    const invoice = (await qbo.invoice(customer, [[1, 10, 10]])).body.Invoice;
    const response = await qbo.post("/payment", {
      CustomerRef: { value: customer },
      TotalAmt: 10.01,
      Line: [{ Amount: 10.01, LinkedTxn: [{ TxnId: invoice.Id, TxnType: "Invoice" }] }],
    });
    expect(response.status).toBe(400);
    expect(response.body.Fault.type).toBe("ValidationFault");
    expect((await qbo.get(`/invoice/${invoice.Id}`)).body.Invoice.Balance).toBe(10);
  });

  it("finds payments with a query", async () => {
    const { tokens, qbo } = await emulator.realm();
    const customer = await qbo.customer("Query Payer");
    const invoice = (await qbo.invoice(customer, [[1, 10, 10]])).body.Invoice;
    const { Payment } = await emulator.control.recordPayment(tokens.realmId, invoice.Id, { amount: "10.00" });
    const found = await qbo.query(`SELECT * FROM Payment WHERE Id IN ('${Payment.Id}')`);
    expect(found.body.QueryResponse.Payment).toMatchObject([{ Id: Payment.Id, TotalAmt: 10 }]);
  });
});
