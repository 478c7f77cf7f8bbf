import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeDb } from "../../src/db/client";
import worker from "../../src/index";
import { pruneStorage, SYNC_RUNS_KEPT_PER_CONFERENCE } from "../../src/sync/pruning";

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();
const minutesFromNow = (minutes: number) => new Date(Date.now() + minutes * 60_000).toISOString();

async function runDailyCron() {
  const ctrl = createScheduledController({ scheduledTime: Date.now(), cron: "0 3 * * *" });
  const ctx = createExecutionContext();
  await worker.scheduled(ctrl, env, ctx);
  await waitOnExecutionContext(ctx);
}

async function column<T>(query: string, ...params: unknown[]): Promise<T[]> {
  const rows = await env.DB.prepare(query)
    .bind(...params)
    .raw<[T]>();
  return rows.map((r) => r[0]);
}

async function insertWebhookEvent(key: string, receivedAt: string) {
  await env.DB.prepare("INSERT INTO webhook_events (event_key, realm_id, received_at) VALUES (?, '1', ?)")
    .bind(key, receivedAt)
    .run();
}

async function insertOauthState(nonce: string, expiresAt: string, usedAt: string | null) {
  await env.DB.prepare(
    "INSERT INTO oauth_states (nonce, conference_slug, expires_at, used_at) VALUES (?, 'prune-conf', ?, ?)",
  )
    .bind(nonce, expiresAt, usedAt)
    .run();
}

async function insertMessageError(key: string, updatedAt: string) {
  await env.DB.prepare(
    "INSERT INTO sync_message_errors (message_key, error, attempts, updated_at) VALUES (?, 'QBO 503', 2, ?)",
  )
    .bind(key, updatedAt)
    .run();
}

/** `count` runs of one conference in a single statement. */
async function insertSyncRuns(slug: string, count: number) {
  await env.DB.prepare(
    `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
     INSERT INTO sync_runs (conference_slug, trigger, started_at, finished_at) SELECT ?, 'cron', ?, ? FROM n`,
  )
    .bind(count, slug, daysAgo(1), daysAgo(1))
    .run();
}

async function insertConference(slug: string, realmId: string) {
  const now = new Date().toISOString();
  await env.DB.prepare(
    "INSERT INTO conferences (slug, name, qbo_realm_id, qbo_environment, created_at, updated_at) VALUES (?, ?, ?, 'sandbox', ?, ?)",
  )
    .bind(slug, slug, realmId, now, now)
    .run();
}

async function insertInvoicedPo(
  slug: string,
  reference: string,
  realmId: string,
  invoiceId: string,
  lastSyncedAt: string | null,
) {
  const now = new Date().toISOString();
  await env.DB.prepare(
    `INSERT INTO purchase_orders (reference, conference_slug, status, organization_name, contact_name, contact_email,
       total_cents, qbo_invoice_id, qbo_realm_id, qbo_last_synced_at, created_at, updated_at)
     VALUES (?, ?, 'sent', 'Acme', 'Ada', 'ada@acme.test', 10000, ?, ?, ?, ?, ?)`,
  )
    .bind(reference, slug, invoiceId, realmId, lastSyncedAt, now, now)
    .run();
}

async function insertFailure(
  key: string,
  where: { conference?: string; realm?: string },
  invoiceIds: string[],
  failedAt: string,
) {
  await env.DB.prepare(
    `INSERT INTO sync_failures (message_key, conference_slug, realm_id, invoice_ids, error, attempts, failed_at)
     VALUES (?, ?, ?, ?, 'QBO 503', 5, ?)`,
  )
    .bind(key, where.conference ?? null, where.realm ?? null, JSON.stringify(invoiceIds), failedAt)
    .run();
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the daily cron prunes the tables that only grow", () => {
  it("removes exactly the old, spent, excess and resolved rows, and logs the counts", async () => {
    // Replay keys: 30 days are kept.
    await insertWebhookEvent("evt-old-31d", daysAgo(31));
    await insertWebhookEvent("evt-old-400d", daysAgo(400));
    await insertWebhookEvent("evt-fresh-29d", daysAgo(29));
    await insertWebhookEvent("evt-fresh-now", new Date().toISOString());

    // OAuth states: only a live, unused one survives.
    await insertOauthState("state-expired", minutesFromNow(-1), null);
    await insertOauthState("state-used", minutesFromNow(5), minutesFromNow(-4));
    await insertOauthState("state-used-expired", minutesFromNow(-20), minutesFromNow(-25));
    await insertOauthState("state-live", minutesFromNow(9), null);

    // Retry bookkeeping: 90 days.
    await insertMessageError("msg-stale", daysAgo(91));
    await insertMessageError("msg-recent", daysAgo(89));
    await insertMessageError("msg-now", new Date().toISOString());

    // Sync runs: the newest 1,000 per conference, ids interleaved between conferences.
    await insertSyncRuns("runs-big", 600);
    await insertSyncRuns("runs-small", 40);
    await insertSyncRuns("runs-big", 605);
    const bigIds = await column<number>(
      "SELECT id FROM sync_runs WHERE conference_slug = 'runs-big' ORDER BY id DESC",
    );
    const smallIds = await column<number>(
      "SELECT id FROM sync_runs WHERE conference_slug = 'runs-small' ORDER BY id",
    );
    expect(bigIds).toHaveLength(1205);

    // Failures: resolved when none of their invoices has a PO that was not synced since.
    await insertConference("fail-conf", "8001");
    await insertConference("fail-other", "8002");
    const failedAt = daysAgo(100);
    await insertInvoicedPo("fail-conf", "PO-PRN001", "8001", "101", daysAgo(10)); // synced since
    await insertInvoicedPo("fail-conf", "PO-PRN002", "8001", "102", daysAgo(120)); // synced before only
    await insertInvoicedPo("fail-conf", "PO-PRN003", "8001", "103", null); // never synced
    await insertInvoicedPo("fail-other", "PO-PRN004", "8002", "104", null);
    await insertFailure("f-conf-synced-since", { conference: "fail-conf" }, ["101"], failedAt);
    await insertFailure("f-conf-no-po", { conference: "fail-conf" }, ["999"], failedAt);
    await insertFailure("f-conf-other-conference-po", { conference: "fail-conf" }, ["104"], failedAt);
    await insertFailure("f-realm-synced-since", { realm: "8001" }, ["101"], failedAt);
    await insertFailure("f-realm-no-po-in-realm", { realm: "8002" }, ["101"], failedAt);
    await insertFailure("f-realm-no-invoices", { realm: "8001" }, [], failedAt);
    await insertFailure("f-conf-one-unsynced", { conference: "fail-conf" }, ["101", "102"], failedAt);
    await insertFailure("f-conf-never-synced", { conference: "fail-conf" }, ["103"], failedAt);
    await insertFailure("f-realm-unsynced", { realm: "8001" }, ["102"], failedAt);
    await insertFailure("f-realm-other-never-synced", { realm: "8002" }, ["104"], failedAt);
    await insertFailure("f-recent-resolved", { conference: "fail-conf" }, ["999"], daysAgo(89));

    const logs = vi.spyOn(console, "log");
    await runDailyCron();

    expect(await column("SELECT event_key FROM webhook_events ORDER BY event_key")).toEqual([
      "evt-fresh-29d",
      "evt-fresh-now",
    ]);
    expect(await column("SELECT nonce FROM oauth_states")).toEqual(["state-live"]);
    expect(await column("SELECT message_key FROM sync_message_errors ORDER BY message_key")).toEqual([
      "msg-now",
      "msg-recent",
    ]);
    expect(
      await column<number>("SELECT id FROM sync_runs WHERE conference_slug = 'runs-big' ORDER BY id DESC"),
    ).toEqual(bigIds.slice(0, SYNC_RUNS_KEPT_PER_CONFERENCE));
    expect(
      await column<number>("SELECT id FROM sync_runs WHERE conference_slug = 'runs-small' ORDER BY id"),
    ).toEqual(smallIds);
    // (The daily cron's full sync also records failures of its own for these token-less conferences.)
    expect(
      await column("SELECT message_key FROM sync_failures WHERE message_key LIKE 'f-%' ORDER BY message_key"),
    ).toEqual([
      "f-conf-never-synced",
      "f-conf-one-unsynced",
      "f-realm-other-never-synced",
      "f-realm-unsynced",
      "f-recent-resolved",
    ]);

    const pruned = logs.mock.calls
      .map(([line]) => JSON.parse(String(line)))
      .find((entry) => entry.event === "cron.pruned");
    expect(pruned).toEqual({
      level: "info",
      event: "cron.pruned",
      webhookEvents: 2,
      oauthStates: 3,
      syncRuns: 205,
      syncFailures: 6,
      syncMessageErrors: 1,
      idempotencyKeys: 0,
      webhookDeliveries: 0,
      cdcChanges: 0,
      complete: true,
    });

    // A second run finds nothing more to do.
    expect(await pruneStorage(makeDb(env.DB))).toEqual({
      webhookEvents: 0,
      oauthStates: 0,
      syncRuns: 0,
      syncFailures: 0,
      syncMessageErrors: 0,
      idempotencyKeys: 0,
      webhookDeliveries: 0,
      cdcChanges: 0,
      complete: true,
    });
  });

  it("works through a backlog in bounded batches, finishing it on later runs", async () => {
    for (let i = 0; i < 25; i++) await insertWebhookEvent(`backlog-${i}`, daysAgo(40 + i));
    const db = makeDb(env.DB);
    const limits = { batchRows: 4, maxStatementsPerTable: 3 };

    const first = await pruneStorage(db, new Date(), limits);
    expect(first).toMatchObject({ webhookEvents: 12, complete: false });
    // Oldest first: the 12 oldest are gone.
    const left = await column<string>(
      "SELECT event_key FROM webhook_events WHERE event_key LIKE 'backlog-%'",
    );
    expect(left.sort()).toEqual(Array.from({ length: 13 }, (_, i) => `backlog-${i}`).sort());

    expect(await pruneStorage(db, new Date(), limits)).toMatchObject({ webhookEvents: 12, complete: false });
    expect(await pruneStorage(db, new Date(), limits)).toMatchObject({ webhookEvents: 1 });
    expect(await column("SELECT event_key FROM webhook_events WHERE event_key LIKE 'backlog-%'")).toEqual([]);
  });

  it("keeps pruning the other tables when one of them fails", async () => {
    await insertWebhookEvent("evt-after-failure", daysAgo(45));
    await insertMessageError("msg-after-failure", daysAgo(120));
    const db = makeDb(env.DB);
    // One table made unusable for the length of one run.
    await env.DB.exec("ALTER TABLE sync_failures RENAME TO sync_failures_away");
    try {
      const counts = await pruneStorage(db);
      expect(counts).toMatchObject({
        webhookEvents: 1,
        syncMessageErrors: 1,
        syncFailures: 0,
        complete: false,
      });
    } finally {
      await env.DB.exec("ALTER TABLE sync_failures_away RENAME TO sync_failures");
    }
  });
});
