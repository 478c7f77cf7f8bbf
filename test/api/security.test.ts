/**
 * One security table over every route (STYLE.md; SPEC §3 "All /api/* routes need
 * Authorization: Bearer <API_TOKEN>"; SPEC §11 keys and roles). The table is read from the
 * Worker's own /openapi.json, so a route added to the document is checked here without anyone
 * writing a test for it; and every route the app serves must either be in the document or be
 * public on purpose (PUBLIC_ROUTES). Every /api operation is also called with an API key of each
 * role, of another conference, and revoked, and must answer as the role table says.
 */

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { createRoute } from "@hono/zod-openapi";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { API_KEY_ROLES, type ApiKeyRole, ROUTE_POLICIES, roleAllows } from "../../src/auth/roles";
import { API_TOKEN, call, expectError, type JsonResponse, paths } from "../helpers";

/** The /api operations that exist today; the table may grow, never shrink below these. */
const KNOWN_API_OPERATIONS = [
  "PUT /api/conferences/{slug}",
  "GET /api/conferences/{slug}",
  "PUT /api/conferences/{slug}/qbo/tokens",
  "DELETE /api/conferences/{slug}/qbo/tokens",
  "POST /api/conferences/{slug}/qbo/connect",
  "POST /api/conferences/{slug}/qbo/sync",
  "GET /api/conferences/{slug}/qbo/sync",
  "POST /api/conferences/{slug}/purchase-orders",
  "GET /api/conferences/{slug}/purchase-orders",
  "GET /api/conferences/{slug}/purchase-orders/{reference}",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/send",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/cancel",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/payments",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/credit-notes",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice/send",
  "GET /api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice/pdf",
  "POST /api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice/sync",
  "PUT /api/conferences/{slug}/event-endpoint",
  "GET /api/conferences/{slug}/event-endpoint",
  "DELETE /api/conferences/{slug}/event-endpoint",
  "GET /api/conferences/{slug}/event-endpoint/deliveries",
  "POST /api/conferences/{slug}/event-endpoint/deliveries/{id}/retry",
];

/**
 * Routes outside /api that answer without the bearer token, each with the reason it may. A new
 * route outside /api fails "serves no route outside /api that is not meant to be public" until it
 * is added here, with its own guard named.
 */
const CONSOLE_SESSION =
  "the console: a sealed session cookie whose token is revalidated on every request (SPEC §13, test/console)";
const CONSOLE_FORM =
  "the console: session + CSRF token checked first; the action then runs through the API's router with the session's token, roles and all";

const PUBLIC_ROUTES: Record<string, string> = {
  "GET /health": "liveness probe (SPEC §3 Public)",
  "GET /openapi.json": "the API's description, this table's source (SPEC §3 Public)",
  "GET /docs": "documentation page over /openapi.json (SPEC §3 Public)",
  "POST /webhooks/qbo": "Intuit sends no bearer token; guarded by the intuit-signature HMAC (SPEC §4)",
  "GET /oauth/qbo/callback":
    "Intuit's redirect; guarded by the signed, single-use state and the browser's binding cookie (SPEC §3)",
  "GET /oauth/qbo/start":
    "the connect link opened in a browser; checks the signed state, sets the binding cookie, redirects to Intuit (RFC 6749 §10.12)",
  "GET /docs/init.js": "the documentation page's own script (served here for its CSP, SPEC §13)",
  "GET /docs/assets/{version}/{file}": "pinned Swagger UI assets served by the Worker, no CDN (SPEC §13)",
  "GET /console": "the console's sign-in page (no session) or its conference list (deployment token session)",
  "GET /console/assets/{version}/console.css": "the console's pinned stylesheet (SPEC §13: no CDN)",
  "POST /console/sign-in":
    "checks the presented token as the API's auth does; CSRF bound to a pre-session cookie",
  "POST /console/sign-out": CONSOLE_FORM,
  "GET /console/c/{slug}": CONSOLE_SESSION,
  "GET /console/c/{slug}/qbo": CONSOLE_SESSION,
  "POST /console/c/{slug}/qbo/{action}": CONSOLE_FORM,
  "GET /console/c/{slug}/pos": CONSOLE_SESSION,
  "GET /console/c/{slug}/pos/{reference}": CONSOLE_SESSION,
  "GET /console/c/{slug}/pos/{reference}/pdf": CONSOLE_SESSION,
  "POST /console/c/{slug}/pos/{reference}/{action}": CONSOLE_FORM,
};

/** Plausible path parameter values; a parameter not listed here gets its documented example or "1". */
const PARAM_VALUES: Record<string, string> = { slug: "security-table", reference: "PO-SEC001" };
const OTHER_CONFERENCE = "security-other";
/** Fails every pattern the routes validate with (slugs are lower-case, references `PO-` + 6). */
const INVALID_VALUE = "NOT_VALID!";
const WRONG_TOKEN = "not-the-api-token";

interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  example?: unknown;
  schema?: { example?: unknown };
}

interface Operation {
  parameters?: Parameter[];
  requestBody?: { content?: Record<string, unknown> };
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
}

interface ApiOperation {
  /** "METHOD /path/{param}" as in the document. */
  label: string;
  method: string;
  template: string;
  operation: Operation;
}

const HTTP_METHODS = new Set(["get", "put", "post", "delete", "patch", "head", "options"]);

function operationsOf(doc: OpenApiDocument): ApiOperation[] {
  return Object.entries(doc.paths).flatMap(([template, item]) =>
    Object.entries(item)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([method, operation]) => ({
        label: `${method.toUpperCase()} ${template}`,
        method: method.toUpperCase(),
        template,
        operation,
      })),
  );
}

function exampleOf(p: Parameter): string {
  return String(PARAM_VALUES[p.name] ?? p.example ?? p.schema?.example ?? "1");
}

/** The operation's URL: every path parameter filled, required query parameters too. */
function urlFor(op: ApiOperation, fill: (p: Parameter) => string = exampleOf, allQuery = false): string {
  const params = op.operation.parameters ?? [];
  let url = op.template;
  for (const p of params.filter((p) => p.in === "path")) {
    url = url.replace(`{${p.name}}`, encodeURIComponent(fill(p)));
  }
  expect(url, `${op.label}: a path parameter is not documented`).not.toMatch(/[{}]/);
  const query = params.filter((p) => p.in === "query" && (allQuery || p.required));
  if (query.length > 0) url += `?${new URLSearchParams(query.map((p) => [p.name, fill(p)]))}`;
  return url;
}

const hasJsonBody = (op: ApiOperation) =>
  op.operation.requestBody?.content?.["application/json"] !== undefined;

/** A request that would pass validation, if the caller were allowed in: auth is all that is tested. */
function send(op: ApiOperation, opts: Parameters<typeof call>[3] = {}): Promise<JsonResponse> {
  return call(op.method, urlFor(op), hasJsonBody(op) ? {} : undefined, opts);
}

/** Hono's `:param` route syntax to the document's `{param}`. */
const asTemplate = (path: string) => path.replace(/:(\w+)/g, "{$1}");

/** Every route the app serves (middleware excluded), as "METHOD /path/{param}". */
function servedRoutes(): string[] {
  const routes = createApp()
    .routes.filter((r) => r.method !== "ALL")
    .map((r) => `${r.method} ${asTemplate(r.path)}`);
  return [...new Set(routes)];
}

const doc = (await call("GET", paths.openapi, undefined, { token: null })).body as OpenApiDocument;
const all = operationsOf(doc);
const api = all.filter((op) => op.template.startsWith("/api/"));

/**
 * SPEC §11's roles, stated here independently of src/auth/roles.ts so a slip in the table shows:
 * admin for the conference's settings, QuickBooks connection, keys and event endpoint (its
 * deliveries included); viewer for every other GET;
 * finance for every other change.
 */
const ADMIN_OPERATIONS = new Set([
  "PUT /api/conferences/{slug}",
  "PUT /api/conferences/{slug}/qbo/tokens",
  "DELETE /api/conferences/{slug}/qbo/tokens",
  "POST /api/conferences/{slug}/qbo/connect",
  "PUT /api/conferences/{slug}/event-endpoint",
  "GET /api/conferences/{slug}/event-endpoint",
  "DELETE /api/conferences/{slug}/event-endpoint",
  "GET /api/conferences/{slug}/event-endpoint/deliveries",
  "POST /api/conferences/{slug}/event-endpoint/deliveries/{id}/retry",
]);
function expectedRole(op: ApiOperation): ApiKeyRole {
  if (ADMIN_OPERATIONS.has(op.label) || op.template.startsWith("/api/conferences/{slug}/api-keys"))
    return "admin";
  return op.method === "GET" ? "viewer" : "finance";
}

async function createKey(slug: string, role: ApiKeyRole): Promise<{ id: string; key: string }> {
  const res = await call("POST", `${paths.conference(slug)}/api-keys`, { name: `security ${role}`, role });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

for (const slug of [PARAM_VALUES.slug as string, OTHER_CONFERENCE]) {
  expect((await call("PUT", paths.conference(slug), { name: "Security table" })).status).toBe(201);
}
const keys = Object.fromEntries(
  await Promise.all(
    API_KEY_ROLES.map(async (role) => [role, (await createKey(PARAM_VALUES.slug as string, role)).key]),
  ),
) as Record<ApiKeyRole, string>;
const otherAdminKey = (await createKey(OTHER_CONFERENCE, "admin")).key;

describe("the security table", () => {
  it("covers every known /api operation, and any added since", () => {
    const labels = api.map((op) => op.label);

    expect(labels).toEqual(expect.arrayContaining(KNOWN_API_OPERATIONS));
    expect(api.length).toBeGreaterThanOrEqual(KNOWN_API_OPERATIONS.length);
  });

  it("documents no route outside /api that is not meant to be public", () => {
    const outside = all.filter((op) => !op.template.startsWith("/api/")).map((op) => op.label);

    expect(outside.filter((label) => !(label in PUBLIC_ROUTES))).toEqual([]);
  });

  it("serves no /api route that the document, and so this table, leaves out", () => {
    const documented = new Set(all.map((op) => op.label));
    const served = servedRoutes().filter((route) => route.split(" ")[1]?.startsWith("/api/"));

    expect(served.length).toBeGreaterThanOrEqual(KNOWN_API_OPERATIONS.length);
    expect(served.filter((route) => !documented.has(route))).toEqual([]);
  });

  it("serves no route outside /api that is not meant to be public", () => {
    const outside = servedRoutes().filter((route) => !route.split(" ")[1]?.startsWith("/api/"));

    expect(outside.filter((route) => !(route in PUBLIC_ROUTES))).toEqual([]);
  });
});

describe.each(api.map((op) => [op.label, op] as const))("%s", (_label, op) => {
  it("declares bearer auth and a 401 answer in the document", () => {
    expect(op.operation.security).toContainEqual({ bearer: [] });
    expect(op.operation.responses).toHaveProperty("401");
  });

  it("answers 401 unauthorized without a token", async () => {
    expectError(await send(op, { token: null }), 401, "unauthorized");
  });

  it("answers 401 unauthorized for a wrong token", async () => {
    expectError(await send(op, { token: WRONG_TOKEN }), 401, "unauthorized");
  });

  it("answers 401 unauthorized for a well-formed API key that was never issued", async () => {
    expectError(await send(op, { token: `qpo_${"A".repeat(43)}` }), 401, "unauthorized");
  });

  it("answers 401, not 400, to a wrong token with invalid parameters and body: auth comes first", async () => {
    const url = urlFor(op, () => INVALID_VALUE, true);
    const body = hasJsonBody(op) ? { rawBody: "{ not json" } : {};

    expectError(await call(op.method, url, undefined, { token: WRONG_TOKEN, ...body }), 401, "unauthorized");
  });

  it("answers 503 not_configured, even to the right token, when API_TOKEN is unset", async () => {
    expectError(await send(op, { env: { API_TOKEN: undefined } }), 503, "not_configured");
  });

  it("answers 503 not_configured, even to a valid API key, when API_TOKEN is unset", async () => {
    expectError(await send(op, { token: keys.admin, env: { API_TOKEN: undefined } }), 503, "not_configured");
  });

  it("has its minimum role in the role table, as SPEC §11 says, and in the document", () => {
    expect(ROUTE_POLICIES[op.label]?.role, `${op.label} is missing from src/auth/roles.ts`).toBe(
      expectedRole(op),
    );
    expect(op.operation).toHaveProperty("x-minimum-role", expectedRole(op));
    expect(op.operation.responses).toHaveProperty("403");
  });

  it.each(API_KEY_ROLES)("answers a %s key as the role table says", async (role) => {
    const res = await send(op, { token: keys[role] });

    if (roleAllows(role, expectedRole(op))) {
      expect([401, 403], `${role} on ${op.label}: ${JSON.stringify(res.body)}`).not.toContain(res.status);
    } else {
      expectError(res, 403, "forbidden");
    }
  });

  it("answers 404 not_found to an admin key of another conference", async () => {
    expectError(await send(op, { token: otherAdminKey }), 404, "not_found");
  });

  it("answers 401 unauthorized to an admin key right after it is revoked", async () => {
    const { id, key } = await createKey(PARAM_VALUES.slug as string, "admin");
    const revoked = await call("DELETE", `${paths.conference(PARAM_VALUES.slug as string)}/api-keys/${id}`);
    expect(revoked.status).toBe(204);

    expectError(await send(op, { token: key }), 401, "unauthorized");
  });
});

describe("an /api operation missing from the role table", () => {
  it("is the deployment token's only: an admin key gets 403 forbidden", async () => {
    const app = createApp();
    const unlisted = createRoute({
      method: "get",
      path: "/api/conferences/{slug}/unlisted",
      responses: { 200: { description: "ok" } },
    });
    app.openapi(unlisted, (c) => c.json({ ok: true }, 200));
    const fetchApp = async (token: string) => {
      const ctx = createExecutionContext();
      const req = new Request(`http://worker.test/api/conferences/${PARAM_VALUES.slug}/unlisted`, {
        headers: { authorization: `Bearer ${token}` },
      });
      const res = await app.fetch(req, env, ctx);
      await waitOnExecutionContext(ctx);
      return { status: res.status, body: await res.json(), headers: res.headers };
    };

    expectError(await fetchApp(keys.admin), 403, "forbidden");
    expect((await fetchApp(API_TOKEN)).status).toBe(200);
  });
});
