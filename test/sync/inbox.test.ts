/**
 * The webhook inbox (SPEC §10): a verified delivery is in D1 and answered 200 before anything is
 * queued, whatever the queue does; the inbox is drained after the response and re-driven by the
 * cron; rows leave only once queued. Runs in its own workerd (worker-cron): it asserts over the
 * whole inbox.
 */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { makeDb } from "../../src/db/client";
import { redriveInbox } from "../../src/sync/inbox";
import { pruneStorage } from "../../src/sync/pruning";
import { createConference, expectError, sign } from "../helpers";

const REALM_A = "9130000000000001";
const REALM_B = "9130000000000002";
const UNKNOWN_REALM = "9130000000000999";

/** A queue that records what it is given, or refuses every send (`failing`). */
function testQueue(failing = false) {
  const sent: any[] = [];
  let attempts = 0;
  const queue = {
    send: async (body: unknown) => {
      attempts++;
      if (failing) throw new Error("Queue send failed");
      sent.push(body);
    },
    sendBatch: async (messages: { body: unknown }[]) => {
      attempts++;
      if (failing) throw new Error("Queue sendBatch failed");
      sent.push(...messages.map((m) => m.body));
    },
  } as unknown as Queue;
  return { queue, sent, attempts: () => attempts };
}

async function post(
  body: string,
  opts: { queue?: Queue; contentType?: string | null; signature?: string; db?: unknown; env?: Env } = {},
) {
  const headers: Record<string, string> = { "intuit-signature": opts.signature ?? (await sign(body)) };
  if (opts.contentType !== null) headers["content-type"] = opts.contentType ?? "application/json";
  const ctx = createExecutionContext();
  const started = performance.now();
  const res = await createApp().fetch(
    new Request("http://worker.test/webhooks/qbo", { method: "POST", body, headers }),
    opts.env ??
      ({
        ...env,
        SYNC_QUEUE: opts.queue ?? testQueue().queue,
        ...(opts.db ? { DB: opts.db } : {}),
      } as unknown as Env),
    ctx,
  );
  const answeredMs = performance.now() - started;
  const json = (await res.json()) as any;
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: json, answeredMs };
}

const count = async (table: string) =>
  (await env.DB.prepare(`SELECT COUNT(*) AS n FROM ${table}`).first<{ n: number }>())?.n ?? 0;

const classic = (realmId: string, entities: unknown[]) =>
  JSON.stringify({ eventNotifications: [{ realmId, dataChangeEvent: { entities } }] });

let seq = 0;
const cloudEvent = (realmId: string, type: string, id: string, data: unknown = {}) => ({
  specversion: "1.0",
  id: `ce-${++seq}-${crypto.randomUUID()}`,
  source: "intuit.dsnBgbseACLLRZNxo2dfc4evmEJdxde58xeeYcZliOU=",
  type,
  datacontenttype: "application/json",
  time: "2026-12-01T10:00:00.123456789Z",
  intuitentityid: id,
  intuitaccountid: realmId,
  data,
});

beforeAll(async () => {
  await createConference("inbox-a", { name: "Inbox A", qbo: { realmId: REALM_A, environment: "sandbox" } });
  await createConference("inbox-b", { name: "Inbox B", qbo: { realmId: REALM_B, environment: "sandbox" } });
});

describe("the webhook inbox", () => {
  it("answers 200 while every queue send fails, keeps the delivery, and the cron's re-drive queues it", async () => {
    const failing = testQueue(true);
    const body = classic(REALM_A, [
      { name: "Payment", id: "7001", operation: "Create", lastUpdated: "2026-12-01T10:00:00-0800" },
      { name: "Invoice", id: "7002", operation: "Void", lastUpdated: "2026-12-01T10:00:01-0800" },
    ]);
    const res = await post(body, { queue: failing.queue });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "accepted", received: 2, skipped: 0 });
    expect(failing.attempts()).toBe(1); // the drain after the response tried, and failed
    expect(await count("webhook_inbox")).toBe(1);

    // Within the drain's lease the cron leaves the row alone; after it, the cron takes it.
    const working = testQueue();
    expect(await redriveInbox({ ...env, SYNC_QUEUE: working.queue }, makeDb(env.DB))).toEqual({
      drained: 0,
      left: 0,
    });
    const later = new Date(Date.now() + 61_000);
    expect(await redriveInbox({ ...env, SYNC_QUEUE: working.queue }, makeDb(env.DB), later)).toEqual({
      drained: 1,
      left: 0,
    });
    // The failed drain had claimed the replay keys: its own re-drive is not taken for a replay.
    expect(working.sent).toEqual([
      expect.objectContaining({
        type: "events",
        realmId: REALM_A,
        paymentIds: ["7001"],
        invoiceIds: ["7002"],
      }),
    ]);
    expect(await count("webhook_inbox")).toBe(0);
    const delivered = await env.DB.prepare(
      "SELECT entity, entity_id AS id, last_updated AS t FROM webhook_deliveries WHERE realm_id = ? ORDER BY entity",
    )
      .bind(REALM_A)
      .all();
    expect(delivered.results).toEqual([
      { entity: "Invoice", id: "7002", t: Date.parse("2026-12-01T18:00:01Z") / 1000 },
      { entity: "Payment", id: "7001", t: Date.parse("2026-12-01T18:00:00Z") / 1000 },
    ]);

    // Intuit's retry of the same delivery (had our 200 been lost) queues nothing twice.
    const again = testQueue();
    expect((await post(body, { queue: again.queue })).status).toBe(200);
    expect(again.sent).toEqual([]);
    expect(await count("webhook_inbox")).toBe(0);
  });

  it("takes 100 CloudEvents for three realms as application/cloudevents+json: one message per known realm", async () => {
    const events = [
      ...Array.from({ length: 40 }, (_, i) => cloudEvent(REALM_A, "qbo.payment.created.v1", `${8000 + i}`)),
      ...Array.from({ length: 30 }, (_, i) =>
        cloudEvent(REALM_B, i % 2 ? "qbo.invoice.voided.v1" : "qbo.invoice.void.v1", `${8100 + i}`, {
          alternative_ids: [{ id: "x" }],
        }),
      ),
      ...Array.from({ length: 10 }, (_, i) => cloudEvent(REALM_B, "qbo.invoice.emailed.v1", `${8200 + i}`)),
      ...Array.from({ length: 10 }, (_, i) =>
        cloudEvent(UNKNOWN_REALM, "qbo.payment.created.v1", `${8300 + i}`),
      ),
      ...Array.from({ length: 9 }, (_, i) => cloudEvent(REALM_A, "qbo.invoice.created.v1", `${8400 + i}`)),
      cloudEvent(REALM_A, "qbo.customer.merged.v1", "55", { deletedid: "54", other: { nested: true } }),
    ];
    expect(events).toHaveLength(100);
    const queue = testQueue();
    const res = await post(JSON.stringify(events), {
      queue: queue.queue,
      contentType: "application/cloudevents+json",
    });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "accepted", received: 100, skipped: 0 });
    expect(queue.sent).toHaveLength(2);
    const byRealm = Object.fromEntries(queue.sent.map((m) => [m.realmId, m]));
    expect(Object.keys(byRealm).sort()).toEqual([REALM_A, REALM_B]);
    expect(byRealm[REALM_A].paymentIds).toHaveLength(40);
    expect(byRealm[REALM_A].invoiceIds).toEqual([]); // Invoice Create: of no interest
    expect(byRealm[REALM_B].invoiceIds).toHaveLength(40); // void, voided and emailed alike
    expect(await count("webhook_inbox")).toBe(0);
  });

  it("takes a classic delivery with no Content-Type at all", async () => {
    const queue = testQueue();
    const res = await post(classic(REALM_B, [{ name: "Invoice", id: "9001", operation: "Update" }]), {
      queue: queue.queue,
      contentType: null,
    });
    expect(res.status).toBe(200);
    expect(queue.sent).toEqual([expect.objectContaining({ realmId: REALM_B, invoiceIds: ["9001"] })]);
  });

  it("splits a classic delivery of 2,500 events into inbox rows of 1,000 and queues every one", async () => {
    const queue = testQueue();
    const entities = Array.from({ length: 2_500 }, (_, i) => ({
      name: "Invoice",
      id: `${20_000 + i}`,
      operation: "Update",
      lastUpdated: "2026-12-01T10:00:00Z",
    }));
    const res = await post(classic(REALM_A, entities), { queue: queue.queue });
    expect(res.status).toBe(200);
    expect(res.body.received).toBe(2_500);
    const ids = queue.sent.flatMap((m) => m.invoiceIds);
    expect(new Set(ids).size).toBe(2_500);
    expect(await count("webhook_inbox")).toBe(0);
  });

  it("answers 401 to a bad signature and writes nothing", async () => {
    const before = await count("webhook_inbox");
    const body = classic(REALM_A, [{ name: "Payment", id: "9100", operation: "Create" }]);
    const res = await post(body, { signature: await sign(body, "not-the-verifier") });
    expectError(res, 401, "unauthorized");
    expect(await count("webhook_inbox")).toBe(before);
  });

  it("answers 503 when D1 cannot take the delivery, so Intuit retries it", async () => {
    const downDb = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare" || prop === "batch")
          return () => {
            throw new Error("D1_ERROR: database unavailable");
          };
        return Reflect.get(target, prop, target);
      },
    });
    const res = await post(classic(REALM_A, [{ name: "Payment", id: "9200", operation: "Create" }]), {
      db: downDb,
    });
    expectError(res, 503, "qbo_unavailable");
  });

  it("prunes the deliveries and change-feed findings behind webhooksMissed after 30 days", async () => {
    const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
    const fresh = new Date(Date.now() - 29 * 86_400_000).toISOString();
    for (const [id, at] of [
      ["old", old],
      ["fresh", fresh],
    ]) {
      await env.DB.prepare(
        "INSERT INTO webhook_deliveries (realm_id, entity, entity_id, last_updated, received_at) VALUES ('p', 'Invoice', ?, 1, ?)",
      )
        .bind(id, at)
        .run();
      await env.DB.prepare(
        "INSERT INTO cdc_changes (conference_slug, realm_id, entity, entity_id, last_updated, found_at) VALUES ('inbox-a', 'p', 'Invoice', ?, 1, ?)",
      )
        .bind(id, at)
        .run();
    }
    const counts = await pruneStorage(makeDb(env.DB));
    expect(counts).toMatchObject({ webhookDeliveries: 1, cdcChanges: 1 });
    const left = await env.DB.prepare(
      "SELECT entity_id FROM webhook_deliveries WHERE realm_id = 'p' UNION ALL SELECT entity_id FROM cdc_changes WHERE realm_id = 'p'",
    ).raw();
    expect(left).toEqual([["fresh"], ["fresh"]]);
  });

  describe("concurrent deliveries (one Worker environment, as in one isolate)", () => {
    /** A D1 binding that counts the batches writing inbox rows, and can hold the first one back. */
    function watchedDb(holdFirstInsertMs = 0) {
      const seen = { inboxWrites: 0 };
      let held = false;
      const db = new Proxy(env.DB, {
        get(target, prop) {
          if (prop === "batch")
            return async (statements: D1PreparedStatement[]) => {
              const sqlOf = (st: D1PreparedStatement) => String((st as any).statement ?? "");
              const writesInbox = statements.some((st) => /insert into "webhook_inbox"/i.test(sqlOf(st)));
              if (writesInbox) {
                seen.inboxWrites++;
                if (holdFirstInsertMs > 0 && !held) {
                  held = true;
                  await new Promise((r) => setTimeout(r, holdFirstInsertMs));
                }
              }
              return target.batch(statements);
            };
          const value = Reflect.get(target, prop, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
      return { db, seen };
    }

    const payments = (first: number, n: number) =>
      classic(
        REALM_A,
        Array.from({ length: n }, (_, i) => ({
          name: "Payment",
          id: `${first + i}`,
          operation: "Create",
          lastUpdated: "2026-12-02T10:00:00Z",
        })),
      );

    it("writes 12 concurrent deliveries in fewer commits and drains them together, each event queued once", async () => {
      const queue = testQueue();
      const { db, seen } = watchedDb();
      const shared = { ...env, DB: db, SYNC_QUEUE: queue.queue } as unknown as Env;
      const answers = await Promise.all(
        Array.from({ length: 12 }, (_, d) => post(payments(30_000 + d * 10, 10), { env: shared })),
      );
      expect(answers.map((a) => a.status)).toEqual(Array(12).fill(200));
      // The first delivery writes alone; those that came during its INSERT are written together.
      expect(seen.inboxWrites).toBeGreaterThanOrEqual(2);
      expect(seen.inboxWrites).toBeLessThan(12);
      // Drained after the answers, together: far fewer queue batches than deliveries.
      expect(queue.attempts()).toBeLessThanOrEqual(3);
      const queued = queue.sent.flatMap((m) => m.paymentIds);
      expect(queued).toHaveLength(120);
      expect(new Set(queued).size).toBe(120);
      expect(await count("webhook_inbox")).toBe(0);
      const remembered = await env.DB.prepare(
        "SELECT COUNT(*) AS n FROM webhook_deliveries WHERE realm_id = ? AND entity_id BETWEEN '30000' AND '30119'",
      )
        .bind(REALM_A)
        .first<{ n: number }>();
      expect(remembered?.n).toBe(120);
      // Nobody wrote alone later: the deliveries written by the group are not written twice.
      await new Promise((r) => setTimeout(r, 2_200));
      expect(await count("webhook_inbox")).toBe(0);
      expect(seen.inboxWrites).toBeLessThan(12);
    });

    it("writes a delivery alone when the request writing for it is held up, and still queues it once", async () => {
      const queue = testQueue();
      const { db, seen } = watchedDb(3_000);
      const shared = { ...env, DB: db, SYNC_QUEUE: queue.queue } as unknown as Env;
      const first = post(payments(31_000, 3), { env: shared });
      await new Promise((r) => setTimeout(r, 20)); // the first request's INSERT is now held
      const second = await post(payments(31_100, 3), { env: shared });
      expect(second.status).toBe(200);
      expect(second.answeredMs).toBeGreaterThanOrEqual(1_900); // it waited for the group, then wrote alone
      expect(second.answeredMs).toBeLessThan(2_900); // not for the held INSERT
      expect((await first).status).toBe(200);
      const queued = queue.sent.flatMap((m) => m.paymentIds).sort();
      expect(queued).toEqual(["31000", "31001", "31002", "31100", "31101", "31102"]);
      // Withdrawn from the held group when it wrote alone: written once, drained, gone.
      expect(seen.inboxWrites).toBe(2);
      const rowsOf = "SELECT COUNT(*) AS n FROM webhook_inbox WHERE events LIKE '%\"31100\"%'";
      expect((await env.DB.prepare(rowsOf).first<{ n: number }>())?.n).toBe(0);
      const cron = testQueue();
      const later = new Date(Date.now() + 61_000);
      await redriveInbox({ ...env, SYNC_QUEUE: cron.queue }, makeDb(env.DB), later);
      expect(cron.sent.flatMap((m) => m.paymentIds).filter((id) => id.startsWith("311"))).toEqual([]);
      expect(await count("webhook_inbox")).toBe(0);
    });
  });
});
