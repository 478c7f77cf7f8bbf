/**
 * /openapi.json's description of `POST /webhooks/qbo` (SPEC §4). The handler (webhooks.ts) is a
 * plain route on purpose: it verifies `intuit-signature` on the raw bytes before anything parses
 * them, which a validating zod-openapi route would not allow. So the path is registered here for
 * the document only; these schemas describe Intuit's two formats and validate nothing.
 */
import { z } from "@hono/zod-openapi";
import type { App } from "./app-types";
import { errorResponse } from "./schemas";

const classicExample = {
  eventNotifications: [
    {
      realmId: "9341453050180146",
      dataChangeEvent: {
        entities: [
          { name: "Payment", id: "145", operation: "Create", lastUpdated: "2026-03-01T10:15:00.000Z" },
          { name: "Invoice", id: "130", operation: "Update", lastUpdated: "2026-03-01T10:15:01.000Z" },
        ],
      },
    },
  ],
};

const cloudEventsExample = [
  {
    specversion: "1.0",
    id: "88cd52f6-a2d3-4ab5-9e3b-0a4a9b7c6d21",
    source: "intuit.com",
    type: "qbo.payment.created.v1",
    datacontenttype: "application/json",
    time: "2026-03-01T10:15:00.000Z",
    intuitentityid: "145",
    intuitaccountid: "9341453050180146",
    data: {},
  },
];

const ClassicWebhook = z
  .object({
    eventNotifications: z.array(
      z.object({
        realmId: z.string().openapi({ description: "The QuickBooks company (realm) id" }),
        dataChangeEvent: z.object({
          entities: z.array(
            z.object({
              name: z.string().openapi({ example: "Payment", description: "Entity kind" }),
              id: z.string().openapi({ example: "145" }),
              operation: z
                .string()
                .openapi({ example: "Create", description: "Create, Update, Delete, Merge, Void, Emailed" }),
              lastUpdated: z.string().optional(),
              deletedId: z.string().optional().openapi({ description: "For Merge: the id merged away" }),
            }),
          ),
        }),
      }),
    ),
  })
  .openapi("QboWebhookClassic", { description: "Intuit's classic format", example: classicExample });

const CloudEventsWebhook = z
  .array(
    z.object({
      specversion: z.string().openapi({ example: "1.0" }),
      id: z.string().openapi({ description: "Unique per event; replays are recognised by it" }),
      source: z.string().optional(),
      type: z
        .string()
        .openapi({ example: "qbo.payment.created.v1", description: "qbo.<entity>.<verb>.v<n>" }),
      datacontenttype: z.string().optional(),
      time: z.string().optional(),
      intuitentityid: z.string().openapi({ example: "145" }),
      intuitaccountid: z.string().openapi({ description: "The QuickBooks company (realm) id" }),
      data: z
        .object({ deletedid: z.string().optional() })
        .optional()
        .openapi({ description: "For a merge: the id merged away (`deletedid`)" }),
    }),
  )
  .openapi("QboWebhookCloudEvents", {
    description: "Intuit's CloudEvents format",
    example: cloudEventsExample,
  });

const Accepted = z
  .object({
    status: z.literal("accepted"),
    received: z.number().int().openapi({ description: "Entity events read from the body" }),
    skipped: z.number().int().openapi({ description: "Parts of the body of an unexpected shape, ignored" }),
  })
  .catchall(z.unknown())
  .openapi("QboWebhookAccepted");

/** Adds `POST /webhooks/qbo` to the document without touching its handler. */
export function documentWebhookRoute(app: App): void {
  app.openAPIRegistry.registerPath({
    method: "post",
    path: "/webhooks/qbo",
    summary: "Intuit's webhook deliveries",
    description:
      "Called by Intuit, not by API clients: no bearer token. The body is verified on its raw bytes " +
      "(`intuit-signature`), parsed, written to the D1 inbox and acknowledged at once; its events are queued " +
      "after the answer (and by the 15-minute cron if that fails), so a failing queue never delays the 200. " +
      "Both of Intuit's formats are accepted, up to 100 events for several realms per POST, with Content-Type " +
      "application/json, application/cloudevents+json or none. Bodies of an unexpected shape, unknown realms " +
      "and entities of no interest get 200 and are ignored.",
    security: [],
    request: {
      headers: z.object({
        "intuit-signature": z.string().openapi({
          description:
            "base64 of HMAC-SHA256 of the raw body, keyed with the app's webhook verifier token (QBO_WEBHOOK_VERIFIER_TOKEN)",
          example: "mS3CxiGR1ZRZ2vnG4bZaG6zP3fFJ5eHc2U4cRr5bW0o=",
        }),
      }),
      body: {
        required: true,
        content: {
          "application/json": {
            schema: z.union([ClassicWebhook, CloudEventsWebhook]),
            examples: {
              classic: { summary: "Classic format", value: classicExample },
              cloudEvents: { summary: "CloudEvents format", value: cloudEventsExample },
            },
          },
          "application/cloudevents+json": {
            schema: CloudEventsWebhook,
            examples: { cloudEvents: { summary: "CloudEvents format", value: cloudEventsExample } },
          },
        },
      },
    },
    responses: {
      200: {
        description: "Accepted: the delivery is in the inbox; the events concerned are queued right after",
        content: { "application/json": { schema: Accepted } },
      },
      400: errorResponse("invalid_json: the verified body is not JSON"),
      401: errorResponse("unauthorized: intuit-signature is missing or does not match the raw body"),
      413: errorResponse("payload_too_large: more than 1 MB"),
      503: errorResponse(
        "not_configured: QBO_WEBHOOK_VERIFIER_TOKEN is not set; qbo_unavailable: D1 could not take the delivery (Intuit retries it)",
      ),
    },
  });
}
