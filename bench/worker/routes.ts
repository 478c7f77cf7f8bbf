/**
 * Benchmark-only routes, used by `npm run bench` (bench/run.mjs) and nothing else. They exist
 * only in the bench Worker (bench/worker/index.ts), never in the production bundle, and like
 * /api/* they answer only with `Authorization: Bearer <API_TOKEN>`.
 *
 * - `POST /__bench/naive-sync/{slug}`: the baseline. Reconciles a conference the way the seed
 *   module did, with one `GET invoice/{id}` and one D1 write batch per PO, so the real path can
 *   be measured beside it in the same Worker.
 * - `POST /__bench/seed-pos/{slug}` `{realmId, invoiceIds, totalCents, organizationName?}`:
 *   inserts thousands of invoiced POs (status `sent`) in a few D1 statements.
 * - `POST /__bench/unthrottle/{realmId}`: lifts the realm's QBO rate budget (./realm-budget.ts),
 *   for benchmarks that burst one company on purpose to measure something else.
 * - `GET /__bench/summary/{slug}`: counts that prove a sync reconciled everything, and the sums
 *   of every sync run of the conference (`lastRuns` of the API shows only the latest 20).
 * - `POST /__bench/ledger-sync/{slug}`: the production reconciliation (linked payments and credit
 *   memos) of every outstanding PO of the conference as ONE batch of up to 1,000 invoices,
 *   whatever SYNC_BATCH_SIZE says, so "reads per batch" is measured on a batch of 1,000.
 * - `POST /__bench/queue-failing` `{failing}`: every SYNC_QUEUE send of later requests fails (or
 *   works again); `GET /__bench/inbox`: webhook deliveries still waiting in the inbox.
 */
import { and, eq } from "drizzle-orm";
import type { Context } from "hono";
import { z } from "zod";
import { qboClientFor } from "../../src/connections";
import { chunk, type D1Counter, makeDb } from "../../src/db/client";
import { outstandingCondition } from "../../src/db/purchase-orders";
import { applyReconciliation, moneySums } from "../../src/db/reconciliation";
import { purchaseOrders } from "../../src/db/schema";
import { countInboxRows } from "../../src/db/webhook-inbox";
import { SYSTEM_CONTEXT } from "../../src/domain/events";
import { decideReconciliation } from "../../src/domain/reconcile";
import type { App, AppEnv } from "../../src/http/app-types";
import { ApiError } from "../../src/lib/errors";
import { timingSafeEqualStrings } from "../../src/lib/secure-compare";
import { InvoiceEnvelope } from "../../src/qbo/schemas";
import { requireConference } from "../../src/services/conferences";
import { invoiceState, reconcilePurchaseOrders, snapshotOf } from "../../src/services/reconcile";
import type { QboRealmBudget as BenchBudget } from "./realm-budget";
import { benchSwitches } from "./switches";

/** Rows per INSERT: the rows travel as one JSON parameter, so each statement binds 6 values. */
const SEED_ROWS_PER_STATEMENT = 500;
const REFERENCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

const SeedBody = z.object({
  realmId: z.string().regex(/^\d{1,32}$/),
  invoiceIds: z.array(z.string().min(1).max(64)).min(1).max(20_000),
  totalCents: z.number().int().positive(),
  organizationName: z.string().min(1).max(100).default("Bench Sponsor Inc"),
});

/** Throws "unauthorized" unless the caller holds the API token, as /api/* does. */
async function requireApiToken(c: Context<AppEnv>): Promise<void> {
  const expected = c.env.API_TOKEN;
  const match = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "");
  if (!expected || !match?.[1] || !(await timingSafeEqualStrings(match[1], expected))) {
    throw new ApiError("unauthorized", "A valid bearer token is required.");
  }
}

function randomReference(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(6));
  let out = "PO-";
  for (const b of bytes) out += REFERENCE_ALPHABET[b % REFERENCE_ALPHABET.length];
  return out;
}

export function registerBenchRoutes(app: App): void {
  app.post("/__bench/unthrottle/:realmId", async (c) => {
    await requireApiToken(c);
    const stub = c.env.QBO_BUDGETS.getByName(
      c.req.param("realmId"),
    ) as unknown as DurableObjectStub<BenchBudget>;
    await stub.unthrottle();
    return c.json({ unthrottled: c.req.param("realmId") });
  });

  app.post("/__bench/naive-sync/:slug", async (c) => {
    await requireApiToken(c);
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
      const state = invoiceState(inv);
      if (!state) continue;
      const decision = decideReconciliation({
        poSubtotalCents: po.totalCents,
        totalPaidCents: sums.paidCents,
        qboPaidRecordedCents: sums.qboPaidCents,
        poCancelled: po.status === "cancelled",
        invoice: state,
      });
      recorded += (
        await applyReconciliation(
          db,
          [{ kind: "reconciled", po, decision, invoice: snapshotOf(inv, state, po) }],
          new Date().toISOString(),
          SYSTEM_CONTEXT,
        )
      ).payments;
    }
    return c.json({
      invoicesChecked: pos.length,
      paymentsRecorded: recorded,
      qboRequests: client.requests,
      d1Statements: counter.statements,
      wallMs: Date.now() - started,
    });
  });

  app.post("/__bench/ledger-sync/:slug", async (c) => {
    await requireApiToken(c);
    const counter: D1Counter = { statements: 0 };
    const db = makeDb(c.env.DB, counter);
    const conference = await requireConference(db, c.req.param("slug"));
    const client = qboClientFor(c.env, conference);
    const pos = await db
      .select()
      .from(purchaseOrders)
      .where(and(eq(purchaseOrders.conferenceSlug, conference.slug), outstandingCondition()))
      .all();
    const started = Date.now();
    const outcome = await reconcilePurchaseOrders(db, client, pos, 1000, SYSTEM_CONTEXT);
    return c.json({
      ...outcome,
      qboRequests: client.requests,
      d1Statements: counter.statements,
      wallMs: Date.now() - started,
    });
  });

  app.post("/__bench/seed-pos/:slug", async (c) => {
    await requireApiToken(c);
    const parsed = SeedBody.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) {
      throw new ApiError(
        "validation_failed",
        "The request is not valid.",
        parsed.error.issues.map((i) => ({ path: i.path.map(String).join("."), message: i.message })),
      );
    }
    const { realmId, invoiceIds, totalCents, organizationName } = parsed.data;
    const slug = (await requireConference(makeDb(c.env.DB), c.req.param("slug"))).slug;
    const now = new Date().toISOString();
    // The rows are one JSON parameter (json_each), so each statement binds 6 values, far below
    // D1's 100. A reference already taken (6 random characters) is skipped by ON CONFLICT and
    // that PO retried with a new one; a duplicate invoice id still fails loudly.
    const insert = c.env.DB.prepare(
      `INSERT INTO purchase_orders (reference, conference_slug, status, organization_name, contact_name,
         contact_email, total_cents, qbo_invoice_id, qbo_realm_id, qbo_total_cents, qbo_balance_cents,
         created_at, updated_at)
       SELECT json_extract(value, '$[0]'), ?1, 'sent', ?2, 'Bench Contact', 'ap@bench.example', ?3,
         json_extract(value, '$[1]'), ?4, ?3, ?3, ?5, ?5
       FROM json_each(?6) WHERE true
       ON CONFLICT (reference) DO NOTHING`,
    );
    let pending = [...new Set(invoiceIds)];
    let inserted = 0;
    let statements = 0;
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 5) throw new Error("could not find free PO references after 5 attempts");
      const references = new Set<string>();
      const rows = pending.map((id) => {
        let ref = randomReference();
        while (references.has(ref)) ref = randomReference();
        references.add(ref);
        return [ref, id];
      });
      const stmts = chunk(rows, SEED_ROWS_PER_STATEMENT).map((part) =>
        insert.bind(slug, organizationName, totalCents, realmId, now, JSON.stringify(part)),
      );
      const results = await c.env.DB.batch(stmts);
      statements += stmts.length;
      const changes = results.reduce((n, r) => n + (r.meta.changes ?? 0), 0);
      inserted += changes;
      if (changes === pending.length) break;
      const present = await c.env.DB.prepare(
        `SELECT qbo_invoice_id AS id FROM purchase_orders
         WHERE qbo_realm_id = ?1 AND qbo_invoice_id IN (SELECT value FROM json_each(?2))`,
      )
        .bind(realmId, JSON.stringify(pending))
        .all<{ id: string }>();
      statements++;
      const done = new Set(present.results.map((r) => r.id));
      pending = pending.filter((id) => !done.has(id));
    }
    return c.json({ inserted, statements }, 201);
  });

  /** One D1 round trip as the Worker sees it: the unit of the "many hands" latency target. */
  app.get("/__bench/d1-roundtrip", async (c) => {
    await requireApiToken(c);
    const ms: number[] = [];
    for (let i = 0; i < 50; i++) {
      const t0 = performance.now();
      await c.env.DB.prepare("SELECT 1").first();
      ms.push(performance.now() - t0);
    }
    ms.sort((a, b) => a - b);
    return c.json({ medianMs: ms[Math.floor(ms.length / 2)] ?? 0, samples: ms.length });
  });

  app.get("/__bench/summary/:slug", async (c) => {
    await requireApiToken(c);
    const slug = (await requireConference(makeDb(c.env.DB), c.req.param("slug"))).slug;
    const [pos, pays, runs, money] = await c.env.DB.batch<Record<string, number | null>>([
      c.env.DB.prepare(
        `SELECT COUNT(*) AS pos,
           COALESCE(SUM(status = 'paid'), 0) AS paid,
           COALESCE(SUM(qbo_invoice_id IS NOT NULL AND status NOT IN ('paid', 'cancelled')), 0) AS outstanding,
           COALESCE(SUM(qbo_discrepancy_kind IS NOT NULL), 0) AS discrepancies
         FROM purchase_orders WHERE conference_slug = ?1`,
      ).bind(slug),
      c.env.DB.prepare(
        `SELECT COUNT(*) AS posWithPayments,
           COALESCE(SUM(n), 0) AS payments,
           COALESCE(SUM(n = 1 AND paid = total_cents), 0) AS posPaidByOnePayment,
           COALESCE(SUM(n > 1), 0) AS posWithSeveralPayments
         FROM (SELECT po.id, po.total_cents, COUNT(p.id) AS n, COALESCE(SUM(p.amount_cents), 0) AS paid
               FROM purchase_orders po JOIN payments p ON p.purchase_order_id = po.id
               WHERE po.conference_slug = ?1 GROUP BY po.id)`,
      ).bind(slug),
      c.env.DB.prepare(
        `SELECT COUNT(*) AS runs,
           COALESCE(SUM(qbo_requests), 0) AS qboRequests,
           COALESCE(SUM(d1_statements), 0) AS d1Statements,
           COALESCE(SUM(invoices_checked), 0) AS invoicesChecked,
           COALESCE(SUM(payments_recorded), 0) AS paymentsRecorded
         FROM sync_runs WHERE conference_slug = ?1`,
      ).bind(slug),
      c.env.DB.prepare(
        `SELECT
           (SELECT COALESCE(SUM(p.amount_cents), 0) FROM payments p JOIN purchase_orders po ON po.id = p.purchase_order_id
             WHERE po.conference_slug = ?1 AND p.voided_at IS NULL) AS paidCents,
           (SELECT COUNT(*) FROM credit_notes cn JOIN purchase_orders po ON po.id = cn.purchase_order_id
             WHERE po.conference_slug = ?1 AND cn.voided_at IS NULL) AS creditNotes,
           (SELECT COALESCE(SUM(cn.amount_cents), 0) FROM credit_notes cn JOIN purchase_orders po ON po.id = cn.purchase_order_id
             WHERE po.conference_slug = ?1 AND cn.voided_at IS NULL) AS creditedCents`,
      ).bind(slug),
    ]);
    return c.json({
      purchaseOrders: pos?.results[0] ?? {},
      payments: pays?.results[0] ?? {},
      syncRuns: runs?.results[0] ?? {},
      money: money?.results[0] ?? {},
    });
  });

  app.post("/__bench/queue-failing", async (c) => {
    await requireApiToken(c);
    const body = z.object({ failing: z.boolean() }).safeParse(await c.req.json().catch(() => null));
    if (!body.success) throw new ApiError("validation_failed", 'Send {"failing": true|false}.');
    benchSwitches.queueFailing = body.data.failing;
    return c.json({ failing: benchSwitches.queueFailing });
  });

  app.get("/__bench/inbox", async (c) => {
    await requireApiToken(c);
    return c.json({ rows: await countInboxRows(makeDb(c.env.DB)) });
  });
}
