import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import {
  call,
  connectedConference,
  emulator,
  expectError,
  invoicedPo,
  paths,
  postWebhook,
  sign,
  UNTAXED,
  VERIFIER,
} from "../helpers";

const classic = (realmId: string, entities: unknown[]) =>
  JSON.stringify({ eventNotifications: [{ realmId, dataChangeEvent: { entities } }] });

async function storedEventCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_events").first<{ n: number }>();
  return row?.n ?? 0;
}

const getPo = (slug: string, reference: string) => call("GET", paths.po(slug, reference));

describe("webhook signature", () => {
  const body = classic("123", []);

  it("accepts a body signed with the verifier token", async () => {
    const res = await postWebhook(body);
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("accepted");
  });

  it("answers 401 without a signature", async () => {
    const res = await postWebhook(body, null);
    expectError(res, 401, "unauthorized");
  });

  it("answers 401 for a wrong signature and for garbage in the header", async () => {
    expect((await postWebhook(body, "bm90IGEgc2lnbmF0dXJl")).status).toBe(401);
    expect((await postWebhook(body, "%%%")).status).toBe(401);
  });

  it("answers 401 for a body signed with another token", async () => {
    expect((await postWebhook(body, await sign(body, "someone-else"))).status).toBe(401);
  });

  it("answers 401 when the body was altered after signing", async () => {
    const signature = await sign(body);
    expect((await postWebhook(body.replace("123", "124"), signature)).status).toBe(401);
  });

  it("answers 503 not_configured when no verifier token is set", async () => {
    const res = await call("POST", paths.webhook, undefined, {
      token: null,
      headers: { "intuit-signature": await sign(body) },
      rawBody: body,
      env: { QBO_WEBHOOK_VERIFIER_TOKEN: "" },
    });
    expectError(res, 503, "not_configured");
  });
});

describe("webhook payloads", () => {
  it("answers 400 invalid_json for a signed body that is not JSON", async () => {
    const res = await postWebhook("not json {");
    expectError(res, 400, "invalid_json");
  });

  const odd: [string, unknown][] = [
    ["eventNotifications not a list", { eventNotifications: "nope" }],
    ["an empty object", {}],
    ["a notification that is not an object", { eventNotifications: ["x", 1, null] }],
    ["a notification without realmId", { eventNotifications: [{ dataChangeEvent: { entities: [] } }] }],
    ["dataChangeEvent not an object", { eventNotifications: [{ realmId: "1", dataChangeEvent: "x" }] }],
    ["entities not a list", { eventNotifications: [{ realmId: "1", dataChangeEvent: { entities: {} } }] }],
    [
      "an entity that is not an object",
      { eventNotifications: [{ realmId: "1", dataChangeEvent: { entities: [7] } }] },
    ],
    ["a JSON string", "hello"],
    ["CloudEvents with missing fields", [{ specversion: "1.0", type: "qbo.payment.created.v1" }]],
  ];
  it.each(odd)("answers 200 and queues nothing for %s", async (_name, payload) => {
    const before = await storedEventCount();
    const res = await postWebhook(JSON.stringify(payload));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe("accepted");
    expect(await storedEventCount()).toBe(before);
  });

  it("ignores unknown realms and entities of no interest", async () => {
    const { realmId } = await connectedConference({ settings: UNTAXED });
    const res = await postWebhook(
      JSON.stringify({
        eventNotifications: [
          {
            realmId: "999999999",
            dataChangeEvent: { entities: [{ name: "Payment", id: "1", operation: "Create" }] },
          },
          { realmId, dataChangeEvent: { entities: [{ name: "Vendor", id: "4", operation: "Create" }] } },
        ],
      }),
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "accepted", received: 2 });
  });
});

describe("webhook-driven reconciliation", () => {
  it("marks the PO paid after a classic Payment Create event goes through the queue", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("800.00", UNTAXED);
    const payment = await emulator().recordPayment(realmId, invoiceId, { amount: "800.00", webhook: false });
    const res = await postWebhook(
      classic(realmId, [
        {
          name: "Payment",
          id: payment.Payment.Id,
          operation: "Create",
          lastUpdated: new Date().toISOString(),
        },
      ]),
    );
    expect(res.status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("paid"), {
      timeout: 10_000,
      interval: 100,
    });
    const stats = await emulator().stats(realmId);
    expect(stats.requests.byOperation["query:Payment"]).toBe(1);
    expect(stats.requests.byOperation["read:payment"] ?? 0).toBe(0);
  });

  it("does the same for a CloudEvents delivery", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("120.00", UNTAXED);
    const payment = await emulator().recordPayment(realmId, invoiceId, { amount: "20.00", webhook: false });
    const body = JSON.stringify([
      {
        specversion: "1.0",
        id: crypto.randomUUID(),
        source: "intuit.com",
        type: "qbo.payment.created.v1",
        datacontenttype: "application/json",
        time: new Date().toISOString(),
        intuitentityid: payment.Payment.Id,
        intuitaccountid: realmId,
        data: {},
      },
    ]);
    expect((await postWebhook(body)).status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("partially_paid"), {
      timeout: 10_000,
      interval: 100,
    });
    expect((await getPo(slug, reference)).body.totalPaid).toBe("20.00");
  });

  it("records one payment when the same delivery is replayed three times", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("90.00", UNTAXED);
    const payment = await emulator().recordPayment(realmId, invoiceId, { amount: "45.00", webhook: false });
    const body = classic(realmId, [
      { name: "Payment", id: payment.Payment.Id, operation: "Create", lastUpdated: "2026-11-24T10:00:00Z" },
    ]);
    const replies = [];
    for (let i = 0; i < 3; i++) replies.push(await postWebhook(body));
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200]);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("partially_paid"), {
      timeout: 10_000,
      interval: 100,
    });
    // An Invoice Update for the same state afterwards changes nothing either.
    await postWebhook(
      classic(realmId, [
        { name: "Invoice", id: invoiceId, operation: "Update", lastUpdated: "2026-11-24T10:00:01Z" },
      ]),
    );
    await vi.waitFor(
      async () => expect((await call("GET", paths.qboSync(slug))).body.lastRuns.length).toBe(2),
      {
        timeout: 10_000,
        interval: 100,
      },
    );
    const po = (await getPo(slug, reference)).body;
    expect(po.payments).toHaveLength(1);
    expect(po.totalPaid).toBe("45.00");
  });

  it("syncs the emulator's own signed webhook when a customer pays", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("60.00", UNTAXED);
    // The emulator signs with the same verifier token and posts to the URL it is given;
    // here we fetch its latest delivery body and replay it into the Worker ourselves.
    await emulator().configureWebhook({
      url: "http://127.0.0.1:9/unreachable",
      verifierToken: VERIFIER,
      format: "classic",
    });
    await emulator().recordPayment(realmId, invoiceId, { amount: "60.00" });
    let delivery: any;
    await vi.waitFor(async () => {
      const log = await emulator().webhookLog();
      delivery = log.deliveries.find((d: any) => d.realmId === realmId);
      expect(delivery).toBeDefined();
    });
    expect((await postWebhook(delivery.body)).status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("paid"), {
      timeout: 10_000,
      interval: 100,
    });
  });
});
