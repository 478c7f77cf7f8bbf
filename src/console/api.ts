/**
 * How the console acts: every change (and the few reads whose shape other parts of the API grow,
 * like the sync status) is a request to the API's own router, run in this isolate with the
 * session's bearer token. Nothing leaves the Worker; what the console may do is exactly what the
 * API lets that token do: the same role table, zod validation, services, timeline actor,
 * Idempotency-Key handling, QuickBooks rate limits and event delivery. The console never
 * re-implements a rule, so it cannot drift from the API or bypass it.
 */
import type { Context } from "hono";
import type { App, AppEnv } from "../http/app-types";
import type { Session } from "./session";

export interface ApiAnswer {
  status: number;
  /** Parsed JSON, or null (204, or not JSON). */
  body: unknown;
  headers: Headers;
  /** The raw answer, for the PDF. */
  response: Response;
}

/** Idempotency keys the console sends: its own prefix, so they never meet a script's keys. */
const IDEMPOTENCY_FORM = /^[A-Za-z0-9-]{8,64}$/;

export async function callApi(
  router: App,
  c: Context<AppEnv>,
  session: Session,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  opts: { body?: unknown; idempotencyKey?: string | undefined } = {},
): Promise<ApiAnswer> {
  const headers = new Headers({ authorization: `Bearer ${session.token}` });
  const requestId = c.get("requestId");
  if (requestId) headers.set("x-request-id", requestId);
  if (opts.body !== undefined) headers.set("content-type", "application/json");
  if (opts.idempotencyKey && IDEMPOTENCY_FORM.test(opts.idempotencyKey))
    headers.set("idempotency-key", `console-${opts.idempotencyKey}`);
  const request = new Request(new URL(path, c.req.url), {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  let ctx: Context<AppEnv>["executionCtx"] | undefined;
  try {
    ctx = c.executionCtx;
  } catch {
    ctx = undefined; // an app called without one (tests): background work is skipped
  }
  const response = await router.fetch(request, c.env, ctx);
  let body: unknown = null;
  if ((response.headers.get("content-type") ?? "").includes("json")) {
    body = await response
      .clone()
      .json()
      .catch(() => null);
  }
  return { status: response.status, body, headers: response.headers, response };
}

/** The message of SPEC §3's error body, or a generic sentence. */
export function errorMessage(answer: ApiAnswer): string {
  const error = (answer.body as { error?: { message?: unknown; details?: unknown } } | null)?.error;
  const message =
    typeof error?.message === "string" ? error.message : `The request failed (${answer.status}).`;
  const details = Array.isArray(error?.details)
    ? (error.details as { path?: unknown; message?: unknown }[])
        .filter((d) => typeof d.path === "string" && typeof d.message === "string")
        .map((d) => `${d.path}: ${d.message}`)
    : [];
  return details.length ? `${message} ${details.join("; ")}` : message;
}
