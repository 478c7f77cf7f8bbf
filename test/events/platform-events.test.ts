/**
 * Events to the conference platform (SPEC §12), end to end inside workerd: the endpoint API,
 * the outbox drain, the platform-events queue and real HTTP deliveries to a receiver in the QBO
 * emulator (emulator/receiver.ts) that records what it gets and answers as told.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { makeDb } from "../../src/db/client";
import { attemptDelivery } from "../../src/events/delivery";
import { drainConference } from "../../src/events/drain";
import { verifySignature } from "../../src/events/signing";
import { call, createConference, createPo, emulator, expectError, paths, unique } from "../helpers";

const endpointPath = (slug: string) => `${paths.conference(slug)}/event-endpoint`;
const deliveriesPath = (slug: string) => `${endpointPath(slug)}/deliveries`;
const wire = (amount: string) => ({ amount, method: "wire", paymentDate: "2026-11-20", reference: "W-1" });

interface Received {
  headers: Record<string, string>;
  body: string;
  status: number;
}

/** A conference whose endpoint is a fresh named receiver; the receiver answers `statuses` first. */
async function subscribed(opts: { statuses?: number[]; events?: string[] } = {}) {
  const slug = await createConference();
  const name = unique("rcv");
  if (opts.statuses) await emulator().configureReceiver(name, opts.statuses);
  const res = await call("PUT", endpointPath(slug), {
    url: emulator().receiverUrl(name),
    ...(opts.events ? { events: opts.events } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { slug, name, secret: res.body.secret as string };
}

async function receivedBy(name: string, atLeast: number): Promise<Received[]> {
  return vi.waitFor(
    async () => {
      const { received } = await emulator().received(name);
      if (received.length < atLeast) throw new Error(`${received.length} of ${atLeast} received`);
      return received;
    },
    { timeout: 15_000, interval: 100 },
  );
}

async function deliveries(slug: string) {
  const res = await call("GET", deliveriesPath(slug));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body.items as any[];
}

async function verified(secret: string, r: Received): Promise<boolean> {
  return verifySignature(
    secret,
    {
      id: r.headers["webhook-id"] ?? "",
      timestamp: r.headers["webhook-timestamp"] ?? "",
      signature: r.headers["webhook-signature"] ?? "",
    },
    r.body,
    Math.floor(Date.now() / 1000),
  );
}

describe("PUT /event-endpoint", () => {
  it.each([
    ["http:// to another host", "http://platform.example.org/hooks"],
    ["not a URL", "not a url"],
    ["ftp://", "ftp://platform.example.org/hooks"],
    ["credentials in the URL", "https://user:pw@platform.example.org/hooks"],
  ])("refuses %s with 400 validation_failed", async (_what, url) => {
    const slug = await createConference();
    expectError(await call("PUT", endpointPath(slug), { url }), 400, "validation_failed");
  });

  it("refuses an unknown event type or a prefix that matches none", async () => {
    const slug = await createConference();
    for (const events of [["po.deleted"], ["invoice.*"], []]) {
      expectError(
        await call("PUT", endpointPath(slug), { url: "https://x.example.org/h", events }),
        400,
        "validation_failed",
      );
    }
  });

  it.each(["https://platform.example.org/hooks", "http://localhost:8000/hooks", "http://127.0.0.1/hooks"])(
    "accepts %s and returns a whsec_ secret once",
    async (url) => {
      const slug = await createConference();
      const res = await call("PUT", endpointPath(slug), { url, events: ["po.*", "payment.recorded"] });

      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body).toEqual({
        url,
        events: ["po.*", "payment.recorded"],
        createdAt: expect.any(String),
        secret: expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/),
      });
      const shown = await call("GET", endpointPath(slug));
      expect(shown.status).toBe(200);
      expect(shown.body).toEqual({
        url,
        events: ["po.*", "payment.recorded"],
        createdAt: res.body.createdAt,
      });
      expect(JSON.stringify(shown.body)).not.toContain("whsec_");
    },
  );

  it("stores the secret only encrypted: no D1 column holds it or its key bytes", async () => {
    const slug = await createConference();
    const { body } = await call("PUT", endpointPath(slug), { url: "https://x.example.org/h" });
    const again = await call("PUT", endpointPath(slug), { url: "https://x.example.org/h" });

    const row = await env.DB.prepare("SELECT * FROM event_endpoints WHERE conference_slug = ?")
      .bind(slug)
      .first();
    const stored = JSON.stringify(row);
    for (const secret of [body.secret as string, again.body.secret as string]) {
      expect(stored).not.toContain(secret);
      expect(stored).not.toContain(secret.slice("whsec_".length, "whsec_".length + 20));
    }
    expect(row?.secret_sealed).toMatch(/^v2\./);
    expect(row?.previous_secret_sealed).toMatch(/^v2\./);
  });

  it("rotates the secret on a second PUT: a new secret, secretRotatedAt shown", async () => {
    const slug = await createConference();
    const first = await call("PUT", endpointPath(slug), { url: "https://x.example.org/h" });
    const second = await call("PUT", endpointPath(slug), { url: "https://y.example.org/h" });

    expect(second.body.secret).not.toBe(first.body.secret);
    const shown = await call("GET", endpointPath(slug));
    expect(shown.body).toMatchObject({
      url: "https://y.example.org/h",
      events: null,
      secretRotatedAt: expect.any(String),
    });
  });

  it("answers 404 for the endpoint of a conference that has none, and for an unknown conference", async () => {
    const slug = await createConference();
    expectError(await call("GET", endpointPath(slug)), 404, "not_found");
    expectError(
      await call("PUT", endpointPath(unique("nope")), { url: "https://x.example.org/h" }),
      404,
      "not_found",
    );
  });
});

describe("delivery", () => {
  it("POSTs a new PO's event, signed, with the PO as the API shows it; the delivery is recorded", async () => {
    const { slug, name, secret } = await subscribed();
    const po = await createPo(slug);

    const [got] = await receivedBy(name, 1);
    if (!got) throw new Error("nothing received");
    const body = JSON.parse(got.body);
    expect(body).toEqual({
      id: expect.stringMatching(/^evt_\d+$/),
      type: "po.created",
      occurredAt: expect.any(String),
      conference: slug,
      data: {
        purchaseOrder: expect.objectContaining({
          reference: po.reference,
          status: "draft",
          total: "1200.00",
        }),
        event: expect.objectContaining({
          actor: { type: "deployment" },
          data: expect.objectContaining({ reference: po.reference }),
        }),
      },
    });
    expect(got.headers["webhook-id"]).toBe(body.id);
    expect(got.headers["content-type"]).toBe("application/json");
    expect(Math.abs(Number(got.headers["webhook-timestamp"]) - Date.now() / 1000)).toBeLessThan(60);
    expect(await verified(secret, got)).toBe(true);

    const history = await call("GET", `${paths.po(slug, po.reference)}/events`);
    expect(body.id).toBe(`evt_${history.body[0].id}`);
    await vi.waitFor(async () => {
      expect(await deliveries(slug)).toEqual([
        expect.objectContaining({
          eventId: body.id,
          type: "po.created",
          status: "delivered",
          attempts: 1,
          lastStatus: 200,
          lastError: null,
          nextAttemptAt: null,
        }),
      ]);
    });
  });

  it("delivers only subscribed types", async () => {
    const { slug, name } = await subscribed({ events: ["payment.*"] });
    const po = await createPo(slug);
    expect((await call("POST", paths.payments(slug, po.reference), wire("200.00"))).status).toBe(201);

    const received = await receivedBy(name, 1);
    await drainConference(env, makeDb(env.DB), slug);
    expect(received.map((r) => JSON.parse(r.body).type)).toEqual(["payment.recorded"]);
    expect((await deliveries(slug)).map((d) => d.type)).toEqual(["payment.recorded"]);
  });

  it("gives each PO's events ascending ids and non-decreasing occurredAt", async () => {
    const { slug, name } = await subscribed();
    const po = await createPo(slug);
    expect((await call("POST", paths.send(slug, po.reference))).status).toBe(200);
    expect((await call("POST", paths.payments(slug, po.reference), wire("200.00"))).status).toBe(201);
    expect((await call("POST", paths.payments(slug, po.reference), wire("1000.00"))).status).toBe(201);
    const timeline = await call("GET", `${paths.po(slug, po.reference)}/events`);

    const received = await receivedBy(name, timeline.body.length);
    const bodies = received
      .map((r) => JSON.parse(r.body))
      .sort((a, b) => Number(a.id.slice(4)) - Number(b.id.slice(4)));
    expect(bodies.map((b) => b.id)).toEqual(timeline.body.map((e: { id: number }) => `evt_${e.id}`));
    for (let i = 1; i < bodies.length; i++)
      expect(bodies[i].occurredAt >= bodies[i - 1].occurredAt).toBe(true);
    expect(bodies.at(-1).data.purchaseOrder.status).toBe("paid");
  });

  it("retries a 500 after about 5 s with the same webhook-id, then records it delivered after 2 attempts", async () => {
    const { slug, name, secret } = await subscribed({ statuses: [500] });
    await createPo(slug);

    await vi.waitFor(
      async () => {
        const [d] = await deliveries(slug);
        expect(d).toMatchObject({ status: "pending", attempts: 1, lastStatus: 500, lastError: "HTTP 500" });
        const wait = Date.parse(d.nextAttemptAt) - Date.parse(d.updatedAt);
        expect(wait).toBe(5000);
      },
      { timeout: 10_000, interval: 100 },
    );
    const [first, second] = await receivedBy(name, 2);
    if (!first || !second) throw new Error("two attempts expected");

    expect(second.headers["webhook-id"]).toBe(first.headers["webhook-id"]);
    expect([first.status, second.status]).toEqual([500, 200]);
    expect(await verified(secret, second)).toBe(true);
    await vi.waitFor(async () => {
      expect((await deliveries(slug))[0]).toMatchObject({
        status: "delivered",
        attempts: 2,
        lastStatus: 200,
        lastError: null,
      });
    });
  }, 20_000);

  it("marks a delivery failed once its next attempt would fall beyond 24 hours", async () => {
    const { slug } = await subscribed({ statuses: [500, 500, 500] });
    await createPo(slug);
    const [pending] = await vi.waitFor(async () => {
      const list = await deliveries(slug);
      expect(list[0]).toMatchObject({ status: "pending", attempts: 1 });
      return list;
    });

    const late = new Date(Date.parse(pending.createdAt) + 24 * 3600 * 1000 - 10_000);
    expect(await attemptDelivery(env, makeDb(env.DB), pending.id, late)).toEqual({ kind: "done" });

    expect((await deliveries(slug))[0]).toMatchObject({
      status: "failed",
      attempts: 2,
      lastStatus: 500,
      nextAttemptAt: null,
    });
  });

  it("disables the endpoint when the receiver answers 410 Gone, until it is PUT again", async () => {
    const { slug, name } = await subscribed({ statuses: [410] });
    await createPo(slug);

    await vi.waitFor(async () => {
      expect((await call("GET", endpointPath(slug))).body.disabledAt).toEqual(expect.any(String));
    });
    expect((await deliveries(slug))[0]).toMatchObject({ status: "disabled", attempts: 1, lastStatus: 410 });
    await createPo(slug);
    await drainConference(env, makeDb(env.DB), slug);
    expect(await deliveries(slug)).toHaveLength(1);
    expect((await emulator().received(name)).received).toHaveLength(1);

    expect((await call("PUT", endpointPath(slug), { url: emulator().receiverUrl(name) })).status).toBe(200);
    expect((await call("GET", endpointPath(slug))).body).not.toHaveProperty("disabledAt");
  });

  it("signs with the old and the new secret for 24 hours after a rotation", async () => {
    const { slug, name, secret: old } = await subscribed();
    const rotated = await call("PUT", endpointPath(slug), { url: emulator().receiverUrl(name) });
    await createPo(slug);

    const [got] = await receivedBy(name, 1);
    if (!got) throw new Error("nothing received");
    expect(got.headers["webhook-signature"]?.split(" ")).toHaveLength(2);
    expect(await verified(old, got)).toBe(true);
    expect(await verified(rotated.body.secret, got)).toBe(true);
  });

  it("stops delivering after DELETE", async () => {
    const { slug, name } = await subscribed();
    expect((await call("DELETE", endpointPath(slug))).status).toBe(204);
    expectError(await call("GET", endpointPath(slug)), 404, "not_found");

    await createPo(slug);
    await drainConference(env, makeDb(env.DB), slug);
    expect(await deliveries(slug)).toEqual([]);
    expect((await emulator().received(name)).received).toEqual([]);
  });
});

describe("the deliveries API", () => {
  it("re-sends one delivery with the same webhook-id (202), and it is delivered again", async () => {
    const { slug, name } = await subscribed();
    await createPo(slug);
    const [first] = await receivedBy(name, 1);
    const [delivery] = await vi.waitFor(async () => {
      const list = await deliveries(slug);
      expect(list[0]?.status).toBe("delivered");
      return list;
    });

    const res = await call("POST", `${deliveriesPath(slug)}/${delivery.id}/retry`);

    expect(res.status, JSON.stringify(res.body)).toBe(202);
    expect(res.body).toMatchObject({ id: delivery.id, status: "pending" });
    const again = await receivedBy(name, 2);
    expect(again[1]?.headers["webhook-id"]).toBe(first?.headers["webhook-id"]);
    await vi.waitFor(async () => {
      expect((await deliveries(slug))[0]).toMatchObject({ status: "delivered", attempts: 2 });
    });
  });

  it("answers 404 for a delivery of another conference or none, and honours limit", async () => {
    const { slug, name } = await subscribed();
    await createPo(slug);
    await createPo(slug);
    await receivedBy(name, 2);
    const other = await createConference();
    const [newest] = await deliveries(slug);

    expectError(await call("POST", `${deliveriesPath(other)}/${newest.id}/retry`), 404, "not_found");
    expectError(await call("POST", `${deliveriesPath(slug)}/999999999/retry`), 404, "not_found");
    const limited = await call("GET", `${deliveriesPath(slug)}?limit=1`);
    expect(limited.body.items).toHaveLength(1);
    expect(limited.body.items[0].id).toBe(newest.id);
  });

  it("refuses to re-send a delivery whose endpoint was deleted (409 invalid_state)", async () => {
    const { slug, name } = await subscribed();
    await createPo(slug);
    await receivedBy(name, 1);
    const [delivery] = await deliveries(slug);
    await call("DELETE", endpointPath(slug));

    expectError(await call("POST", `${deliveriesPath(slug)}/${delivery.id}/retry`), 409, "invalid_state");
  });
});
