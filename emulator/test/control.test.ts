import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { EmulatorRequest } from "../http.ts";
import { type RunningServer, serve } from "../node.ts";
import { base64 } from "../random.ts";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

/** A webhook receiver that records what it gets. */
const received: EmulatorRequest[] = [];
let sink: RunningServer;
let sinkUrl: string;
beforeAll(async () => {
  sink = await serve(
    async (request) => {
      received.push(request);
      return { status: 200, headers: {}, body: "" };
    },
    { port: 0, host: "127.0.0.1" },
  );
  sinkUrl = `http://127.0.0.1:${sink.port}/webhooks/qbo`;
});
afterAll(() => sink.close());

async function hmac(body: string, key: string): Promise<string> {
  const encoder = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    encoder.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return base64(new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, encoder.encode(body))));
}

async function until<T>(check: () => Promise<T | undefined>): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("timed out");
}

/** A realm without sales tax, so the invoice's total is `total`. */
async function invoicedRealm(total = 100, settings: { webhookEchoes?: boolean } = {}) {
  const { tokens, qbo } = await emulator.realm({ settings: { tax: { mode: "none" }, ...settings } });
  const customer = await qbo.customer("Customer");
  const invoice = (await qbo.invoice(customer, [[1, total, total]])).body.Invoice;
  return { realmId: tokens.realmId, qbo, invoiceId: invoice.Id as string };
}

describe("realms and grants", () => {
  it("creates a realm with ISO expiry instants and opaque tokens", async () => {
    const grant = await emulator.control.createRealm({ companyName: "Demo" });
    expect(grant.realmId).toMatch(/^\d{16}$/);
    expect(grant.accessToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(grant.refreshToken).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(Date.parse(grant.accessTokenExpiresAt) - Date.now()).toBeGreaterThan(3500_000);
    expect(Date.parse(grant.refreshTokenExpiresAt) - Date.now()).toBeGreaterThan(100 * 86_400_000 - 60_000);
    const again = await emulator.control.createRealm({ realmId: "123456" });
    expect(again.realmId).toBe("123456");
    const second = await emulator.control.issueTokens("123456");
    expect(second.accessToken).not.toBe(again.accessToken);
  });

  it("answers 404 for an unknown realm", async () => {
    await expect(emulator.control.stats("999999999")).rejects.toMatchObject({ status: 404 });
  });
});

describe("stats", () => {
  it("counts every request by operation, including 401s, and the last minorversion", async () => {
    const { realmId, qbo, invoiceId } = await invoicedRealm();
    await qbo.get(`/invoice/${invoiceId}`);
    await qbo.pdf(invoiceId);
    await qbo.request("POST", `/invoice/${invoiceId}/send`, { params: { sendTo: "a@b.test" } });
    await qbo.query(`SELECT * FROM Invoice WHERE Id = '${invoiceId}'`);
    await qbo.query("SELECT * FROM Payment");
    await qbo.post("/invoice", { Id: invoiceId, SyncToken: "1" }, { operation: "void" });
    await qbo.post(
      "/invoice",
      { Id: invoiceId, SyncToken: "2" },
      { operation: "delete", minorversion: "70" },
    );
    qbo.accessToken = "wrong";
    expect((await qbo.get(`/invoice/${invoiceId}`)).status).toBe(401);

    const stats = await emulator.control.stats(realmId);
    expect(stats.requests.byOperation).toMatchObject({
      "create:customer": 1,
      "create:invoice": 1,
      "read:invoice": 2,
      "pdf:invoice": 1,
      "send:invoice": 1,
      "query:Invoice": 1,
      "query:Payment": 1,
      "void:invoice": 1,
      "delete:invoice": 1,
      "create:payment": 0,
    });
    expect(stats.requests.total).toBe(10);
    expect(stats.lastMinorVersion).toBe("75");

    await emulator.control.resetStats(realmId);
    expect((await emulator.control.stats(realmId)).requests.total).toBe(0);
  });
});

describe("the customer's side", () => {
  it("records a payment against an invoice and lowers its balance", async () => {
    const { realmId, qbo, invoiceId } = await invoicedRealm(100);
    const { Payment } = await emulator.control.recordPayment(realmId, invoiceId, {
      amount: "40.10",
      webhook: false,
    });
    expect(Payment).toMatchObject({
      TotalAmt: 40.1,
      Line: [{ Amount: 40.1, LinkedTxn: [{ TxnId: invoiceId }] }],
    });
    expect((await qbo.get(`/invoice/${invoiceId}`)).body.Invoice.Balance).toBe(59.9);
    await expect(
      emulator.control.recordPayment(realmId, invoiceId, { amount: "60.00", webhook: false }),
    ).rejects.toMatchObject({ status: 400 });
    expect((await emulator.control.payments(realmId)).payments).toHaveLength(1);
  });

  it("deletes an invoice's payments, restoring its balance", async () => {
    const { realmId, qbo, invoiceId } = await invoicedRealm(100);
    await emulator.control.recordPayment(realmId, invoiceId, { amount: "30.00", webhook: false });
    await emulator.control.recordPayment(realmId, invoiceId, { amount: "20.00", webhook: false });
    const { deleted } = await emulator.control.deletePayments(realmId, invoiceId, { webhook: false });
    expect(deleted).toHaveLength(2);
    const invoice = (await qbo.get(`/invoice/${invoiceId}`)).body.Invoice;
    expect(invoice).toMatchObject({ Balance: 100, LinkedTxn: [] });
    expect((await qbo.get(`/payment/${deleted[0]}`)).body.Fault.Error[0].code).toBe("610");
  });

  it("voids and deletes invoices from the QBO side", async () => {
    const { realmId, qbo, invoiceId } = await invoicedRealm(100);
    const { Invoice } = await emulator.control.voidInvoice(realmId, invoiceId, { webhook: false });
    expect(Invoice).toMatchObject({ TotalAmt: 0, Balance: 0, PrivateNote: "Voided" });
    await emulator.control.deleteInvoice(realmId, invoiceId, { webhook: false });
    expect((await qbo.get(`/invoice/${invoiceId}`)).status).toBe(400);
  });

  it("seeds 10,000 invoices quickly, without counting them in stats", async () => {
    const { tokens, qbo } = await emulator.realm();
    const started = Date.now();
    const { ids } = await emulator.control.seedInvoices(tokens.realmId, {
      customerName: "Bench",
      invoices: Array.from({ length: 10_000 }, (_, i) => ({
        amount: "100.00",
        paid: i % 4 === 0 ? "25.00" : undefined,
      })),
    });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(ids).toHaveLength(10_000);
    expect(new Set(ids).size).toBe(10_000);
    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.requests.total).toBe(0);
    const sample = await qbo.query(`SELECT * FROM Invoice WHERE Id IN ('${ids[0]}', '${ids[1]}')`);
    expect(sample.body.QueryResponse.Invoice.map((i: { Balance: number }) => i.Balance)).toEqual([75, 100]);
  });
});

/** These tests watch the customer's side only: the API calls setting them up send no echoes. */
const NO_ECHOES = { webhookEchoes: false };

describe("webhooks", () => {
  it("posts a signed classic notification after a customer pays: Payment Create and the paid invoice's Update", async () => {
    const { realmId, invoiceId } = await invoicedRealm(100, NO_ECHOES);
    await emulator.control.configureWebhook({ url: sinkUrl, verifierToken: "verifier-1" });
    const { Payment } = await emulator.control.recordPayment(realmId, invoiceId, { amount: "10.00" });
    const request = await until(async () =>
      received.find((entry) => entry.body.includes(`"realmId":"${realmId}"`)),
    );
    expect(request.headers.get("intuit-signature")).toBe(await hmac(request.body, "verifier-1"));
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(JSON.parse(request.body)).toEqual({
      eventNotifications: [
        {
          realmId,
          dataChangeEvent: {
            entities: [
              { name: "Invoice", id: invoiceId, operation: "Update", lastUpdated: expect.any(String) },
              { name: "Payment", id: Payment.Id, operation: "Create", lastUpdated: expect.any(String) },
            ],
          },
        },
      ],
    });
    const { deliveries } = await emulator.control.webhookLog(realmId);
    expect(deliveries).toMatchObject([{ realmId, status: 200, body: request.body, attempt: 1, events: 2 }]);
    expect((await emulator.control.stats(realmId)).webhooksSent).toBe(2);
  });

  it("posts CloudEvents when asked to, e.g. for a void", async () => {
    const { realmId, invoiceId } = await invoicedRealm(100, NO_ECHOES);
    await emulator.control.configureWebhook({
      url: sinkUrl,
      verifierToken: "verifier-2",
      format: "cloudevents",
      voidVerb: "voided",
    });
    await emulator.control.voidInvoice(realmId, invoiceId);
    const request = await until(async () =>
      received.find((entry) => entry.body.includes(`"intuitaccountid":"${realmId}"`)),
    );
    expect(request.headers.get("intuit-signature")).toBe(await hmac(request.body, "verifier-2"));
    expect(request.headers.get("content-type")).toBe("application/cloudevents+json");
    expect(JSON.parse(request.body)).toEqual([
      {
        specversion: "1.0",
        id: expect.stringMatching(new RegExp(`^[0-9a-f-]{36}-Invoice-${invoiceId}$`)),
        source: expect.stringMatching(/^intuit\.[A-Za-z0-9+/=]{40,}$/),
        type: "qbo.invoice.voided.v1",
        datacontenttype: "application/json",
        time: expect.any(String),
        intuitentityid: invoiceId,
        intuitaccountid: realmId,
        data: {},
      },
    ]);
  });

  it("logs a delivery that could not reach the receiver, and sends nothing when webhook is false", async () => {
    const { realmId, invoiceId } = await invoicedRealm(100, NO_ECHOES);
    await emulator.control.configureWebhook({ url: "http://127.0.0.1:9/unreachable", verifierToken: "v" });
    await emulator.control.recordPayment(realmId, invoiceId, { amount: "1.00", webhook: false });
    await emulator.control.recordPayment(realmId, invoiceId, { amount: "1.00" });
    const delivery = await until(async () => (await emulator.control.webhookLog(realmId)).deliveries[0]);
    expect(delivery).toMatchObject({
      status: null,
      error: expect.any(String),
      signature: await hmac(delivery.body, "v"),
    });
    expect(JSON.parse(delivery.body).eventNotifications[0].dataChangeEvent.entities).toHaveLength(2);
    expect((await emulator.control.stats(realmId)).webhooksSent).toBe(2);
    await emulator.control.clearWebhook();
  });
});

describe("reset", () => {
  it("forgets every realm", async () => {
    const { tokens } = await emulator.realm();
    await emulator.control.reset();
    await expect(emulator.control.stats(tokens.realmId)).rejects.toMatchObject({ status: 404 });
  });
});
