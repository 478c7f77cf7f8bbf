/**
 * History routes (SPEC §11): a PO's timeline, and the conference's event feed paged by id.
 * Events are read-only here; rows are never updated or deleted.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import type { PoEventRow } from "../db/po-events";
import { ACTOR_TYPES, PO_EVENT_TYPES } from "../domain/events";
import { conferenceEventFeed, purchaseOrderHistory } from "../services/history";
import type { App } from "./app-types";
import { ConferenceParams, commonErrors, jsonResponse, PoParams } from "./schemas";

const security = [{ bearer: [] }];

const PoEventView = z
  .object({
    id: z
      .number()
      .int()
      .openapi({ description: "Ascending across the deployment: the feed's `since` cursor" }),
    at: z.string().openapi({ example: "2026-11-24T18:00:00.000Z" }),
    type: z.enum(PO_EVENT_TYPES),
    actor: z
      .object({ type: z.enum(ACTOR_TYPES), id: z.string().optional(), name: z.string().optional() })
      .openapi({
        description:
          "`deployment` (the API token), `api_key` (with the key's id and name), `qbo` (found in QuickBooks by reconciliation), `system` (cron and queue)",
      }),
    data: z.record(z.string(), z.unknown()).openapi({
      description:
        "What happened; always holds the PO's `reference`. Money as decimal strings. `po.status_changed`: `{from, to}`.",
    }),
    requestId: z
      .string()
      .optional()
      .openapi({ description: "The `x-request-id` of the request that did it" }),
  })
  .openapi("PoEvent");

type PoEventJson = z.infer<typeof PoEventView>;

const FeedQuery = z.object({
  since: z.coerce
    .number()
    .int()
    .min(0)
    .max(Number.MAX_SAFE_INTEGER)
    .default(0)
    .openapi({ description: "Return events with an id greater than this (0: from the first)" }),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});

function eventView(row: PoEventRow): PoEventJson {
  return {
    id: row.id,
    at: row.at,
    type: row.type,
    actor: {
      type: row.actorType,
      ...(row.actorId !== null ? { id: row.actorId } : {}),
      ...(row.actorName !== null ? { name: row.actorName } : {}),
    },
    data: JSON.parse(row.data) as Record<string, unknown>,
    ...(row.requestId !== null ? { requestId: row.requestId } : {}),
  };
}

export function registerEventRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/events",
      security,
      description: "The PO's timeline, oldest first: every change, who made it and under which request.",
      request: { params: PoParams },
      responses: { 200: jsonResponse(z.array(PoEventView), "The timeline, oldest first"), ...commonErrors },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const rows = await purchaseOrderHistory(makeDb(c.env.DB), slug, reference);
      return c.json(rows.map(eventView), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/events",
      security,
      description:
        "The conference's PO events after `since`, ascending ids. Pass `nextSince` as `since` to read on; a page shorter than `limit` means you have caught up.",
      request: { params: ConferenceParams, query: FeedQuery },
      responses: {
        200: jsonResponse(
          z.object({ items: z.array(PoEventView), nextSince: z.number().int() }).openapi("PoEventFeed"),
          "A page of events",
        ),
        ...commonErrors,
      },
    }),
    async (c) => {
      const page = await conferenceEventFeed(
        makeDb(c.env.DB),
        c.req.valid("param").slug,
        c.req.valid("query"),
      );
      return c.json({ items: page.items.map(eventView), nextSince: page.nextSince }, 200);
    },
  );
}
