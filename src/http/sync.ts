import { createRoute, z } from "@hono/zod-openapi";
import { readMeter } from "../budget";
import { makeDb } from "../db/client";
import { countOutstanding, recentSyncFailures, recentSyncRuns } from "../db/sync-bookkeeping";
import { SYNC_TRIGGERS } from "../domain/reconcile";
import { requireConference } from "../services/conferences";
import { planConferenceSync } from "../sync/planner";
import type { App } from "./app-types";
import { ConferenceParams, commonErrors, jsonResponse } from "./schemas";

const security = [{ bearer: [] }];

const SyncStatus = z
  .object({
    outstanding: z.number(),
    lastRuns: z.array(
      z.object({
        trigger: z.enum(SYNC_TRIGGERS),
        startedAt: z.string(),
        finishedAt: z.string().nullable(),
        invoicesChecked: z.number(),
        paymentsRecorded: z.number(),
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
      const [outstanding, runs, failures, qboReads] = await Promise.all([
        countOutstanding(db, slug),
        recentSyncRuns(db, slug, 20),
        recentSyncFailures(db, slug, conference.qboRealmId, 50),
        conference.qboRealmId ? readMeter(c.env, conference.qboRealmId) : null,
      ]);
      return c.json(
        {
          outstanding,
          lastRuns: runs.map((r) => ({
            trigger: r.trigger,
            startedAt: r.startedAt,
            finishedAt: r.finishedAt,
            invoicesChecked: r.invoicesChecked,
            paymentsRecorded: r.paymentsRecorded,
            qboRequests: r.qboRequests,
            d1Statements: r.d1Statements,
          })),
          failures: failures.map((f) => ({
            invoiceIds: JSON.parse(f.invoiceIds) as string[],
            error: f.error,
            attempts: f.attempts,
            failedAt: f.failedAt,
          })),
          qboReads,
        },
        200,
      );
    },
  );
}
