/**
 * The Hono app: request ids, bearer auth on /api/*, the routes, OpenAPI, and the single error
 * handler that renders every failure as SPEC §3's error body.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { registerConsoleRoutes } from "./console";
import { registerApiKeyRoutes } from "./http/api-keys";
import { type App, type AppEnv, newApp } from "./http/app-types";
import { authenticate, documentRoles } from "./http/auth";
import { registerConferenceRoutes } from "./http/conferences";
import { registerDiscrepancyRoutes } from "./http/discrepancy";
import { registerDocsRoutes } from "./http/docs";
import { drainEventsAfterChanges } from "./http/event-drain";
import { registerEventEndpointRoutes } from "./http/event-endpoint";
import { registerEventRoutes } from "./http/events";
import { documentIdempotencyKey, idempotency } from "./http/idempotency";
import { registerOauthRoutes } from "./http/oauth";
import { registerPurchaseOrderRoutes } from "./http/purchase-orders";
import { registerQboInvoiceRoutes } from "./http/qbo-invoice";
import { limitQboCalls } from "./http/rate-limit";
import { registerSyncRoutes } from "./http/sync";
import { registerWebhookRoutes } from "./http/webhooks";
import { documentWebhookRoute } from "./http/webhooks-openapi";
import { ApiError } from "./lib/errors";
import { log } from "./lib/log";

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const OPTIONAL_BODY_ROUTES = [
  "/api/conferences/:slug/qbo/connect",
  "/api/conferences/:slug/purchase-orders/:reference/qbo-invoice",
  "/api/conferences/:slug/purchase-orders/:reference/cancel",
];

const API_DESCRIPTION = `Finance and back-office API.

Every /api route needs \`Authorization: Bearer <token>\`, where the token is either

- the deployment token (\`API_TOKEN\`): may call everything, for every conference; or
- a conference API key (\`qpo_…\`), created with \`POST /api/conferences/{slug}/api-keys\`: it works
  on that conference's routes only (another conference's answer 404 \`not_found\`, as if it did
  not exist), within its role. Unknown or revoked keys get 401 \`unauthorized\`.

Roles, each including the ones before it (every operation names its minimum role, also as
\`x-minimum-role\`; a role below it gets 403 \`forbidden\`):

| role | may |
|---|---|
| \`viewer\` | every GET (conference, POs, PDF, sync status), except the key list |
| \`finance\` | create POs, send, cancel, record and void payments and credit notes, create/send/sync QuickBooks invoices, queue a conference sync |
| \`admin\` | conference settings (\`PUT\`), QuickBooks tokens and connect, API keys, the event endpoint and its deliveries |

Operations that call QuickBooks are rate limited per API key (60/min) and per conference (120/min,
all its keys together): 429 \`rate_limited\` with \`Retry-After\`. An API key's per-PO sync
within 5 s of the last one is answered from the stored PO without asking QuickBooks.`;

export function createApp(): App {
  const app = newApp();

  app.use("*", async (c, next) => {
    const sent = c.req.header("x-request-id");
    const requestId = sent && REQUEST_ID.test(sent) ? sent : crypto.randomUUID();
    c.set("requestId", requestId);
    await next();
    c.header("x-request-id", requestId);
  });

  // Who is calling and may they (src/http/auth.ts, roles in src/auth/roles.ts); then the limits
  // on what API keys can make us ask QuickBooks (src/http/rate-limit.ts: a 429 is answered before
  // any Idempotency-Key is claimed, so a retry after the wait runs); then Idempotency-Key.
  app.use("/api/*", authenticate());
  // After a change commits, its timeline events go to the conference platform (SPEC §12).
  app.use("/api/*", drainEventsAfterChanges());
  app.use("/api/*", limitQboCalls());
  app.use("/api/*", idempotency());

  // Routes whose JSON body is optional: an empty body sent as JSON (curl -H 'content-type:
  // application/json' -X POST, many HTTP clients) counts as no body, not as invalid JSON.
  for (const path of OPTIONAL_BODY_ROUTES) {
    app.use(path, async (c, next) => {
      const raw = c.req.raw;
      if (raw.method === "POST" && (raw.body === null || raw.headers.get("content-length") === "0")) {
        const headers = new Headers(raw.headers);
        headers.delete("content-type");
        headers.delete("content-length");
        c.req.raw = new Request(raw.url, { method: raw.method, headers });
      }
      await next();
    });
  }

  app.get("/health", (c) => c.json({ status: "ok" }));

  registerConferenceRoutes(app);
  registerPurchaseOrderRoutes(app);
  registerQboInvoiceRoutes(app);
  registerSyncRoutes(app);
  registerEventRoutes(app);
  registerEventEndpointRoutes(app);
  registerWebhookRoutes(app);
  registerOauthRoutes(app);
  registerApiKeyRoutes(app);
  registerDiscrepancyRoutes(app);
  documentRoles(app);
  documentIdempotencyKey(app);
  documentWebhookRoute(app);

  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Purchase-order invoicing through QuickBooks Online",
      version: "1.0.0",
      description: API_DESCRIPTION,
    },
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", { type: "http", scheme: "bearer" });
  registerDocsRoutes(app);
  // The operator console (SPEC §13): HTML pages that act through the routes above.
  registerConsoleRoutes(app);

  app.notFound((c) => renderError(c, new ApiError("not_found", "No such route.")));
  app.onError((err, c) => renderError(c, err));
  return app;
}

function renderError(c: Context<AppEnv>, err: Error): Response {
  const requestId = c.get("requestId") ?? crypto.randomUUID();
  let apiError: ApiError;
  if (err instanceof ApiError) {
    apiError = err;
  } else if (err instanceof HTTPException && err.status === 400 && /json/i.test(err.message)) {
    apiError = new ApiError("invalid_json", "The request body is not valid JSON.");
  } else if (err instanceof HTTPException && err.status < 500) {
    apiError = new ApiError("validation_failed", err.message || "The request is not valid.");
  } else {
    log("error", "http.unhandled_error", {
      requestId,
      path: c.req.path,
      error: err.name,
      message: err.message.slice(0, 500),
    });
    apiError = new ApiError(
      "internal_error",
      "Something went wrong on our side. Quote the request id when reporting it.",
    );
  }
  if (apiError.status >= 500 && apiError.code !== "internal_error") {
    log("warn", "http.error", { requestId, path: c.req.path, code: apiError.code });
  }
  const res = c.json(apiError.toBody(), apiError.status);
  const wait = (apiError.details as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  if ((apiError.code === "qbo_unavailable" || apiError.code === "rate_limited") && typeof wait === "number")
    res.headers.set("retry-after", String(wait));
  res.headers.set("x-request-id", requestId);
  res.headers.set("cache-control", "no-store");
  return res;
}
