/**
 * A conference's API keys (SPEC §11): create (the key is in this one answer), list (never the key
 * or its hash), revoke (effective from the next request). Deployment token or an `admin` key of
 * the same conference (src/auth/roles.ts; src/http/auth.ts).
 */
import { createRoute, z } from "@hono/zod-openapi";
import { apiKeyView, createApiKey, listConferenceApiKeys, revokeConferenceApiKey } from "../auth/api-keys";
import { API_KEY_ROLES } from "../auth/roles";
import { makeDb } from "../db/client";
import type { App } from "./app-types";
import { ConferenceParams, commonErrors, jsonBody, jsonResponse } from "./schemas";

const security = [{ bearer: [] }];

const Role = z.enum(API_KEY_ROLES).openapi({
  description:
    "`viewer`: every GET but this key list. `finance`: also POs, payments, credit notes and their voids, QuickBooks invoices (create, send, sync), cancel, conference sync. `admin`: also conference settings, QuickBooks tokens and connect, API keys.",
});

const CreateApiKeyBody = z
  .object({
    name: z.string().trim().min(1).max(100).openapi({ example: "registration platform" }),
    role: Role,
  })
  .openapi("CreateApiKey");

const ApiKeyView = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    prefix: z
      .string()
      .openapi({ example: "qpo_3fK9xQ2a", description: "The key's first characters, for display" }),
    createdAt: z.string(),
    lastUsedAt: z
      .string()
      .nullable()
      .openapi({ description: "Last use, to the minute: written at most once a minute per key" }),
    revokedAt: z.string().nullable(),
  })
  .openapi("ApiKey");

const CreatedApiKey = z
  .object({
    id: z.string(),
    name: z.string(),
    role: Role,
    key: z.string().openapi({
      example: "qpo_3fK9xQ2a…",
      description: "The bearer token. Shown in this answer only; only its hash is stored.",
    }),
    prefix: z.string(),
    createdAt: z.string(),
  })
  .openapi("CreatedApiKey");

const ApiKeyParams = ConferenceParams.extend({
  id: z
    .uuid()
    .openapi({ param: { name: "id", in: "path" }, example: "0b7c1f0e-5d55-4a8e-9d61-0d9a3f3b7f2e" }),
});

export function registerApiKeyRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/api-keys",
      security,
      description:
        "Creates an API key for this conference. The key is returned once, in this answer; store it now. Needs the deployment token or an admin key of this conference.",
      request: { params: ConferenceParams, body: jsonBody(CreateApiKeyBody) },
      responses: { 201: jsonResponse(CreatedApiKey, "The key, shown once"), ...commonErrors },
    }),
    async (c) => {
      const { row, key } = await createApiKey(
        makeDb(c.env.DB),
        c.req.valid("param").slug,
        c.req.valid("json"),
      );
      return c.json(
        { id: row.id, name: row.name, role: row.role, key, prefix: row.prefix, createdAt: row.createdAt },
        201,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/api-keys",
      security,
      description: "The conference's API keys, revoked ones included, newest first. Never the key itself.",
      request: { params: ConferenceParams },
      responses: { 200: jsonResponse(z.object({ items: z.array(ApiKeyView) }), "The keys"), ...commonErrors },
    }),
    async (c) => {
      const rows = await listConferenceApiKeys(makeDb(c.env.DB), c.req.valid("param").slug);
      return c.json({ items: rows.map(apiKeyView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "delete",
      path: "/api/conferences/{slug}/api-keys/{id}",
      security,
      description: "Revokes the key: its next request is refused (401). Revoking a revoked key is a no-op.",
      request: { params: ApiKeyParams },
      responses: { 204: { description: "Revoked" }, ...commonErrors },
    }),
    async (c) => {
      const { slug, id } = c.req.valid("param");
      await revokeConferenceApiKey(makeDb(c.env.DB), slug, id);
      return c.body(null, 204);
    },
  );
}
