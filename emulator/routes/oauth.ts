/**
 * Intuit's OAuth endpoints: token (refresh and authorization-code grants), revoke, and the
 * consent page with its Connect / Cancel decision. Token and revoke calls are counted and
 * fault-injected in the realm their token or code belongs to.
 */

import { QBO_SCOPE_ACCOUNTING } from "../auth.ts";
import { applyFault } from "../faults.ts";
import {
  type EmulatorRequest,
  escapeHtml,
  type HttpReply,
  html,
  json,
  type Reply,
  redirect,
} from "../http.ts";
import type { EmulatorState } from "../state.ts";

export const TOKEN_PATH = "/oauth2/v1/tokens/bearer";
export const REVOKE_PATH = "/v2/oauth2/tokens/revoke";
export const CONSENT_PATH = "/connect/oauth2";
export const DECISION_PATH = "/connect/oauth2/decision";

const NO_STORE = { "cache-control": "no-store", pragma: "no-cache" };

export async function handleToken(state: EmulatorState, request: EmulatorRequest): Promise<Reply> {
  const form = new URLSearchParams(request.body);
  const grantType = form.get("grant_type") ?? "";
  const realmId =
    grantType === "refresh_token"
      ? state.oauth.realmOfRefreshToken(form.get("refresh_token") ?? "")
      : grantType === "authorization_code"
        ? state.oauth.realmOfCode(form.get("code") ?? "")
        : undefined;
  const realm = realmId === undefined ? undefined : state.realms.get(realmId);
  realm?.stats.tokenCall(grantType);
  const fault = realm?.faults.take({
    method: request.method,
    path: TOKEN_PATH,
    operation: `token:${grantType}`,
  });
  if (fault) realm?.stats.faultInjected();
  return applyFault(
    fault,
    async () => exchange(state, request, form, grantType),
    realm?.settings.value.timestampOffset,
  );
}

function exchange(state: EmulatorState, request: EmulatorRequest, form: URLSearchParams, grantType: string) {
  if (request.method !== "POST") return oauthError(405, "invalid_request");
  const contentType = request.headers.get("content-type") ?? "";
  if (!contentType.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    return oauthError(400, "invalid_request");
  }
  const clientId = state.oauth.authenticateClient(request.headers.get("authorization"));
  if (!clientId) return oauthError(401, "invalid_client");

  let result: ReturnType<typeof state.oauth.refresh>;
  if (grantType === "refresh_token") {
    const refreshToken = form.get("refresh_token");
    if (!refreshToken) return oauthError(400, "invalid_request");
    const realmId = state.oauth.realmOfRefreshToken(refreshToken);
    const previousGrace =
      realmId === undefined || (state.realms.get(realmId)?.settings.value.previousRefreshTokenGrace ?? true);
    result = state.oauth.refresh(clientId, refreshToken, { previousGrace });
  } else if (grantType === "authorization_code") {
    const code = form.get("code");
    const redirectUri = form.get("redirect_uri");
    if (!code || !redirectUri) return oauthError(400, "invalid_request");
    result = state.oauth.exchangeCode(
      clientId,
      code,
      redirectUri,
      (realmId) => state.ensureRealm(realmId).ttls,
    );
  } else {
    return oauthError(400, "unsupported_grant_type");
  }
  if (result === "invalid_grant") return oauthError(400, "invalid_grant", "Token invalid");
  const now = Date.now();
  const body: Record<string, unknown> = {
    token_type: "bearer",
    access_token: result.accessToken,
    expires_in: secondsUntil(result.accessTokenExpiresAt, now),
    refresh_token: result.refreshToken,
    x_refresh_token_expires_in: secondsUntil(result.refreshTokenExpiresAt, now),
  };
  // Opt-in, as at Intuit (qbo-api.md A1: oauth-jsclient 4.2.4, HardExpiresTest.js).
  if (request.headers.get(HARD_EXPIRY_HEADER)?.trim().toLowerCase() === "true") {
    body.x_refresh_token_hard_expires_in = secondsUntil(result.refreshTokenHardExpiresAt, now);
  }
  return json(200, body, NO_STORE);
}

/** Whole seconds left, rounded up: a live token never says 0 (tests use fractional TTLs). */
function secondsUntil(instant: number, now: number): number {
  return Math.ceil((instant - now) / 1000);
}

/** The request header that asks for `x_refresh_token_hard_expires_in` in token responses. */
export const HARD_EXPIRY_HEADER = "x-include-refresh-token-hard-expires-in";

/** RFC 7009: answers 200 for unknown tokens too; a known one ends its whole grant. */
export async function handleRevoke(state: EmulatorState, request: EmulatorRequest): Promise<Reply> {
  const token = revokeToken(request);
  const realmId = token ? state.oauth.realmOfAnyToken(token) : undefined;
  const realm = realmId === undefined ? undefined : state.realms.get(realmId);
  realm?.stats.revokeCall();
  const fault = realm?.faults.take({ method: request.method, path: REVOKE_PATH, operation: "revoke" });
  if (fault) realm?.stats.faultInjected();
  const offset = realm?.settings.value.timestampOffset;
  return applyFault(
    fault,
    async () => {
      if (request.method !== "POST") return oauthError(405, "invalid_request");
      const clientId = state.oauth.authenticateClient(request.headers.get("authorization"));
      if (!clientId) return oauthError(401, "invalid_client");
      if (!token) return oauthError(400, "invalid_request");
      state.oauth.revoke(clientId, token);
      return { status: 200, headers: NO_STORE, body: "" };
    },
    offset,
  );
}

function revokeToken(request: EmulatorRequest): string | undefined {
  const type = request.headers.get("content-type") ?? "";
  if (type.toLowerCase().startsWith("application/x-www-form-urlencoded")) {
    return new URLSearchParams(request.body).get("token") ?? undefined;
  }
  try {
    const body: unknown = JSON.parse(request.body);
    if (typeof body === "object" && body !== null && "token" in body && typeof body.token === "string") {
      return body.token;
    }
  } catch {
    // not JSON: no token
  }
  return undefined;
}

interface ConsentParams {
  clientId: string;
  redirectUri: string;
  state: string | null;
  scope: string;
}

/** Validates the authorization request the way Intuit does before showing any page. */
function consentParams(state: EmulatorState, params: URLSearchParams): ConsentParams | string {
  const clientId = params.get("client_id") ?? "";
  if (!state.oauth.hasClient(clientId)) return "Unknown client_id.";
  if (params.get("response_type") !== "code") return "response_type must be code.";
  const scope = params.get("scope") ?? "";
  if (!scope.split(/\s+/).includes(QBO_SCOPE_ACCOUNTING))
    return `scope must include ${QBO_SCOPE_ACCOUNTING}.`;
  const redirectUri = params.get("redirect_uri") ?? "";
  if (!isHttpUrl(redirectUri)) return "redirect_uri must be an absolute http(s) URL.";
  return { clientId, redirectUri, state: params.get("state"), scope };
}

export function handleConsentPage(state: EmulatorState, request: EmulatorRequest): HttpReply {
  const params = consentParams(state, request.url.searchParams);
  if (typeof params === "string") return errorPage(params);
  const realmId = state.consentRealmFor(params.clientId);
  const companyName = state.realms.get(realmId)?.companyName ?? `Sandbox Company ${realmId}`;
  const appName = state.oauth.appName(params.clientId);
  const hidden = (name: string, value: string | null) =>
    value === null ? "" : `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`;
  return html(
    200,
    `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Connect ${escapeHtml(appName)} to QuickBooks</title></head>
<body>
<h1>Connect ${escapeHtml(appName)} to QuickBooks</h1>
<p>${escapeHtml(appName)} wants to access the accounting data of
<strong id="company">${escapeHtml(companyName)}</strong> (company <span id="realm">${escapeHtml(realmId)}</span>).</p>
<form method="post" action="${DECISION_PATH}">
${hidden("client_id", params.clientId)}
${hidden("redirect_uri", params.redirectUri)}
${hidden("scope", params.scope)}
${hidden("response_type", "code")}
${hidden("state", params.state)}
${hidden("realm_id", realmId)}
<button id="connect" type="submit" name="decision" value="connect">Connect</button>
<button id="cancel" type="submit" name="decision" value="cancel">Cancel</button>
</form>
<p><small>QuickBooks Online emulator: no Intuit account involved.</small></p>
</body></html>`,
  );
}

export function handleDecision(state: EmulatorState, request: EmulatorRequest): HttpReply {
  const form = new URLSearchParams(request.body);
  const params = consentParams(state, form);
  if (typeof params === "string") return errorPage(params);
  const target = new URL(params.redirectUri);
  if (form.get("decision") === "connect") {
    const realmId = form.get("realm_id") ?? state.consentRealmFor(params.clientId);
    const realm = state.ensureRealm(/^\d{1,20}$/.test(realmId) ? realmId : undefined);
    target.searchParams.set("code", state.oauth.createCode(params.clientId, params.redirectUri, realm.id));
    if (params.state !== null) target.searchParams.set("state", params.state);
    target.searchParams.set("realmId", realm.id);
  } else {
    target.searchParams.set("error", "access_denied");
    if (params.state !== null) target.searchParams.set("state", params.state);
  }
  return redirect(target.toString());
}

function errorPage(message: string): HttpReply {
  return html(
    400,
    `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Authorization error</title></head><body><h1>Something went wrong</h1><p id="error">${escapeHtml(message)}</p></body></html>`,
  );
}

/** Intuit adds `error_description` to invalid_grant ("Token invalid", qbo-api.md A1 S1). */
function oauthError(status: number, error: string, description?: string): HttpReply {
  return json(status, description ? { error, error_description: description } : { error }, NO_STORE);
}

function isHttpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return url.protocol === "http:" || url.protocol === "https:";
  } catch {
    return false;
  }
}
