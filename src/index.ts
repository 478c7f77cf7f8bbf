/** Entry: the Worker's handlers and the Durable Object class, nothing else. */
import { createApp } from "./app";
import { queueAndCronWait } from "./budget";
import { makeDb } from "./db/client";
import { EVENTS_QUEUE_NAME, handleEventsBatch } from "./events/delivery";
import { drainAll, pruneDeliveries, redriveOverdue } from "./events/drain";
import { log } from "./lib/log";
import { handleQueueBatch } from "./sync/consumer";
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
      await planAllOutstanding(env, db);
      // The outbox's safety net: events no request drained, deliveries whose message was lost.
      await drainAll(env, db);
      await redriveOverdue(env, db);
    } else if (controller.cron === KEEPALIVE_CRON) {
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
