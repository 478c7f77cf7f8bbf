/**
 * The bench Worker: the production app (`createApp()`) plus the benchmark-only routes of
 * ./routes.ts, with the production Durable Object, cron and queue handlers unchanged, so the
 * benchmarks measure production code beside the baseline. One switch (./switches.ts) can make
 * the requests' queue sends fail. Configured by
 * bench/wrangler.bench.toml and started only by `npm run bench`; never deployed.
 */
import { createApp } from "../../src/app";
import production from "../../src/index";
import { registerBenchRoutes } from "./routes";
import { benchSwitches, failingQueue } from "./switches";

export { QboConnection } from "../../src/index";
export { QboRealmBudget } from "./realm-budget";

const app = createApp();
registerBenchRoutes(app);

/** One failing environment per real one: the inbox drains deliveries of one environment together. */
const failingEnvs = new WeakMap<Env, Env>();
function failingEnv(env: Env): Env {
  let failing = failingEnvs.get(env);
  if (!failing) {
    failing = { ...env, SYNC_QUEUE: failingQueue };
    failingEnvs.set(env, failing);
  }
  return failing;
}

export default {
  // `POST /__bench/queue-failing` makes every SYNC_QUEUE send of a request fail (the webhook
  // inbox benchmark); cron and queue handlers keep the real queue.
  fetch: (request, env, ctx) => app.fetch(request, benchSwitches.queueFailing ? failingEnv(env) : env, ctx),
  scheduled: production.scheduled,
  queue: production.queue,
} satisfies ExportedHandler<Env, unknown>;
