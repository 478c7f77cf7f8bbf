import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  getQueueResult,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import type { QboConnection } from "../../src/connections/qbo-connection";
import worker from "../../src/index";
import { handleQueueBatch, retryDelaySeconds } from "../../src/sync/consumer";
import { call, connectedConference, emulator, invoicedPo, invoicesBatch, paths, UNTAXED } from "../helpers";

async function runCron(cron: string) {
  const ctrl = createScheduledController({ scheduledTime: Date.now(), cron });
  const ctx = createExecutionContext();
  await worker.scheduled(ctrl, env, ctx);
  await waitOnExecutionContext(ctx);
}

/**
 * Puts `count` invoiced POs straight into D1 against invoices seeded in the emulator (a
 * shortcut for volume; the sync path under test is the real one).
 */
async function seedOutstanding(
  slug: string,
  realmId: string,
  count: number,
  paidFraction: (i: number) => string,
) {
  const { ids } = await emulator().seedInvoices(realmId, {
    customerName: `Bulk ${slug}`,
    invoices: Array.from({ length: count }, (_, i) => ({ amount: "100.00", paid: paidFraction(i) })),
  });
  const now = new Date().toISOString();
  const statements = ids.map((invoiceId: string, i: number) =>
    env.DB.prepare(
      `INSERT INTO purchase_orders (reference, conference_slug, status, organization_name, contact_name, contact_email,
        total_cents, qbo_invoice_id, qbo_realm_id, created_at, updated_at)
       VALUES (?, ?, 'sent', 'Bulk', 'B', 'b@example.test', 10000, ?, ?, ?, ?)`,
    ).bind(
      `PO-${slug.slice(-2).toUpperCase()}${String(i).padStart(4, "0")}`.slice(0, 9),
      slug,
      invoiceId,
      realmId,
      now,
      now,
    ),
  );
  for (let i = 0; i < statements.length; i += 50) await env.DB.batch(statements.slice(i, i + 50));
  return ids as string[];
}

describe("the 15-minute reconcile cron", () => {
  it("reconciles 250 outstanding invoices across 2 conferences with at most 3 invoice queries per realm", async () => {
    const a = await connectedConference({ slug: "cron-aa" });
    const b = await connectedConference({ slug: "cron-bb" });
    await seedOutstanding(a.slug, a.realmId, 150, (i) => (i % 3 === 0 ? "40.00" : "100.00"));
    await seedOutstanding(b.slug, b.realmId, 100, () => "100.00");
    await emulator().resetStats(a.realmId);
    await emulator().resetStats(b.realmId);

    await runCron("*/15 * * * *");

    await vi.waitFor(
      async () => {
        const sa = (await call("GET", paths.qboSync(a.slug))).body;
        const sb = (await call("GET", paths.qboSync(b.slug))).body;
        expect(sa.outstanding).toBe(50); // the partially paid third stays outstanding
        expect(sb.outstanding).toBe(0);
      },
      { timeout: 20_000, interval: 200 },
    );
    for (const { realmId } of [a, b]) {
      const stats = await emulator().stats(realmId);
      expect(stats.requests.byOperation["query:Invoice"]).toBeLessThanOrEqual(3);
      expect(stats.requests.byOperation["read:invoice"] ?? 0).toBe(0);
    }
    const partial = await call("GET", paths.pos(a.slug, { status: "partially_paid", limit: 100 }));
    expect(partial.body.items).toHaveLength(50);
    expect(partial.body.items.every((p: any) => p.totalPaid === "40.00" && p.payments.length === 1)).toBe(
      true,
    );
    const totals = await env.DB.prepare(
      "SELECT COUNT(*) AS n, SUM(amount_cents) AS cents FROM payments p JOIN purchase_orders o ON o.id = p.purchase_order_id WHERE o.conference_slug IN (?, ?)",
    )
      .bind(a.slug, b.slug)
      .first<{ n: number; cents: number }>();
    expect(totals).toEqual({ n: 250, cents: 50 * 4000 + 200 * 10000 });

    // The daily full sync checks the 50 partial ones once more and records nothing more (the
    // 15-minute cron reads the change feed now that the realms have a checkpoint).
    const runsBefore = (await call("GET", paths.qboSync(a.slug))).body.lastRuns.length;
    await runCron("0 3 * * *");
    await vi.waitFor(
      async () => {
        const runs = (await call("GET", paths.qboSync(a.slug))).body.lastRuns;
        expect(runs.length).toBe(runsBefore + 1);
        expect(runs[0]).toMatchObject({ trigger: "cron", invoicesChecked: 50, paymentsRecorded: 0 });
      },
      { timeout: 10_000 },
    );
    const again = await env.DB.prepare(
      "SELECT COUNT(*) AS n FROM payments p JOIN purchase_orders o ON o.id = p.purchase_order_id WHERE o.conference_slug IN (?, ?)",
    )
      .bind(a.slug, b.slug)
      .first<{ n: number }>();
    expect(again?.n).toBe(250);
  }, 60_000);
});

describe("POST /api/conferences/{slug}/qbo/sync", () => {
  it("answers 202 and the queued work reconciles the conference", async () => {
    const { slug, realmId, invoiceId } = await invoicedPo(undefined, UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, {
      amount: "1200.00",
      webhook: false,
    });
    const res = await call("POST", paths.qboSync(slug));
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ queued: 1, invoices: 1 });
    await vi.waitFor(async () => {
      const status = (await call("GET", paths.qboSync(slug))).body;
      expect(status.outstanding).toBe(0);
      expect(status.lastRuns[0]).toMatchObject({
        trigger: "manual",
        invoicesChecked: 1,
        paymentsRecorded: 1,
      });
    });
    const list = await call("GET", paths.pos(slug, { qbo: "outstanding" }));
    expect(list.body.items).toEqual([]);
  });

  it("retries after 429 with Retry-After and completes without duplicates", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo(undefined, UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "600.00", webhook: false });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "throttle", times: 1, retryAfterSeconds: 1, match: { operation: "query:Invoice" } }],
    });
    await call("POST", paths.qboSync(slug));
    await vi.waitFor(
      async () => expect((await call("GET", paths.po(slug, reference))).body.totalPaid).toBe("600.00"),
      { timeout: 15_000, interval: 200 },
    );
    const stats = await emulator().stats(realmId);
    expect(stats.requests.byOperation["query:Invoice"]).toBe(2);
    expect((await call("GET", paths.po(slug, reference))).body.payments).toHaveLength(1);
    expect((await call("GET", paths.qboSync(slug))).body.failures).toEqual([]);
  });

  it("dead-letters a batch that keeps failing and shows it in the sync status, with every error it met", async () => {
    const { slug, realmId, invoiceId } = await invoicedPo(undefined, UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [
        { kind: "status", status: 502, times: 1, match: { operation: "query:Invoice" } },
        { kind: "status", status: 500, times: 100, match: { operation: "query:Invoice" } },
      ],
    });
    await call("POST", paths.qboSync(slug));
    await vi.waitFor(
      async () => {
        const status = (await call("GET", paths.qboSync(slug))).body;
        expect(status.failures).toHaveLength(1);
        expect(status.failures[0]).toMatchObject({ invoiceIds: [invoiceId], attempts: 3 });
        // The last attempts' 500 first, then the first attempt's 502: each once.
        expect(status.failures[0].error).toMatch(/HTTP 500.* · earlier: .*HTTP 502/);
        expect(status.failures[0].error.match(/HTTP 500/g)).toHaveLength(1);
      },
      { timeout: 25_000, interval: 250 },
    );
    await emulator().clearFaults(realmId);
  }, 30_000);
});

describe("the queue consumer, message by message", () => {
  it("records a permanent failure at once, with its reason, and acks it", async () => {
    const { slug, invoiceId } = await invoicedPo(undefined, UNTAXED);
    expect((await call("DELETE", `/api/conferences/${slug}/qbo/tokens`)).status).toBe(204);
    const { message, batch } = invoicesBatch(slug, [invoiceId]);

    await handleQueueBatch(batch, env);

    expect(message.ack).toHaveBeenCalled();
    expect(message.retry).not.toHaveBeenCalled();
    const failures = (await call("GET", paths.qboSync(slug))).body.failures;
    expect(failures).toMatchObject([{ invoiceIds: [invoiceId], attempts: 1 }]);
    expect(failures[0].error).toContain("not connected");
  });

  it("acks a message it cannot parse instead of retrying it forever", async () => {
    const batch = createMessageBatch("qbo-sync", [
      { id: "bad-1", timestamp: new Date(), attempts: 1, body: { type: "nope" } },
    ]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env, ctx);
    const result = await getQueueResult(batch, ctx);
    expect(result.explicitAcks).toEqual(["bad-1"]);
    expect(result.retryMessages).toEqual([]);
  });

  it("retries a throttled message after the Retry-After QBO gave", async () => {
    const { slug, realmId, invoiceId } = await invoicedPo(undefined, UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "throttle", times: 1, retryAfterSeconds: 42, match: { operation: "query:Invoice" } }],
    });
    // A hand-made batch, so the options given to retry() can be seen.
    const { message, batch } = invoicesBatch(slug, [invoiceId]);
    await handleQueueBatch(batch, env);
    expect(message.retry).toHaveBeenCalledWith({ delaySeconds: 42 });
    expect(message.ack).not.toHaveBeenCalled();
  });

  it("backs off 1, 2, 4… seconds (capped) when QBO gives no Retry-After", () => {
    expect([1, 2, 3, 4, 12].map((a) => retryDelaySeconds(a, null))).toEqual([1, 2, 4, 8, 300]);
    expect(retryDelaySeconds(1, 30)).toBe(30);
  });
});

describe("the daily token keep-alive cron", () => {
  it("refreshes connections whose refresh token lapses within 7 days, and only those", async () => {
    const soon = await connectedConference({ settings: UNTAXED });
    const later = await connectedConference({ settings: UNTAXED });
    await runInDurableObject(env.QBO_CONNECTIONS.getByName(soon.slug), (_i: QboConnection, state) => {
      state.storage.sql.exec("UPDATE connection SET refresh_expires_at = ?", Date.now() + 3 * 86_400_000);
    });
    await runInDurableObject(env.QBO_CONNECTIONS.getByName(later.slug), (_i: QboConnection, state) => {
      state.storage.sql.exec("UPDATE connection SET refresh_expires_at = ?", Date.now() + 60 * 86_400_000);
    });
    await runCron("0 3 * * *");
    expect((await emulator().stats(soon.realmId)).tokenCalls.refresh_token).toBe(1);
    expect((await emulator().stats(later.realmId)).tokenCalls.refresh_token ?? 0).toBe(0);
    const conf = await call("GET", paths.conference(soon.slug));
    expect(Date.parse(conf.body.qbo.refreshTokenExpiresAt)).toBeGreaterThan(Date.now() + 30 * 86_400_000);
  });
});
