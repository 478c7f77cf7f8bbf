/**
 * The outbox's cron paths (SPEC §12), through the Worker's scheduled handler: the 15-minute
 * cron drains what no request drained and re-sends deliveries whose queue message was lost; the
 * daily cron prunes finished deliveries after 30 days. Whole-deployment (vitest.config.ts): the
 * crons act on every conference, and the pruning test counts rows of the whole table.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { handleQueueBatch } from "../../src/sync/consumer";
import { KEEPALIVE_CRON, RECONCILE_CRON } from "../../src/sync/planner";
import { call, createConference, createPo, emulator, paths, unique } from "../helpers";

const DAY = 86_400_000;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

async function runCron(cron: string) {
  const ctrl = createScheduledController({ scheduledTime: Date.now(), cron });
  const ctx = createExecutionContext();
  await worker.scheduled(ctrl, env, ctx);
  await waitOnExecutionContext(ctx);
}

async function subscribed() {
  const slug = await createConference();
  const name = unique("rcv");
  const res = await call("PUT", `${paths.conference(slug)}/event-endpoint`, {
    url: emulator().receiverUrl(name),
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { slug, name };
}

async function received(name: string) {
  return (await emulator().received(name)).received as { headers: Record<string, string>; body: string }[];
}

async function receivedBy(name: string, atLeast: number) {
  return vi.waitFor(
    async () => {
      const got = await received(name);
      if (got.length < atLeast) throw new Error(`${got.length} of ${atLeast} received`);
      return got;
    },
    { timeout: 15_000, interval: 100 },
  );
}

async function deliveries(slug: string) {
  return (await call("GET", `${paths.conference(slug)}/event-endpoint/deliveries`)).body.items as any[];
}

async function poIdOf(slug: string, reference: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT id FROM purchase_orders WHERE conference_slug = ? AND reference = ?",
  )
    .bind(slug, reference)
    .first<{ id: number }>();
  return row?.id ?? 0;
}

describe("the 15-minute cron", () => {
  it("delivers events written without the API middleware: a timeline row and a dead-lettered sync", async () => {
    const { slug, name } = await subscribed();
    const po = await createPo(slug);
    await receivedBy(name, 1); // po.created, drained by the middleware after the POST

    // A timeline row written off-request (as reconciliation in the queue consumer writes them)…
    await env.DB.prepare(
      `INSERT INTO po_events (purchase_order_id, conference_slug, at, type, actor_type, data)
       VALUES (?, ?, ?, 'qbo.discrepancy', 'system', json_object('reference', ?))`,
    )
      .bind(await poIdOf(slug, po.reference), slug, new Date().toISOString(), po.reference)
      .run();
    // …and a dead letter, handled by the consumer function alone (the queue handler would drain).
    const body = {
      type: "invoices",
      key: crypto.randomUUID(),
      conference: slug,
      trigger: "cron",
      invoiceIds: ["9"],
    };
    const message = { id: body.key, timestamp: new Date(), attempts: 3, body, ack: vi.fn(), retry: vi.fn() };
    await handleQueueBatch(
      {
        queue: "qbo-sync-dlq",
        messages: [message],
        ackAll: vi.fn(),
        retryAll: vi.fn(),
      } as unknown as MessageBatch,
      env,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await received(name)).toHaveLength(1);

    await runCron(RECONCILE_CRON);

    const got = await receivedBy(name, 3);
    expect(got.map((r) => JSON.parse(r.body).type).sort()).toEqual([
      "po.created",
      "qbo.discrepancy",
      "sync.failed",
    ]);
  });

  it("re-sends a pending delivery whose attempt is long overdue, with the same webhook-id", async () => {
    const { slug, name } = await subscribed();
    await createPo(slug);
    const [first] = await receivedBy(name, 1);
    const [row] = await deliveries(slug);
    expect(row).toMatchObject({ status: "delivered", attempts: 1 });
    // The message of a retry was lost: the row is pending and 10 minutes past due.
    await env.DB.prepare(
      "UPDATE event_deliveries SET status = 'pending', next_attempt_at = ?, last_status = 500 WHERE id = ?",
    )
      .bind(ago(10 * 60_000), row.id)
      .run();

    const pending = await call("GET", `${paths.conference(slug)}/event-endpoint/deliveries?status=pending`);
    expect(pending.body.items.map((d: { id: number }) => d.id)).toEqual([row.id]);

    await runCron(RECONCILE_CRON);

    const got = await receivedBy(name, 2);
    expect(got[1]?.headers["webhook-id"]).toBe(first?.headers["webhook-id"]);
    await vi.waitFor(
      async () => expect((await deliveries(slug))[0]).toMatchObject({ status: "delivered", attempts: 2 }),
      {
        timeout: 5_000,
      },
    );
  });
});

describe("the daily cron", () => {
  it("prunes finished deliveries older than 30 days and keeps recent and pending ones", async () => {
    const { slug } = await subscribed();
    const po = await createPo(slug);
    const eventId = (
      await env.DB.prepare("SELECT id FROM po_events WHERE purchase_order_id = ?")
        .bind(await poIdOf(slug, po.reference))
        .first<{ id: number }>()
    )?.id;
    const cases: [string, string, string][] = [
      ["old-delivered", "delivered", ago(31 * DAY)],
      ["old-failed", "failed", ago(31 * DAY)],
      ["old-disabled", "disabled", ago(40 * DAY)],
      ["recent-delivered", "delivered", ago(29 * DAY)],
      ["old-pending", "pending", ago(31 * DAY)],
    ];
    for (const [endpointId, status, at] of cases) {
      await env.DB.prepare(
        `INSERT INTO event_deliveries (endpoint_id, conference_slug, event_id, type, status, attempts,
           next_attempt_at, expires_at, created_at, updated_at)
         VALUES (?, ?, ?, 'po.created', ?, 1, NULL, ?, ?, ?)`,
      )
        .bind(endpointId, slug, eventId, status, at, at, at)
        .run();
    }

    await runCron(KEEPALIVE_CRON);

    const left = await env.DB.prepare(
      "SELECT endpoint_id FROM event_deliveries WHERE endpoint_id IN (?, ?, ?, ?, ?)",
    )
      .bind(...cases.map(([id]) => id))
      .raw<[string]>();
    expect(left.map(([id]) => id).sort()).toEqual(["old-pending", "recent-delivered"]);
    // The delivery the API itself made today stays too.
    expect((await deliveries(slug)).some((d) => d.type === "po.created" && d.status === "delivered")).toBe(
      true,
    );
  });
});
