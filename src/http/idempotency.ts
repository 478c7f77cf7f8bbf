/**
 * `Idempotency-Key` on every POST under /api (SPEC §11; IETF httpapi
 * draft-ietf-httpapi-idempotency-key-header). A client that lost an answer retries with the
 * same key and gets the first answer again, with `Idempotent-Replayed: true`, instead of a
 * second payment, invoice or e-mail.
 *
 * - The key is scoped to the caller (the deployment token, or one API key): callers never see
 *   each other's answers.
 * - The request is identified by a SHA-256 of method, path (with query) and the raw body bytes;
 *   the same key with another request → 422 `idempotency_key_reused`.
 * - A repeat while the first still runs → 409 `idempotency_key_in_use`. A claim without an answer
 *   after `STALE_CLAIM_MS` belongs to a request that died (the isolate was evicted, the client
 *   hung up mid-way) and the next request with the key takes it over and runs.
 * - 2xx and 4xx answers are kept for `IDEMPOTENCY_RETENTION_MS` (24 h) (a 4xx is the answer to that request, and
 *   the same request would get it again); 5xx answers are not kept: the key is released and a
 *   retry runs again, as the client expects from a temporary failure.
 * - Requests without the header are untouched.
 *
 * The body is read from a clone of the request, so the route's own JSON validation reads the
 * original stream exactly as it would without this middleware.
 */
import type { RouteConfig } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { makeDb } from "../db/client";
import {
  claimIdempotencyKey,
  completeIdempotencyKey,
  IDEMPOTENCY_RETENTION_MS,
  releaseIdempotencyKey,
} from "../db/idempotency";
import { readBodyWithin } from "../lib/body";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { type App, type AppEnv, type Caller, callerKey } from "./app-types";

export const IDEMPOTENCY_HEADER = "Idempotency-Key";
/** A claim this old without an answer is a dead request's. Far above any request's run time. */
export const STALE_CLAIM_MS = 60 * 1000;
/** Keyed request bodies are hashed whole; larger ones are refused (413). */
export const MAX_KEYED_BODY_BYTES = 1024 * 1024;
/** Answers larger than this are not kept (D1 rows stop at 2 MB); the key is released. */
const MAX_KEPT_BODY_BYTES = 1_000_000;
/** 1–255 visible ASCII characters (0x21–0x7E). */
const KEY_FORM = /^[\x21-\x7e]{1,255}$/;

/** The scope of a caller's keys: `"deployment"` or `"key:<id>"` (keys of different callers never meet). */
export function idempotencyScope(caller: Caller | undefined): string {
  return caller ? callerKey(caller) : "deployment";
}

/** The request's identity: SHA-256 (hex) of `METHOD\npath?query\n` followed by the raw body. */
export async function requestFingerprint(method: string, url: string, body: ArrayBuffer): Promise<string> {
  const { pathname, search } = new URL(url);
  const head = new TextEncoder().encode(`${method.toUpperCase()}\n${pathname}${search}\n`);
  const bytes = new Uint8Array(head.byteLength + body.byteLength);
  bytes.set(head, 0);
  bytes.set(new Uint8Array(body), head.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** The middleware, mounted on /api/* after authentication (the caller must be known). */
export function idempotency(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const key = c.req.raw.headers.get(IDEMPOTENCY_HEADER);
    if (c.req.method !== "POST" || key === null) return next();
    if (!KEY_FORM.test(key)) {
      throw new ApiError("validation_failed", "The request is not valid.", [
        { path: "header.Idempotency-Key", message: "Expected 1 to 255 visible ASCII characters" },
      ]);
    }
    const body = await readBodyWithin(c.req.raw.clone(), MAX_KEYED_BODY_BYTES);
    if (body === null) {
      throw new ApiError(
        "payload_too_large",
        `A request with an Idempotency-Key may have at most ${MAX_KEYED_BODY_BYTES} bytes of body.`,
      );
    }
    const caller = idempotencyScope(c.get("caller"));
    const db = makeDb(c.env.DB);
    const claim = await claimIdempotencyKey(db, {
      caller,
      key,
      fingerprint: await requestFingerprint(c.req.method, c.req.url, body),
      now: new Date(),
      staleClaimMs: STALE_CLAIM_MS,
      retentionMs: IDEMPOTENCY_RETENTION_MS,
    });
    if (claim.kind === "reused") {
      throw new ApiError(
        "idempotency_key_reused",
        "This Idempotency-Key was already used for a different request (method, path or body).",
      );
    }
    if (claim.kind === "in_use") {
      throw new ApiError(
        "idempotency_key_in_use",
        "A request with this Idempotency-Key is still being processed; retry shortly.",
      );
    }
    if (claim.kind === "replay") {
      const headers: Record<string, string> = { "idempotent-replayed": "true" };
      if (claim.contentType) headers["content-type"] = claim.contentType;
      if (claim.status === 204) return c.body(null, 204, headers);
      return c.body(claim.body, claim.status as ContentfulStatusCode, headers);
    }

    // Errors thrown downstream are rendered by onError before they reach us: c.res is the answer.
    await next();
    const res = c.res;
    try {
      const text = res.status < 500 ? await res.clone().text() : null;
      if (text === null || new TextEncoder().encode(text).byteLength > MAX_KEPT_BODY_BYTES) {
        if (text !== null) log("warn", "idempotency.answer_too_large", { requestId: c.get("requestId") });
        await releaseIdempotencyKey(db, caller, key, claim.claimId);
        return;
      }
      const kept = await completeIdempotencyKey(db, caller, key, claim.claimId, {
        status: res.status,
        contentType: res.headers.get("content-type"),
        body: text,
        now: new Date(),
      });
      if (!kept) log("warn", "idempotency.claim_lost", { requestId: c.get("requestId") });
    } catch (err) {
      // The work is done; its answer goes out even if it could not be kept. A retry after
      // STALE_CLAIM_MS would run again, which the services' own single-flight rules bound.
      log("error", "idempotency.store_failed", {
        requestId: c.get("requestId"),
        error: err instanceof Error ? err.name : "unknown",
      });
    }
  };
}

/**
 * Documents the header on every POST under /api in /openapi.json, in one place rather than in
 * each route module: the `Idempotency-Key` parameter, the `Idempotent-Replayed` response header,
 * 422 `idempotency_key_reused` and 409 `idempotency_key_in_use`. Call after the routes are
 * registered; a POST route added later is covered without touching this.
 */
export function documentIdempotencyKey(app: App): void {
  const registry = app.openAPIRegistry;
  const parameter = registry.registerComponent("parameters", "IdempotencyKey", {
    name: IDEMPOTENCY_HEADER,
    in: "header",
    required: false,
    description:
      "Makes the POST safe to retry (SPEC §11). 1–255 visible ASCII characters, unique per request (a UUID). " +
      "The first request runs; its status and body are kept 24 hours per caller and key, and a repeat with the " +
      "same method, path and body gets them again with `Idempotent-Replayed: true` and no side effect. " +
      "Another request with the key → 422 `idempotency_key_reused`; a repeat while the first runs → 409 " +
      "`idempotency_key_in_use` (a claim left 60 s without an answer is taken over). 5xx answers are not kept; " +
      "2xx and 4xx are.",
    schema: { type: "string", minLength: 1, maxLength: 255, pattern: "^[\\x21-\\x7E]{1,255}$" },
    example: "8e03978e-40d5-43e8-bc93-6894a57f9324",
  });
  const replayed = registry.registerComponent("headers", "IdempotentReplayed", {
    description: "`true` when this is the kept answer of an earlier request with the same Idempotency-Key.",
    schema: { type: "string", enum: ["true"] },
  });
  const errorContent = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };
  const reused = registry.registerComponent("responses", "IdempotencyKeyReused", {
    description: "idempotency_key_reused: the Idempotency-Key was used for another method, path or body",
    content: errorContent,
  });
  for (const definition of registry.definitions) {
    if (definition.type !== "route") continue;
    const route = definition.route;
    if (route.method !== "post" || !route.path.startsWith("/api/")) continue;
    const responses = Object.fromEntries(
      Object.entries(route.responses).map(([status, response]) => {
        if (Number(status) >= 500 || "$ref" in response || response.headers) return [status, response];
        return [status, { ...response, headers: { "Idempotent-Replayed": replayed.ref } }];
      }),
    );
    const conflict = responses["409"];
    responses["409"] =
      conflict && !("$ref" in conflict)
        ? { ...conflict, description: `${conflict.description}; idempotency_key_in_use` }
        : {
            description: "idempotency_key_in_use: the first request with this key is still running",
            content: errorContent,
          };
    responses["422"] ??= reused.ref;
    definition.route = {
      ...route,
      // Only a $ref is added, valid in every OpenAPI version the route type allows.
      parameters: [...(route.parameters ?? []), parameter.ref] as RouteConfig["parameters"],
      responses,
    };
  }
}
