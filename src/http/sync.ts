import { createRoute, z } from "@hono/zod-openapi";
import { readMeter } from "../budget";
import { countWebhooksMissed } from "../db/change-feed";
import { makeDb } from "../db/client";
import { outboxStatus } from "../db/ledger-outbox";
import { countOutstanding, recentSyncFailures, recentSyncRuns } from "../db/sync-bookkeeping";
import { LEDGER_PUSH_ACTIONS, LEDGER_PUSH_KINDS } from "../domain/ledger";
import { SYNC_TRIGGERS } from "../domain/reconcile";
import { retryFailedPushes } from "../ledger/outbox";
import { requireConference } from "../services/conferences";
import { planConferenceSync } from "../sync/planner";
import type { App } from "./app-types";
import { ConferenceParams, commonErrors, jsonResponse } from "./schemas";

const security = [{ bearer: [] }];
/** `webhooksMissed` counts what the change feed found in this window (its findings are kept as long). */
const WEBHOOKS_MISSED_WINDOW_MS = 30 * 24 * 60 * 60 * 1000;
/** Intuit batches events for up to 5 minutes and retries within the first 6: a change this young is not judged yet. */
const WEBHOOK_GRACE_MS = 15 * 60 * 1000;

const SyncStatus = z
  .object({
    outstanding: z.number(),
    webhooksMissed: z
      .number()
      .int()
      .openapi({
        description:
          "Changes to this conference's invoices, payments and credit memos in the last 30 days that the change feed " +
          "(QBO Change Data Capture, every 15 minutes) found and no webhook delivered: same entity and id, changed at " +
          "that time or later. Changes younger than 15 minutes are not judged yet (a webhook may still be on its way). " +
          "Above 0 means Intuit's deliveries are being lost or held back; the change feed has synced those POs anyway.",
        example: 0,
      }),
    lastRuns: z.array(
      z.object({
        trigger: z.enum(SYNC_TRIGGERS),
        startedAt: z.string(),
        finishedAt: z.string().nullable(),
        invoicesChecked: z.number(),
        paymentsRecorded: z.number(),
        creditNotesRecorded: z.number(),
        ledgerFallback: z.string().nullable().openapi({
          description:
            "Null when the run followed the invoices' linked payments and credit memos; otherwise why it fell back to the balance rule TotalAmt − Balance.",
        }),
        qboRequests: z.number(),
        d1Statements: z.number(),
      }),
    ),
    failures: z.array(
      z.object({
        invoiceIds: z.array(z.string()),
        error: z.string(),
        attempts: z.number(),
        failedAt: z.string(),
      }),
    ),
    outbox: z
      .object({
        pending: z.number().openapi({ description: "Pushes to QuickBooks not done yet" }),
        failed: z.array(
          z.object({
            reference: z.string(),
            kind: z.enum(LEDGER_PUSH_KINDS),
            id: z.number().openapi({ description: "The payment's or credit note's id" }),
            action: z.enum(LEDGER_PUSH_ACTIONS),
            error: z.string(),
            attempts: z.number(),
            failedAt: z.string(),
          }),
        ),
      })
      .openapi({
        description:
          "The ledger outbox (ours → QuickBooks): pushes still pending, and those that gave up (retry with POST …/qbo/outbox/retry)",
      }),
    qboReads: z
      .object({ month: z.string(), count: z.number().int(), budget: z.number().int() })
      .nullable()
      .openapi({
        description:
          "Metered QuickBooks reads (GET, query, CDC, PDF) of the conference's company this calendar month (UTC), shared by every conference connected to it, against QBO_MONTHLY_READ_BUDGET; null when no company is set.",
      }),
  })
  .openapi("SyncStatus");

export function registerSyncRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/qbo/sync",
      security,
      description: "Queues a sync of every outstanding invoice of the conference now.",
      request: { params: ConferenceParams },
      responses: {
        202: jsonResponse(z.object({ queued: z.number(), invoices: z.number() }), "Queued"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const db = makeDb(c.env.DB);
      const { slug } = c.req.valid("param");
      await requireConference(db, slug);
      const { messages, invoices } = await planConferenceSync(c.env, db, slug, "manual");
      return c.json({ queued: messages, invoices }, 202);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/qbo/sync",
      security,
      description: "Outstanding invoices, the latest sync runs, and work that failed after its last retry.",
      request: { params: ConferenceParams },
      responses: { 200: jsonResponse(SyncStatus, "Sync status"), ...commonErrors },
    }),
    async (c) => {
      const db = makeDb(c.env.DB);
      const { slug } = c.req.valid("param");
      const conference = await requireConference(db, slug);
      const now = Date.now();
      const [outstanding, webhooksMissed, runs, failures, outbox, qboReads] = await Promise.all([
        countOutstanding(db, slug),
        countWebhooksMissed(
          db,
          slug,
          new Date(now - WEBHOOKS_MISSED_WINDOW_MS).toISOString(),
          Math.floor((now - WEBHOOK_GRACE_MS) / 1000),
        ),
        recentSyncRuns(db, slug, 20),
        recentSyncFailures(db, slug, conference.qboRealmId, 50),
        outboxStatus(db, slug, 100),
        conference.qboRealmId ? readMeter(c.env, conference.qboRealmId) : null,
      ]);
      return c.json(
        {
          outstanding,
          webhooksMissed,
          lastRuns: runs.map((r) => ({
            trigger: r.trigger,
            startedAt: r.startedAt,
            finishedAt: r.finishedAt,
            invoicesChecked: r.invoicesChecked,
            paymentsRecorded: r.paymentsRecorded,
            creditNotesRecorded: r.creditNotesRecorded,
            ledgerFallback: r.ledgerFallback,
            qboRequests: r.qboRequests,
            d1Statements: r.d1Statements,
          })),
          failures: failures.map((f) => ({
            invoiceIds: JSON.parse(f.invoiceIds) as string[],
            error: f.error,
            attempts: f.attempts,
            failedAt: f.failedAt,
          })),
          outbox: {
            pending: outbox.pending,
            failed: outbox.failed.map((f) => ({
              reference: f.reference,
              kind: f.kind,
              id: f.rowId,
              action: f.action,
              error: f.error ?? "unknown error",
              attempts: f.attempts,
              failedAt: f.failedAt,
            })),
          },
          qboReads,
        },
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/qbo/outbox/retry",
      security,
      description:
        "Tries every failed push of payments and credit notes to QuickBooks again (the ledger outbox). Each is pushed off-request through the sync queue; a push never makes a duplicate in QuickBooks, so retrying is always safe.",
      request: { params: ConferenceParams },
      responses: {
        202: jsonResponse(
          z.object({
            retried: z.number().openapi({ description: "Failed pushes put back in the outbox" }),
            purchaseOrders: z.number(),
          }),
          "Queued",
        ),
        ...commonErrors,
      },
    }),
    async (c) => {
      const db = makeDb(c.env.DB);
      const { slug } = c.req.valid("param");
      await requireConference(db, slug);
      return c.json(await retryFailedPushes(c.env, db, slug), 202);
    },
  );
}
