import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { sleep } from "../faults.ts";
import type { EmulatorRequest } from "../http.ts";
import { type RunningServer, serve } from "../node.ts";
import { DEFAULT_TIMEOUT_MS, RETRY_DELAYS_MS } from "../webhooks.ts";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

/** A webhook endpoint that answers what it is told (a status, or a hang of some ms), then 200. */
const received: Array<{ at: number; request: EmulatorRequest }> = [];
const answers: Array<number | { hangMs: number }> = [];
let sink: RunningServer;
let sinkUrl: string;
beforeAll(async () => {
  sink = await serve(
    async (request) => {
      received.push({ at: Date.now(), request });
      const answer = answers.shift() ?? 200;
      if (typeof answer === "object") await sleep(answer.hangMs);
      return { status: typeof answer === "number" ? answer : 200, headers: {}, body: "" };
    },
    { port: 0, host: "127.0.0.1" },
  );
  sinkUrl = `http://127.0.0.1:${sink.port}/webhooks/qbo`;
});
afterAll(() => sink.close());
afterEach(async () => {
  await emulator.control.clearWebhook();
  received.length = 0;
  answers.length = 0;
});

async function until<T>(check: () => T | undefined | Promise<T | undefined>, timeoutMs = 3000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await sleep(10);
  }
}

const bodies = () => received.map((entry) => JSON.parse(entry.request.body));

describe("webhook deliveries in Intuit's terms", () => {
  it("waits 3 s per attempt and retries on Intuit's schedule by default", () => {
    expect(DEFAULT_TIMEOUT_MS).toBe(3000);
    expect(RETRY_DELAYS_MS.map((ms) => ms / 1000)).toEqual([0, 10, 20, 30, 300, 1200, 7200, 14400, 21600]);
  });

  it("batches the events of several realms into one classic POST, grouped per realm", async () => {
    await emulator.control.configureWebhook({ url: sinkUrl, verifierToken: "v", batchWindowMs: 100 });
    const a = await emulator.realm();
    const b = await emulator.realm();
    await a.qbo.customer("Echo A"); // an API write: echoed like any other change
    await emulator.control.createCustomer(b.tokens.realmId, { DisplayName: "Made in QBO B" });
    await until(() => received[0]);
    expect(received).toHaveLength(1);
    expect(received[0]?.request.headers.get("content-type")).toBe("application/json");
    expect(bodies()[0]).toEqual({
      eventNotifications: [
        {
          realmId: a.tokens.realmId,
          dataChangeEvent: {
            entities: [{ name: "Customer", id: "1", operation: "Create", lastUpdated: expect.any(String) }],
          },
        },
        {
          realmId: b.tokens.realmId,
          dataChangeEvent: {
            entities: [{ name: "Customer", id: "1", operation: "Create", lastUpdated: expect.any(String) }],
          },
        },
      ],
    });
    const { deliveries } = await emulator.control.webhookLog(b.tokens.realmId);
    expect(deliveries).toMatchObject([
      { realmIds: [a.tokens.realmId, b.tokens.realmId], events: 2, status: 200 },
    ]);
  });

  it("sends at most 100 CloudEvents per POST, with Intuit's verbs and data, in any content type", async () => {
    await emulator.control.configureWebhook({
      url: sinkUrl,
      verifierToken: "v",
      format: "cloudevents",
      contentType: "none",
      batchWindowMs: 20,
    });
    const { tokens } = await emulator.realm();
    const operations = ["Create", "Update", "Void", "Void", "Emailed", "Merge", "Delete"] as const;
    const events = Array.from({ length: 150 }, (_, index) => ({
      entity: index % 2 === 0 ? "Invoice" : "Customer",
      id: String(index + 1),
      operation: operations[index % operations.length] ?? "Update",
      ...(operations[index % operations.length] === "Merge" ? { deletedId: "27" } : {}),
    }));
    await emulator.control.sendWebhookEvents(tokens.realmId, { events });
    await until(() => received[1]);
    expect(bodies().map((body) => body.length)).toEqual([100, 50]);
    expect(received[0]?.request.headers.get("content-type")).toBeNull();
    const [created, updated, voided, void2, emailed, merged, deleted] = bodies()[0];
    expect(created).toMatchObject({
      type: "qbo.invoice.created.v1",
      id: expect.stringMatching(/^[0-9a-f-]{36}-Invoice-1$/),
      intuitaccountid: tokens.realmId,
      intuitentityid: "1",
      time: expect.stringMatching(/\.\d{9}Z$/),
      data: { alternative_ids: [{ id: expect.stringMatching(/:400000001$/), namespace: "Intuit.sbseg.v4" }] },
    });
    expect(updated.type).toBe("qbo.customer.updated.v1");
    expect(updated).not.toHaveProperty("data");
    expect(updated).not.toHaveProperty("datacontenttype");
    expect([voided.type, void2.type].sort()).toEqual(["qbo.customer.void.v1", "qbo.invoice.voided.v1"]);
    expect(emailed.type).toBe("qbo.invoice.emailed.v1");
    expect(merged).toMatchObject({ type: "qbo.customer.merged.v1", data: { deletedid: "27" } });
    expect(deleted).toMatchObject({ type: "qbo.invoice.deleted.v1", data: {} });
  });

  it("retries a failed POST on the (scaled) schedule with the same body, holding later events back", async () => {
    // Scale 0.01: retries after 0, 100, 200 ms instead of 0, 10, 20 s.
    await emulator.control.configureWebhook({ url: sinkUrl, verifierToken: "v", retryTimeScale: 0.01 });
    const { tokens } = await emulator.realm();
    answers.push(500, 503, 401);
    await emulator.control.sendWebhookEvents(tokens.realmId, {
      events: [{ entity: "Invoice", id: "1", operation: "Update" }],
    });
    await until(() => received[0]);
    await emulator.control.sendWebhookEvents(tokens.realmId, {
      events: [{ entity: "Invoice", id: "2", operation: "Update" }],
    });
    await until(() => received[4]);
    const times = received.map((entry) => entry.at - (received[0]?.at ?? 0));
    // Four attempts of the first batch (same bytes), then the held-back second event.
    expect(new Set(received.slice(0, 4).map((entry) => entry.request.body)).size).toBe(1);
    expect(bodies()[4].eventNotifications[0].dataChangeEvent.entities[0].id).toBe("2");
    expect(times[1]).toBeLessThan(90); // the 0 s retry
    expect((times[2] ?? 0) - (times[1] ?? 0)).toBeGreaterThanOrEqual(95);
    expect((times[3] ?? 0) - (times[2] ?? 0)).toBeGreaterThanOrEqual(195);
    expect(times[4]).toBeGreaterThanOrEqual(times[3] ?? 0);
    const { deliveries } = await emulator.control.webhookLog(tokens.realmId);
    expect(deliveries.map((delivery) => [delivery.attempt, delivery.status])).toEqual([
      [1, 500],
      [2, 503],
      [3, 401],
      [4, 200],
      [1, 200],
    ]);
  });

  it("counts an answer slower than the timeout as a failure", async () => {
    await emulator.control.configureWebhook({
      url: sinkUrl,
      verifierToken: "v",
      timeoutMs: 150,
      retryTimeScale: 0.01,
    });
    const { tokens } = await emulator.realm();
    answers.push({ hangMs: 400 });
    await emulator.control.sendWebhookEvents(tokens.realmId, {
      events: [{ entity: "Payment", id: "9", operation: "Create" }],
    });
    const log = await until(async () => {
      const { deliveries } = await emulator.control.webhookLog(tokens.realmId);
      return deliveries.length >= 2 ? deliveries : undefined;
    });
    expect(log[0]).toMatchObject({
      attempt: 1,
      status: null,
      error: expect.stringMatching(/timeout|abort/i),
    });
    expect(log[1]).toMatchObject({ attempt: 2, status: 200 });
  });

  it("lets later events pass a failing one when head-of-line blocking is off", async () => {
    await emulator.control.configureWebhook({ url: sinkUrl, verifierToken: "v", headOfLineBlocking: false });
    const { tokens } = await emulator.realm();
    answers.push(500, 500);
    await emulator.control.sendWebhookEvents(tokens.realmId, {
      events: [{ entity: "Invoice", id: "1", operation: "Update" }],
    });
    await until(() => received[1]); // the first attempt and its 0 s retry failed; the next is 10 s away
    await emulator.control.sendWebhookEvents(tokens.realmId, {
      events: [{ entity: "Invoice", id: "2", operation: "Update" }],
    });
    await until(() => received[2]);
    expect(bodies()[2].eventNotifications[0].dataChangeEvent.entities[0].id).toBe("2");
    expect((await emulator.control.webhookLog()).queue).toEqual({ pending: 0, unacknowledged: 1 });
  });

  it("echoes the app's own API writes unless the realm's webhookEchoes is off", async () => {
    await emulator.control.configureWebhook({ url: sinkUrl, verifierToken: "v", format: "cloudevents" });
    const quiet = await emulator.realm({ settings: { webhookEchoes: false } });
    await quiet.qbo.customer("Quiet");
    const loud = await emulator.realm({ settings: { tax: { mode: "none" } } });
    const customerId = await loud.qbo.customer("Loud");
    const invoice = (await loud.qbo.invoice(customerId, [[1, 10, 10]])).body.Invoice;
    // Two events, in one POST or two (a busy machine may batch the second behind the first).
    await until(() => (bodies().flat().length >= 2 ? true : undefined));
    await sleep(50);
    const events = bodies().flat();
    const types = events.map((event: { type: string; intuitaccountid: string }) => [
      event.intuitaccountid,
      event.type,
    ]);
    expect(types).toEqual([
      [loud.tokens.realmId, "qbo.customer.created.v1"],
      [loud.tokens.realmId, "qbo.invoice.created.v1"],
    ]);
    expect(events[1].intuitentityid).toBe(invoice.Id);
    expect(received[0]?.request.headers.get("content-type")).toBe("application/cloudevents+json");
  });
});

describe("the monthly read meter", () => {
  it("counts reads per calendar month and refuses them with 429 past monthlyReadCap, writes still going", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { monthlyReadCap: 2 } });
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
    expect((await qbo.get("/preferences")).status).toBe(200);
    const refused = await qbo.query("SELECT * FROM Invoice");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeNull();
    expect(refused.body.Fault.Error[0].code).toBe("3001");
    expect((await qbo.post("/customer", { DisplayName: "Still writable" })).status).toBe(200);
    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.reads).toEqual({ month: new Date().toISOString().slice(0, 7), count: 2, cap: 2 });
    expect(stats.readsRefused).toBe(1);
    await emulator.control.resetStats(tokens.realmId);
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
  });
});
