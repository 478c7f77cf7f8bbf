import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import { QBO_ENVIRONMENTS } from "../domain/payments";
import {
  type ConferenceWithConnection,
  disconnect,
  getConference,
  putConference,
  storeTokens,
} from "../services/conferences";
import type { App } from "./app-types";
import { ConferenceParams, ConferenceView, commonErrors, jsonBody, jsonResponse } from "./schemas";
import { conferenceView } from "./views";

const Instant = z.iso.datetime({ offset: true }).openapi({ example: "2026-11-24T18:00:00Z" });

/** A QBO entity id as the API shows them (digits, or a code such as `NON` for tax codes). */
const QboId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "Expected a QuickBooks id");

const PutConferenceBody = z
  .object({
    name: z.string().trim().min(1).max(200),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "Expected an ISO 4217 code such as USD")
      .default("USD"),
    qbo: z
      .object({
        realmId: z.string().regex(/^\d{1,32}$/, "Expected the numeric QuickBooks company id"),
        environment: z.enum(QBO_ENVIRONMENTS),
        itemId: QboId.optional().openapi({ description: "Item on every invoice line (`ItemRef`)" }),
        taxCodeId: QboId.optional().openapi({
          description:
            'Sent as `TaxCodeRef` on every invoice line; `"NON"` = not taxable. Absent: the company decides (US Automated Sales Tax).',
        }),
        allowOnlinePayment: z
          .object({ card: z.boolean().default(false), ach: z.boolean().default(false) })
          .optional()
          .openapi({
            description:
              "Let the customer pay invoices online (`AllowOnlineCreditCardPayment` / `AllowOnlineACHPayment`); needs QuickBooks Payments on the company.",
          }),
        depositAccountId: QboId.optional().openapi({
          description: "Account that payments pushed to QuickBooks are deposited to (`DepositToAccountRef`)",
        }),
      })
      .optional(),
  })
  .openapi("PutConference");

const StoreTokensBody = z
  .object({
    realmId: z.string().regex(/^\d{1,32}$/, "Expected the numeric QuickBooks company id"),
    accessToken: z.string().min(1).max(8192),
    refreshToken: z.string().min(1).max(8192),
    accessTokenExpiresAt: Instant,
    refreshTokenExpiresAt: Instant.optional(),
    refreshTokenHardExpiresAt: Instant.optional().openapi({
      description:
        "The grant's 5-year cap (Intuit's `x_refresh_token_hard_expires_in`) when known; otherwise learnt at the next refresh.",
    }),
    clientId: z.string().min(1).max(512).optional(),
    clientSecret: z.string().min(1).max(512).optional(),
    force: z.boolean().default(false).openapi({
      description:
        "Connect another QuickBooks company even though POs have open invoices in the current one (otherwise 409 qbo_realm_change_blocked).",
    }),
  })
  .openapi("StoreTokens");

const security = [{ bearer: [] }];

const view = (c: ConferenceWithConnection) => conferenceView(c.row, c.connection, c.previousRealms);

export function registerConferenceRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "put",
      path: "/api/conferences/{slug}",
      security,
      request: { params: ConferenceParams, body: jsonBody(PutConferenceBody) },
      responses: {
        200: jsonResponse(ConferenceView, "Updated"),
        201: jsonResponse(ConferenceView, "Created"),
        ...commonErrors,
      },
    }),
    async (c) => {
      const { slug } = c.req.valid("param");
      const { created, ...conference } = await putConference(
        c.env,
        makeDb(c.env.DB),
        slug,
        c.req.valid("json"),
      );
      return c.json(view(conference), created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}",
      security,
      request: { params: ConferenceParams },
      responses: { 200: jsonResponse(ConferenceView, "The conference"), ...commonErrors },
    }),
    async (c) => {
      return c.json(view(await getConference(c.env, makeDb(c.env.DB), c.req.valid("param").slug)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "put",
      path: "/api/conferences/{slug}/qbo/tokens",
      security,
      description:
        "Stores QuickBooks OAuth tokens in the conference's vault, encrypted. They are never returned. Tokens for another company while POs have open invoices in the current one → 409 qbo_realm_change_blocked unless `force: true`.",
      request: { params: ConferenceParams, body: jsonBody(StoreTokensBody) },
      responses: { 200: jsonResponse(ConferenceView, "The conference, connected"), ...commonErrors },
    }),
    async (c) => {
      const { force, ...tokens } = c.req.valid("json");
      const conference = await storeTokens(c.env, makeDb(c.env.DB), c.req.valid("param").slug, tokens, {
        force,
      });
      return c.json(view(conference), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/conferences/{slug}/qbo/tokens",
      security,
      description:
        "Disconnects QuickBooks: revokes the grant at Intuit when possible and forgets the tokens.",
      request: { params: ConferenceParams },
      responses: { 204: { description: "Disconnected" }, ...commonErrors },
    }),
    async (c) => {
      await disconnect(c.env, makeDb(c.env.DB), c.req.valid("param").slug);
      return c.body(null, 204);
    },
  );
}
