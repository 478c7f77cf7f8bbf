/**
 * Bearer auth on /api/* (SPEC §3, §11): who is calling (`c.get("caller")`), and whether they may
 * call this operation. Runs before any validation, so a stranger learns nothing from 400s.
 *
 * Order of answers: API_TOKEN unset → 503 `not_configured` (fail closed, even for keys); no or
 * unknown or revoked token → 401 `unauthorized`; a key on another conference's path → 404
 * `not_found` (as if that conference did not exist for it); a key whose role is below the
 * operation's (src/auth/roles.ts) → 403 `forbidden`.
 */
import type { Context, MiddlewareHandler } from "hono";
import { matchedRoutes } from "hono/route";
import { authenticateApiKey, KEY_PREFIX } from "../auth/api-keys";
import { asTemplate, type RoutePolicy, roleAllows, routePolicy } from "../auth/roles";
import { makeDb } from "../db/client";
import { ApiError, notFound } from "../lib/errors";
import { timingSafeEqualStrings } from "../lib/secure-compare";
import type { App, AppEnv, Caller } from "./app-types";
import { errorResponse } from "./schemas";

/** The operation that will answer this request, as "METHOD" and "/path/{param}". */
export interface ServedOperation {
  method: string;
  template: string;
  /** Path parameters by name, read from the URL's segments (decoded). */
  params: Record<string, string>;
  policy: RoutePolicy | undefined;
}

/**
 * The route Hono will run for this request (middleware excluded), or undefined when none matches
 * (the request then ends in the app's 404). Routing is done before any middleware runs, so this
 * is the handler that will answer, whatever its order of registration.
 */
export function servedOperation(c: Context<AppEnv>): ServedOperation | undefined {
  const route = matchedRoutes(c).find((r) => r.method !== "ALL");
  if (!route) return undefined;
  const template = asTemplate(route.path);
  const params: Record<string, string> = {};
  const names = template.split("/");
  const segments = c.req.path.split("/");
  names.forEach((name, i) => {
    const m = /^\{(\w+)\}$/.exec(name);
    if (m?.[1]) params[m[1]] = decodeSegment(segments[i] ?? "");
  });
  return { method: route.method, template, params, policy: routePolicy(route.method, template) };
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Sets `caller` or refuses the request (see the module comment for which answer when). */
export function authenticate(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const expected = c.env.API_TOKEN;
    if (!expected) throw new ApiError("not_configured", "API_TOKEN is not set; the API is closed.");
    const match = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "");
    const token = match?.[1];
    if (!token) throw unauthorized();
    if (await timingSafeEqualStrings(token, expected)) {
      c.set("caller", { type: "deployment" });
      return next();
    }
    if (!token.startsWith(KEY_PREFIX)) throw unauthorized();
    const key = await authenticateApiKey(makeDb(c.env.DB), token);
    if (!key) throw unauthorized();
    const caller: Caller = {
      type: "api_key",
      id: key.id,
      name: key.name,
      role: key.role,
      conference: key.conferenceSlug,
    };
    authorizeKey(c, caller);
    c.set("caller", caller);
    return next();
  };
}

const unauthorized = () => new ApiError("unauthorized", "A valid bearer token is required.");

function authorizeKey(c: Context<AppEnv>, caller: Extract<Caller, { type: "api_key" }>): void {
  const op = servedOperation(c);
  // No route serves this path: let the app's 404 answer, as it would for the deployment token.
  if (!op) return;
  const slug = op.params.slug;
  if (slug === undefined) {
    throw new ApiError("forbidden", "This operation needs the deployment token; API keys may not call it.");
  }
  if (slug !== caller.conference) throw notFound(`Conference '${slug}'`);
  if (!op.policy) {
    // Fail closed: an operation nobody gave a role to is the deployment token's alone.
    throw new ApiError("forbidden", "This operation needs the deployment token; API keys may not call it.");
  }
  if (!roleAllows(caller.role, op.policy.role)) {
    throw new ApiError(
      "forbidden",
      `This API key's role (${caller.role}) may not call this operation; it needs ${op.policy.role}.`,
    );
  }
}

/**
 * Writes the role table into /openapi.json, so the document and the enforcement cannot disagree:
 * each /api operation gets `x-minimum-role`, a sentence naming it, a 403 answer, and a 429 answer
 * when API keys are rate limited on it. Call after every route is registered.
 */
export function documentRoles(app: App): void {
  for (const def of app.openAPIRegistry.definitions) {
    if (def.type !== "route" || !def.route.path.startsWith("/api/")) continue;
    const route = def.route;
    const policy = routePolicy(route.method, route.path);
    const least = policy ? policy.role : "deployment token";
    const limited = policy?.qboCalls
      ? " Rate limited per API key and per conference (429 `rate_limited`)."
      : "";
    // A copy, not an edit: a route config may be shared by several apps (tests build many).
    def.route = {
      ...route,
      "x-minimum-role": least,
      description: `${route.description ? `${route.description}\n\n` : ""}Minimum role: **${least}**.${limited}`,
      responses: {
        ...route.responses,
        403: errorResponse("forbidden: the API key's role is below this operation's"),
        ...(policy?.qboCalls ? { 429: errorResponse("rate_limited: see the Retry-After header") } : {}),
      },
    } as typeof route;
  }
}
