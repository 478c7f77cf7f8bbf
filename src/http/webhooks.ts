import type { Context } from "hono";
import { makeDb } from "../db/client";
import { readBodyWithin } from "../lib/body";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { parseWebhookEvents, verifyIntuitSignature } from "../qbo/webhook";
import { acknowledgementStarted, drainInboxRows, writeToInbox } from "../sync/inbox";
import type { App, AppEnv } from "./app-types";

/** Intuit's deliveries are a few KB; anything near this is not one, and is refused unread. */
export const WEBHOOK_MAX_BYTES = 1024 * 1024;

/**
 * POST /webhooks/qbo. Size-capped, then verified on the raw body; then written to the D1 inbox
 * and answered 200 at once. The inbox is drained into the queue after the response (waitUntil),
 * and by the cron for anything left (src/sync/inbox.ts), so a failing queue never makes Intuit
 * wait, retry or hold back later events. 401 only for a bad signature; 503 only when not
 * configured or D1 is down. Bodies we cannot use still get 200 so Intuit does not retry them forever.
 */
export function registerWebhookRoutes(app: App): void {
  app.post("/webhooks/qbo", async (c) => {
    // Counted until answered: this isolate's inbox drains wait for the answers (src/sync/inbox.ts).
    const answered = acknowledgementStarted();
    try {
      return await acknowledge(c);
    } finally {
      answered();
    }
  });
}

async function acknowledge(c: Context<AppEnv>): Promise<Response> {
  const verifier = c.env.QBO_WEBHOOK_VERIFIER_TOKEN;
  if (!verifier)
    throw new ApiError("not_configured", "QBO_WEBHOOK_VERIFIER_TOKEN is not set; webhooks are refused.");
  // Before any signature work: an oversized body is neither buffered nor hashed.
  const raw = await readBodyWithin(c.req.raw, WEBHOOK_MAX_BYTES);
  if (!raw) {
    log("warn", "webhook.too_large", { declared: c.req.header("content-length") ?? null });
    throw new ApiError("payload_too_large", "The webhook body is larger than 1 MB.");
  }
  const signature = c.req.header("intuit-signature");
  if (!signature || !(await verifyIntuitSignature(raw, signature, verifier))) {
    log("warn", "webhook.bad_signature", { present: Boolean(signature) });
    throw new ApiError("unauthorized", "The intuit-signature header is missing or does not match the body.");
  }
  // The Content-Type is not looked at: application/json, application/cloudevents+json and none
  // all carry the same JSON (a 415 would be retried by Intuit forever: qbo-api.md A2).
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(raw));
  } catch {
    throw new ApiError("invalid_json", "The webhook body is not valid JSON.");
  }
  const { events, skipped } = parseWebhookEvents(body);
  if (skipped > 0) log("warn", "webhook.unexpected_shape", { skipped, parsed: events.length });
  const db = makeDb(c.env.DB);
  const now = new Date();
  let rows: Awaited<ReturnType<typeof writeToInbox>>;
  try {
    rows = await writeToInbox(c.env, db, events, (work) => c.executionCtx.waitUntil(work), now);
  } catch (err) {
    log("error", "webhook.inbox_unavailable", {
      error: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : "unknown",
    });
    throw new ApiError(
      "qbo_unavailable",
      "The webhook inbox is unavailable; the delivery was not accepted. Retry later.",
    );
  }
  if (rows.length > 0) c.executionCtx.waitUntil(drainInboxRows(c.env, db, rows, now.toISOString()));
  return c.json({ status: "accepted", received: events.length, skipped }, 200);
}
