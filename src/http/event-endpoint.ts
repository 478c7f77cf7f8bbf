/**
 * The conference's event endpoint (SPEC §12): set (and rotate its secret), read, delete; its
 * recent deliveries; re-send one. Admin only (src/auth/roles.ts). Delivery itself is in
 * src/events/.
 */
import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import { PLATFORM_EVENT_TYPES } from "../domain/events";
import { DELIVERY_STATUSES, isValidEventFilter } from "../domain/platform-events";
import {
  deleteEventEndpoint,
  getEventEndpoint,
  listEventDeliveries,
  putEventEndpoint,
  retryEventDelivery,
} from "../events/endpoint";
import type { App } from "./app-types";
import { ConferenceParams, commonErrors, errorResponse, jsonBody, jsonResponse } from "./schemas";

const security = [{ bearer: [] }];

/** `https://`, or `http://` to this machine only (a receiver under development). */
function isAllowedUrl(value: string): boolean {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  if (url.username || url.password) return false;
  if (url.protocol === "https:") return url.hostname.length > 0;
  return url.protocol === "http:" && (url.hostname === "localhost" || url.hostname === "127.0.0.1");
}

const EndpointUrl = z
  .string()
  .max(2048)
  .refine(isAllowedUrl, {
    message: "Expected an https:// URL (http:// only for localhost or 127.0.0.1), without credentials",
  })
  .openapi({ example: "https://registration.example.org/hooks/qbo-po" });

const EventFilter = z
  .string()
  .refine(isValidEventFilter, {
    message: `Expected an event type (${PLATFORM_EVENT_TYPES.join(", ")}) or a prefix ending in * (po.*, payment.*, qbo.*, sync.*)`,
  })
  .openapi({ example: "payment.*" });

const PutEndpointBody = z
  .object({
    url: EndpointUrl,
    events: z.array(EventFilter).min(1).max(50).optional().openapi({
      description: "Event types or prefixes ending in `*` to deliver; absent: every type",
    }),
  })
  .openapi("PutEventEndpoint");

const EndpointFields = {
  url: z.string(),
  events: z.array(z.string()).nullable().openapi({ description: "null: every event type" }),
  createdAt: z.string(),
  secretRotatedAt: z.string().optional(),
  disabledAt: z
    .string()
    .optional()
    .openapi({ description: "Set when the receiver answered 410 Gone; a PUT enables it again" }),
};

const EventEndpointView = z.object(EndpointFields).openapi("EventEndpoint");
const EventEndpointWithSecret = z
  .object({
    ...EndpointFields,
    secret: z.string().openapi({
      example: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
      description:
        "Standard Webhooks signing secret. Shown in this answer only; stored encrypted. After a rotation the previous secret also signs for 24 hours.",
    }),
  })
  .openapi("EventEndpointWithSecret");

const DeliveryView = z
  .object({
    id: z.number().int(),
    eventId: z.string().openapi({
      example: "evt_1234",
      description:
        "The `webhook-id` header: `evt_…` for a PO timeline event, `cevt_…` for a conference-level one",
    }),
    type: z.enum(PLATFORM_EVENT_TYPES),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    lastStatus: z.number().int().nullable(),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
    nextAttemptAt: z.string().nullable(),
  })
  .openapi("EventDelivery");

const DeliveriesQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  status: z
    .enum(DELIVERY_STATUSES)
    .optional()
    .openapi({ description: "Only deliveries in this status (e.g. `pending`: what is still being retried)" }),
});

const DeliveryParams = ConferenceParams.extend({
  id: z.coerce
    .number()
    .int()
    .positive()
    .openapi({ param: { name: "id", in: "path" }, example: 1 }),
});

const PATH = "/api/conferences/{slug}/event-endpoint";

export function registerEventEndpointRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "put",
      path: PATH,
      security,
      description:
        "Sets the endpoint that receives this conference's PO events (Standard Webhooks). Returns a new signing secret, once. On an existing endpoint this rotates the secret: the previous one keeps signing for 24 hours.",
      request: { params: ConferenceParams, body: jsonBody(PutEndpointBody) },
      responses: {
        200: jsonResponse(EventEndpointWithSecret, "The endpoint and its new secret"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const view = await putEventEndpoint(
        c.env,
        makeDb(c.env.DB),
        c.req.valid("param").slug,
        c.req.valid("json"),
      );
      return c.json(view, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: PATH,
      security,
      description: "The event endpoint, without its secret.",
      request: { params: ConferenceParams },
      responses: { 200: jsonResponse(EventEndpointView, "The endpoint"), ...commonErrors },
    }),
    async (c) => c.json(await getEventEndpoint(makeDb(c.env.DB), c.req.valid("param").slug), 200),
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: PATH,
      security,
      description: "Stops delivery: the endpoint is removed and its unsent deliveries are disabled.",
      request: { params: ConferenceParams },
      responses: { 204: { description: "Removed (or there was none)" }, ...commonErrors },
    }),
    async (c) => {
      await deleteEventEndpoint(makeDb(c.env.DB), c.req.valid("param").slug);
      return c.body(null, 204);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${PATH}/deliveries`,
      security,
      description:
        "Recent deliveries, newest first: delivered, pending (with the next attempt), failed, disabled.",
      request: { params: ConferenceParams, query: DeliveriesQuery },
      responses: {
        200: jsonResponse(z.object({ items: z.array(DeliveryView) }), "The deliveries"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const { limit, status } = c.req.valid("query");
      const items = await listEventDeliveries(makeDb(c.env.DB), c.req.valid("param").slug, limit, status);
      return c.json({ items }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${PATH}/deliveries/{id}/retry`,
      security,
      description:
        "Sends the delivery again (same `webhook-id`), with a new 24-hour retry window. 409 when its endpoint was deleted, replaced or disabled.",
      request: { params: DeliveryParams },
      responses: {
        202: jsonResponse(DeliveryView, "Queued"),
        409: errorResponse("invalid_state: the endpoint no longer delivers"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const { slug, id } = c.req.valid("param");
      return c.json(await retryEventDelivery(c.env, makeDb(c.env.DB), slug, id), 202);
    },
  );
}
