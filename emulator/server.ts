/**
 * Starts a QBO emulator: the accounting API (/v3/company/...), Intuit's OAuth endpoints and
 * consent page, and the control API (/__control/...). State lives in memory per instance.
 */

import { type EmulatorRequest, type Handler, type HttpReply, isDrop, json, withIntuitTid } from "./http.ts";
import { serve } from "./node.ts";
import { RECEIVER_PREFIX } from "./receiver.ts";
import { handleApi } from "./routes/api.ts";
import { CONTROL_PREFIX, handleControl } from "./routes/control.ts";
import {
  CONSENT_PATH,
  DECISION_PATH,
  handleConsentPage,
  handleDecision,
  handleRevoke,
  handleToken,
  REVOKE_PATH,
  TOKEN_PATH,
} from "./routes/oauth.ts";
import { EmulatorState } from "./state.ts";
import type { WebhookFormat, WebhookTarget } from "./webhooks.ts";

export interface EmulatorOptions {
  /** Default 0: a free port. */
  port?: number;
  /** Default 127.0.0.1. */
  host?: string;
  /**
   * A webhook target set at start-up (and restored by POST /__control/reset), with any of the
   * delivery options of `PUT /__control/webhook` (Intuit's terms by default).
   */
  webhook?: Omit<WebhookTarget, "format"> & { format?: WebhookFormat };
}

export interface RunningEmulator {
  url: string;
  port: number;
  close(): Promise<void>;
}

export async function startEmulator(options: EmulatorOptions = {}): Promise<RunningEmulator> {
  const host = options.host ?? "127.0.0.1";
  const webhook = options.webhook && { ...options.webhook, format: options.webhook.format ?? "classic" };
  const state = new EmulatorState({ webhook });
  const server = await serve(createHandler(state), { port: options.port ?? 0, host });
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return { url: `http://${urlHost}:${server.port}`, port: server.port, close: server.close };
}

/** Routes a request to the API, OAuth or control handlers and stamps `intuit_tid`. */
export function createHandler(state: EmulatorState): Handler {
  return async (request, context) => {
    const reply = await route(state, request, context);
    return isDrop(reply) ? reply : withIntuitTid(reply);
  };
}

function route(state: EmulatorState, request: EmulatorRequest, context: Parameters<Handler>[1]) {
  const path = request.url.pathname;
  if (path.startsWith("/v3/company/")) return handleApi(state, request);
  if (path === TOKEN_PATH) return handleToken(state, request);
  if (path === REVOKE_PATH) return handleRevoke(state, request);
  if (path === CONSENT_PATH && request.method === "GET")
    return Promise.resolve(handleConsentPage(state, request));
  if (path === DECISION_PATH && request.method === "POST")
    return Promise.resolve(handleDecision(state, request));
  if (path.startsWith(RECEIVER_PREFIX) && request.method === "POST") {
    return state.receivers.receive(decodeURIComponent(path.slice(RECEIVER_PREFIX.length)), request);
  }
  if (path === CONTROL_PREFIX || path.startsWith(`${CONTROL_PREFIX}/`)) {
    return Promise.resolve(handleControl(state, request, context));
  }
  return Promise.resolve(notFound(request));
}

function notFound(request: EmulatorRequest): HttpReply {
  return json(404, { error: `The QBO emulator has no ${request.method} ${request.url.pathname}` });
}
