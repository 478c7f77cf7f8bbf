/** Entry: the Worker's handlers and the Durable Object class, nothing else. */
import { createApp } from "./app";
import { makeDb } from "./db/client";
import { log } from "./lib/log";
import { handleQueueBatch } from "./sync/consumer";
import { KEEPALIVE_CRON, planAllOutstanding, RECONCILE_CRON, runDailyCron } from "./sync/planner";

export { QboConnection } from "./connections/qbo-connection";

const app = createApp();

export default {
  fetch: app.fetch,

  async scheduled(controller, env, _ctx) {
    const db = makeDb(env.DB);
    if (controller.cron === RECONCILE_CRON) await planAllOutstanding(env, db);
    else if (controller.cron === KEEPALIVE_CRON) await runDailyCron(env, db);
    else log("warn", "cron.unknown_schedule", { cron: controller.cron });
  },

  async queue(batch, env, _ctx) {
    await handleQueueBatch(batch, env);
  },
} satisfies ExportedHandler<Env, unknown>;
