/**
 * The bench Worker: the production app (`createApp()`) plus the benchmark-only routes of
 * ./routes.ts, with the production Durable Object, cron and queue handlers unchanged, so the
 * benchmarks measure production code beside the baseline. Configured by
 * bench/wrangler.bench.toml and started only by `npm run bench`; never deployed.
 */
import { createApp } from "../../src/app";
import production from "../../src/index";
import { registerBenchRoutes } from "./routes";

export { QboConnection } from "../../src/index";
export { QboRealmBudget } from "./realm-budget";

const app = createApp();
registerBenchRoutes(app);

export default {
  fetch: app.fetch,
  scheduled: production.scheduled,
  queue: production.queue,
} satisfies ExportedHandler<Env, unknown>;
