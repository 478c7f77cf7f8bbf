/** Entry: the Worker's handlers and the Durable Object class, nothing else. */
import { createApp } from "./app";
import { queueAndCronWait } from "./budget";
import { makeDb } from "./db/client";
import { EVENTS_QUEUE_NAME, handleEventsBatch } from "./events/delivery";
import { drainAll, pruneDeliveries, redriveOverdue } from "./events/drain";
import { redriveStalePushes } from "./ledger/outbox";
import { log } from "./lib/log";
import { runChangeFeed } from "./sync/change-feed";
import { handleQueueBatch } from "./sync/consumer";
import { redriveInbox } from "./sync/inbox";
import { KEEPALIVE_CRON, planAllOutstanding, RECONCILE_CRON, runDailyCron } from "./sync/planner";

export { QboRealmBudget } from "./budget/qbo-realm-budget";
export { QboConnection } from "./connections/qbo-connection";

const app = createApp();

// Queue and cron work waits for its slot in a realm's QBO rate budget; an API request waits
// 1.5 s at most, then answers 503 (src/budget/).
export default queueAndCronWait({
  fetch: app.fetch,

  async scheduled(controller, env, _ctx) {
    const db = makeDb(env.DB);
    if (controller.cron === RECONCILE_CRON) {
      // Webhook deliveries a drain left in the inbox go first: they are already acknowledged.
      await guard("inbox", () => redriveInbox(env, db));
      await guard("change_feed", () => runChangeFeed(env, db));
      // The outbox's safety net: events no request drained, deliveries whose message was lost.
      await drainAll(env, db);
      await redriveOverdue(env, db);
      // The ledger outbox's too: pushes whose queue message was lost (SPEC §9 "Outbox").
      await redriveStalePushes(env, db);
    } else if (controller.cron === KEEPALIVE_CRON) {
      // The daily full outstanding sync: whatever the change feed and webhooks both missed.
      await guard("full_sync", () => planAllOutstanding(env, db));
      await runDailyCron(env, db);
      await pruneDeliveries(db);
    } else log("warn", "cron.unknown_schedule", { cron: controller.cron });
  },

  async queue(batch, env, ctx) {
    if (batch.queue === EVENTS_QUEUE_NAME) return handleEventsBatch(batch, env);
    await handleQueueBatch(batch, env);
    // Reconciliation writes timeline events (payments found in QuickBooks): send them now.
    ctx.waitUntil(drainAll(env, makeDb(env.DB)));
  },
} satisfies ExportedHandler<Env, unknown>);

/** One scheduled step failing (D1 or the queue down) must not keep the next from running. */
async function guard(step: string, run: () => Promise<unknown>): Promise<void> {
  try {
    await run();
  } catch (err) {
    log("error", "cron.step_failed", { step, error: err instanceof Error ? err.name : "unknown" });
  }
}
