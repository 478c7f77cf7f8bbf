/**
 * The bench Worker's QboRealmBudget: production's class, plus one bench-only switch that lifts
 * the budget of one realm (`POST /__bench/unthrottle/{realmId}`). Benchmarks of something else
 * that burst one company on purpose (the one-GET-per-PO baseline, the 100-call refresh storm)
 * lift both the emulator's limits and this budget for their realms; the rate-budget storm
 * keeps both. Exported under the production name, so bench/wrangler.bench.toml mirrors
 * wrangler.toml line for line.
 */
import { type AcquireAnswer, QboRealmBudget as ProductionBudget } from "../../src/budget/qbo-realm-budget";

const LIFTED = { perSecond: 1_000_000, perMinute: 60_000_000 };

export class QboRealmBudget extends ProductionBudget {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      "CREATE TABLE IF NOT EXISTS bench_switch (id INTEGER PRIMARY KEY, lifted INTEGER NOT NULL)",
    );
  }

  override acquire(request: Parameters<ProductionBudget["acquire"]>[0]): AcquireAnswer {
    return super.acquire(this.#lifted() ? { ...request, limits: LIFTED } : request);
  }

  /** Lifts this realm's budget for good (bench realms are throw-away). */
  unthrottle(): void {
    this.ctx.storage.sql.exec("INSERT OR REPLACE INTO bench_switch (id, lifted) VALUES (1, 1)");
  }

  #lifted(): boolean {
    return this.ctx.storage.sql.exec("SELECT lifted FROM bench_switch WHERE id = 1").toArray().length > 0;
  }
}
