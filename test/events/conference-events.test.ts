/**
 * Conference-level events (SPEC §12: `sync.failed`, `qbo.reconnect_required`) delivered like
 * PO events, inside workerd, to a named receiver of the QBO emulator: written once per thing
 * they report, drained from their own cursor, sent with a `cevt_` webhook id.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { makeDb } from "../../src/db/client";
import { listConferenceEvents } from "../../src/db/conference-events";
import { drainConference } from "../../src/events/drain";
import { verifySignature } from "../../src/events/signing";
import { handleQueueBatch } from "../../src/sync/consumer";
import { call, connectedConference, createPo, emulator, expectError, paths, unique } from "../helpers";

const endpointPath = (slug: string) => `${paths.conference(slug)}/event-endpoint`;
const past = () => new Date(Date.now() - 60_000).toISOString();

interface Received {
  headers: Record<string, string>;
  body: string;
}

/** Points the conference's endpoint at a fresh named receiver. */
async function subscribe(slug: string, events?: string[]) {
  const name = unique("rcv");
  const res = await call("PUT", endpointPath(slug), {
    url: emulator().receiverUrl(name),
    ...(events ? { events } : {}),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { name, secret: res.body.secret as string };
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

/** Gives a straggler (a duplicate that should not exist) the time to arrive. */
async function settle(name: string, expected: number): Promise<Received[]> {
  const got = await receivedBy(name, expected);
  await new Promise((r) => setTimeout(r, 500));
  const { received } = await emulator().received(name);
  expect(received.length).toBe(got.length);
  return received;
}

/** A batch of the sync dead-letter queue holding `bodies`, each once. */
function deadLetters(bodies: Record<string, unknown>[]) {
  const messages = bodies.map((body, i) => ({
    id: `dl-${i}-${crypto.randomUUID()}`,
    timestamp: new Date(),
    attempts: 3,
    body,
    ack: vi.fn(),
    retry: vi.fn(),
  }));
  return {
    queue: "qbo-sync-dlq",
    messages,
    ackAll: vi.fn(),
    retryAll: vi.fn(),
  } as unknown as MessageBatch<unknown>;
}

describe("sync.failed", () => {
  it("delivers exactly one sync.failed for a dead-lettered sync, even when the dead letter arrives twice", async () => {
    const { slug } = await connectedConference();
    const { name, secret } = await subscribe(slug, ["sync.failed"]);
    const body = {
      type: "invoices",
      key: crypto.randomUUID(),
      conference: slug,
      trigger: "cron",
      invoiceIds: ["42"],
    };

    await handleQueueBatch(deadLetters([body]), env);
    await handleQueueBatch(deadLetters([body]), env); // the queue delivered the dead letter again
    await drainConference(env, makeDb(env.DB), slug);
    await drainConference(env, makeDb(env.DB), slug);

    const [got] = await settle(name, 1);
    expect(await listConferenceEvents(makeDb(env.DB), slug)).toHaveLength(1);
    const payload = JSON.parse(got?.body ?? "");
    expect(got?.headers["webhook-id"]).toBe(payload.id);
    expect(payload.id).toMatch(/^cevt_\d+$/);
    expect(payload).toMatchObject({
      type: "sync.failed",
      conference: slug,
      data: { invoiceIds: ["42"], attempts: 3, realmId: null },
    });
    expect(typeof payload.data.error).toBe("string");
    expect(typeof payload.occurredAt).toBe("string");
    expect(
      await verifySignature(
        secret,
        {
          id: got?.headers["webhook-id"] ?? "",
          timestamp: got?.headers["webhook-timestamp"] ?? "",
          signature: got?.headers["webhook-signature"] ?? "",
        },
        got?.body ?? "",
        Math.floor(Date.now() / 1000),
      ),
    ).toBe(true);

    const listed = (await call("GET", `${endpointPath(slug)}/deliveries`)).body.items;
    expect(listed).toMatchObject([{ eventId: payload.id, type: "sync.failed", status: "delivered" }]);
  });

  it("reports a dead-lettered webhook batch (a realm, no conference) to the conference connected to that realm", async () => {
    const { slug, realmId } = await connectedConference();
    const { name } = await subscribe(slug);
    const body = { type: "events", key: crypto.randomUUID(), realmId, paymentIds: ["7"], invoiceIds: ["8"] };

    await handleQueueBatch(deadLetters([body]), env);
    await drainConference(env, makeDb(env.DB), slug);

    const [got] = await settle(name, 1);
    expect(JSON.parse(got?.body ?? "")).toMatchObject({
      type: "sync.failed",
      conference: slug,
      data: { realmId, invoiceIds: ["8"] },
    });
  });

  it("is not delivered to an endpoint that subscribes to PO events only", async () => {
    const { slug } = await connectedConference();
    const { name } = await subscribe(slug, ["po.*"]);
    const body = {
      type: "invoices",
      key: crypto.randomUUID(),
      conference: slug,
      trigger: "cron",
      invoiceIds: ["1"],
    };
    await handleQueueBatch(deadLetters([body]), env);
    await drainConference(env, makeDb(env.DB), slug);
    await createPo(slug); // a subscribed event after it, so the drain has something to send
    await drainConference(env, makeDb(env.DB), slug);

    const received = await settle(name, 1);
    expect(received.map((r) => JSON.parse(r.body).type)).toEqual(["po.created"]);
  });
});

describe("qbo.reconnect_required", () => {
  it("delivers one qbo.reconnect_required when a refresh meets invalid_grant, however many requests meet the dead grant", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    const { name } = await subscribe(slug, ["qbo.*"]);
    await emulator().revokeRefreshTokens(realmId);
    const po = await createPo(slug);

    expectError(await call("POST", paths.qboInvoice(slug, po.reference), {}), 409, "qbo_reconnect_required");
    expectError(await call("POST", paths.qboInvoice(slug, po.reference), {}), 409, "qbo_reconnect_required");

    const [got] = await settle(name, 1);
    const payload = JSON.parse(got?.body ?? "");
    expect(got?.headers["webhook-id"]).toBe(payload.id);
    expect(payload).toMatchObject({
      id: expect.stringMatching(/^cevt_\d+$/),
      type: "qbo.reconnect_required",
      conference: slug,
      data: { cause: "invalid_grant", realmId },
    });
    expect(payload.data.message).toContain("reconnect");
  });

  it("reports a new episode after a reconnect and a second invalid_grant", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    const { name } = await subscribe(slug, ["qbo.reconnect_required"]);
    await emulator().revokeRefreshTokens(realmId);
    const po = await createPo(slug);
    expectError(await call("POST", paths.qboInvoice(slug, po.reference), {}), 409, "qbo_reconnect_required");
    await receivedBy(name, 1);

    const grant = await emulator().issueTokens(realmId);
    const stored = await call("PUT", paths.qboTokens(slug), {
      realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: past(),
    });
    expect(stored.status).toBe(200);
    await emulator().revokeRefreshTokens(realmId);
    expectError(await call("POST", paths.qboInvoice(slug, po.reference), {}), 409, "qbo_reconnect_required");

    const received = await settle(name, 2);
    const ids = received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(2);
  });
});
