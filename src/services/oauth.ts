/**
 * The OAuth 2.0 authorization-code flow that connects a conference to QuickBooks.
 *
 * `state` is `base64url(payload).base64url(hmac)`, with payload `{n: nonce, s: slug, e: expiry}`.
 * The HMAC (key derived from TOKEN_ENCRYPTION_KEY with HKDF, so no extra secret to manage)
 * makes it unforgeable and binds it to the conference; the nonce row in D1 makes it single use
 * (consumed by one conditional UPDATE); the expiry makes it short-lived (10 minutes).
 *
 * The state is also bound to the browser that opens the consent page (RFC 6749 §10.12, login
 * CSRF): the API hands out a link to the Worker's own start page, which sets a cookie holding
 * `browserBinding(nonce)` and then redirects to Intuit; the callback refuses a state whose nonce
 * does not match that cookie. Without it, anyone could send an operator a callback link carrying
 * *their* code and state, and the operator's click would connect the attacker's company.
 */
import { z } from "zod";
import { base64ToBytes, bytesToBase64 } from "../connections/crypto";
import type { Db } from "../db/client";
import { consumeOAuthState, insertOAuthState } from "../db/oauth-states";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { timingSafeEqualBytes, timingSafeEqualStrings } from "../lib/secure-compare";
import { requestTokens } from "../qbo/intuit-oauth";
import { checkRealmChange, requireConference, storeTokens } from "./conferences";

export const STATE_TTL_MS = 10 * 60 * 1000;
export const QBO_SCOPE = "com.intuit.quickbooks.accounting";

/**
 * Exactly what `startConnect` signs: a 24-byte nonce, the slug, the expiry (epoch ms), and
 * `f: 1` when the operator confirmed connecting another company despite open invoices (SPEC §15).
 */
const StatePayload = z.strictObject({
  n: z.string().regex(/^[A-Za-z0-9_-]{32}$/),
  s: z.string().min(1),
  e: z.number().int().positive(),
  f: z.literal(1).optional(),
});

export function redirectUri(env: Env, requestUrl: string): string {
  return env.QBO_REDIRECT_URI || `${new URL(requestUrl).origin}/oauth/qbo/callback`;
}

/**
 * The HMAC keys for states: the first signs; every one verifies. During a key rotation a consent
 * link issued just before the deploy (signed under the previous key) still works for its 10
 * minutes; an unusable previous key is skipped (the vault logs it).
 */
async function stateKeys(env: Env): Promise<CryptoKey[]> {
  if (!env.TOKEN_ENCRYPTION_KEY) {
    throw new ApiError("not_configured", "TOKEN_ENCRYPTION_KEY is not set; QuickBooks cannot be connected.");
  }
  const current = await stateKey(env.TOKEN_ENCRYPTION_KEY);
  const previous = env.TOKEN_ENCRYPTION_KEY_PREVIOUS
    ? await stateKey(env.TOKEN_ENCRYPTION_KEY_PREVIOUS).catch(() => null)
    : null;
  return previous ? [current, previous] : [current];
}

async function stateKey(base64Key: string): Promise<CryptoKey> {
  const base = await crypto.subtle.importKey("raw", base64ToBytes(base64Key), "HKDF", false, ["deriveKey"]);
  return crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: new TextEncoder().encode("qbo-oauth-state-v1"),
    },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
}

const b64url = (bytes: Uint8Array) =>
  bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (text: string) => base64ToBytes(text.replace(/-/g, "+").replace(/_/g, "/"));

/**
 * Decodes base64url only in the one spelling `b64url` writes: no padding, no whitespace, no
 * standard-alphabet characters, no stray bits in the last character. `atob` forgives all of
 * these, which would let one state be written many ways.
 */
function fromCanonicalB64url(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9_-]+$/.test(text)) return null;
  try {
    const bytes = fromB64url(text);
    return b64url(bytes) === text ? bytes : null;
  } catch {
    return null;
  }
}

/** The path of the Worker's page that binds a state to the browser and redirects to Intuit. */
export const CONSENT_START_PATH = "/oauth/qbo/start";

/**
 * The link to hand an operator: the Worker's start page (same origin as the callback, so the
 * cookie it sets comes back there) with a fresh signed single-use state.
 */
export async function startConnect(
  env: Env,
  db: Db,
  slug: string,
  requestUrl: string,
  opts: { force: boolean } = { force: false },
): Promise<string> {
  await requireConference(db, slug);
  requireClient(env);
  const [key] = await stateKeys(env);
  if (!key) throw new Error("no state key");
  const nonce = b64url(crypto.getRandomValues(new Uint8Array(24)));
  const expiresAt = Date.now() + STATE_TTL_MS;
  await insertOAuthState(db, nonce, slug, new Date(expiresAt).toISOString());
  const payload = b64url(
    new TextEncoder().encode(
      JSON.stringify({ n: nonce, s: slug, e: expiresAt, ...(opts.force ? { f: 1 } : {}) }),
    ),
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
  const url = new URL(CONSENT_START_PATH, redirectUri(env, requestUrl));
  url.searchParams.set("state", `${payload}.${b64url(mac)}`);
  return url.toString();
}

function requireClient(env: Env): void {
  if (!env.QBO_CLIENT_ID || !env.QBO_CLIENT_SECRET) {
    throw new ApiError(
      "not_configured",
      "QBO_CLIENT_ID and QBO_CLIENT_SECRET must be set to connect QuickBooks.",
    );
  }
}

/**
 * What the browser must carry back to the callback for a state: base64url(SHA-256(nonce)). A
 * hash, so the cookie alone (logged by a proxy, say) does not reveal the nonce.
 */
export async function browserBinding(nonce: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce))));
}

/**
 * The start page's work: checks the state (form, signature, expiry; it is consumed only by the
 * callback) and returns Intuit's consent URL and the binding the browser is to keep in a cookie.
 */
export async function openConsent(
  env: Env,
  state: string,
  requestUrl: string,
): Promise<{ consentUrl: string; binding: string }> {
  requireClient(env);
  const parsed = await verifyState(env, state);
  if (parsed.e < Date.now()) throw new OAuthCallbackError(400, "The sign-in link has expired; start again.");
  const url = new URL(env.QBO_AUTHORIZE_URL);
  url.searchParams.set("client_id", env.QBO_CLIENT_ID ?? "");
  url.searchParams.set("response_type", "code");
  url.searchParams.set("scope", QBO_SCOPE);
  url.searchParams.set("redirect_uri", redirectUri(env, requestUrl));
  url.searchParams.set("state", state);
  return { consentUrl: url.toString(), binding: await browserBinding(parsed.n) };
}

export class OAuthCallbackError extends Error {
  readonly status: 400 | 502 | 503;
  constructor(status: 400 | 502 | 503, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * Checks the state's form and signature and returns its payload. The form is exactly
 * `payload.mac`, both canonical base64url: anything else is refused before any MAC work, and the
 * payload is parsed only once its MAC checks out.
 */
async function verifyState(env: Env, state: string): Promise<z.infer<typeof StatePayload>> {
  const invalid = () => new OAuthCallbackError(400, "The sign-in link is not valid.");
  const parts = state.split(".");
  if (parts.length !== 2) throw invalid();
  const [payload = "", mac = ""] = parts;
  const payloadBytes = fromCanonicalB64url(payload);
  const given = fromCanonicalB64url(mac);
  if (!payloadBytes || !given) throw invalid();
  let signed = false;
  for (const key of await stateKeys(env)) {
    const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
    if (await timingSafeEqualBytes(expected, given)) signed = true;
  }
  if (!signed) throw invalid();
  try {
    return StatePayload.parse(JSON.parse(new TextDecoder().decode(payloadBytes)));
  } catch {
    throw invalid();
  }
}

/**
 * Verifies the state, its binding to this browser and its expiry, then consumes the nonce.
 * Returns the conference slug and the force flag. A state from another browser is refused
 * before it is consumed, so the browser that started the flow can still finish it.
 */
async function consumeState(
  env: Env,
  db: Db,
  state: string,
  binding: string | undefined,
): Promise<{ slug: string; force: boolean }> {
  const parsed = await verifyState(env, state);
  if (!binding || !(await timingSafeEqualStrings(binding, await browserBinding(parsed.n)))) {
    log("warn", "oauth.browser_mismatch", { conference: parsed.s, cookie: Boolean(binding) });
    throw new OAuthCallbackError(
      400,
      "This sign-in was not started in this browser (or its cookie was lost); start again from the conference's Connect link.",
    );
  }
  const now = new Date();
  if (parsed.e < now.getTime())
    throw new OAuthCallbackError(400, "The sign-in link has expired; start again.");
  if (!(await consumeOAuthState(db, parsed.n, parsed.s, now.toISOString())))
    throw new OAuthCallbackError(400, "This sign-in link was already used; start again.");
  return { slug: parsed.s, force: parsed.f === 1 };
}

export interface CallbackParams {
  code?: string | undefined;
  state?: string | undefined;
  realmId?: string | undefined;
  error?: string | undefined;
}

/**
 * Handles Intuit's redirect: state and browser binding first (no code exchange without both),
 * then the exchange. `binding` is the start page's cookie, absent when the browser has none.
 */
export async function completeConnect(
  env: Env,
  db: Db,
  params: CallbackParams,
  requestUrl: string,
  binding: string | undefined,
): Promise<{ slug: string; name: string; realmId: string }> {
  if (!params.state) throw new OAuthCallbackError(400, "The sign-in link is not valid.");
  const { slug, force } = await consumeState(env, db, params.state, binding);
  if (params.error) throw new OAuthCallbackError(400, "QuickBooks access was not granted.");
  if (!params.code || !params.realmId || !/^\d{1,32}$/.test(params.realmId)) {
    throw new OAuthCallbackError(400, "QuickBooks did not send an authorization code.");
  }
  const conference = await requireConference(db, slug);
  // Before the code is spent: a refused company change costs the operator one more click only.
  await checkRealmChange(db, slug, params.realmId, force);
  const outcome = await requestTokens(
    env.QBO_TOKEN_URL,
    { clientId: env.QBO_CLIENT_ID ?? "", clientSecret: env.QBO_CLIENT_SECRET ?? "" },
    { grant_type: "authorization_code", code: params.code, redirect_uri: redirectUri(env, requestUrl) },
  );
  if (!outcome.ok && outcome.kind === "unavailable") {
    throw new OAuthCallbackError(503, "Intuit could not be reached; try connecting again.");
  }
  const refreshToken = outcome.ok ? outcome.tokens.refreshToken : null;
  if (!outcome.ok || !refreshToken) {
    log("warn", "oauth.code_exchange_failed", {
      conference: slug,
      kind: outcome.ok ? "no_refresh_token" : outcome.kind,
    });
    throw new OAuthCallbackError(502, "Intuit refused the authorization; try connecting again.");
  }
  const t = outcome.tokens;
  await storeTokens(
    env,
    db,
    slug,
    {
      realmId: params.realmId,
      accessToken: t.accessToken,
      refreshToken,
      accessTokenExpiresAt: new Date(t.accessExpiresAt).toISOString(),
      refreshTokenExpiresAt:
        t.refreshExpiresAt === null ? undefined : new Date(t.refreshExpiresAt).toISOString(),
      refreshTokenHardExpiresAt:
        t.refreshHardExpiresAt === null ? undefined : new Date(t.refreshHardExpiresAt).toISOString(),
    },
    { force },
  );
  log("info", "oauth.connected", { conference: slug, realmId: params.realmId });
  return { slug, name: conference.name, realmId: params.realmId };
}
