/**
 * Benchmark baseline only: reconciles a conference the way the seed module did, with one
 * `GET invoice/{id}` and one D1 write batch per PO. Reachable at `POST /__bench/naive-sync/{slug}`
 * only when the variable ENABLE_BENCH_ROUTES is "true" (never set in wrangler.toml), so
 * `npm run bench` can measure it in the same Worker, side by side with the real path.
 */
import { and, eq } from "drizzle-orm";
import type { App } from "../app";
import { qboClientFor } from "../connections";
import { type D1Counter, makeDb } from "../db/client";
import { outstandingCondition } from "../db/purchase-orders";
import { moneySums, reconcileStatements } from "../db/reconcile";
import { purchaseOrders } from "../db/schema";
import { qboAmountToCents } from "../domain/money";
import { decideReconciliation } from "../domain/reconcile";
import { ApiError } from "../lib/errors";
import { InvoiceEnvelope } from "../qbo/schemas";
import { requireConference } from "../services/purchase-orders";

export function registerNaiveBaselineRoute(app: App): void {
  app.post("/__bench/naive-sync/:slug", async (c) => {
    if ((c.env as { ENABLE_BENCH_ROUTES?: string }).ENABLE_BENCH_ROUTES !== "true") {
      throw new ApiError("not_found", "No such route.");
    }
    const counter: D1Counter = { statements: 0 };
    const db = makeDb(c.env.DB, counter);
    const conference = await requireConference(db, c.req.param("slug"));
    const client = qboClientFor(c.env, conference);
    const started = Date.now();
    const pos = await db
      .select()
      .from(purchaseOrders)
      .where(and(eq(purchaseOrders.conferenceSlug, conference.slug), outstandingCondition()))
      .all();
    let recorded = 0;
    for (const po of pos) {
      const { Invoice: inv } = await client.json(InvoiceEnvelope, {
        method: "GET",
        path: `invoice/${po.qboInvoiceId}`,
      });
      const sums = (await moneySums(db, [po.id])).get(po.id) ?? { paidCents: 0, qboPaidCents: 0 };
      const totalCents = qboAmountToCents(inv.TotalAmt) ?? 0;
      const balanceCents = qboAmountToCents(inv.Balance) ?? 0;
      const decision = decideReconciliation({
        poTotalCents: po.totalCents,
        totalPaidCents: sums.paidCents,
        qboPaidRecordedCents: sums.qboPaidCents,
        invoice: { totalCents, balanceCents, voided: false },
      });
      const { items, insertIndex } = reconcileStatements(
        db,
        po,
        decision,
        { totalCents, balanceCents, emailStatus: inv.EmailStatus ?? null },
        new Date().toISOString(),
      );
      const results = (await db.batch(items as [(typeof items)[0], ...typeof items])) as unknown[];
      if (insertIndex !== null && (results[insertIndex] as D1Result).meta.changes === 1) recorded++;
    }
    return c.json({
      invoicesChecked: pos.length,
      paymentsRecorded: recorded,
      qboRequests: client.requests,
      d1Statements: counter.statements,
      wallMs: Date.now() - started,
    });
  });
}
