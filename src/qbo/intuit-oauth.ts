/**
 * Intuit's OAuth 2.0 token protocol, written once: the authorization-code exchange (OAuth
 * callback), the refresh (the conference's Durable Object, which alone decides *when* to
 * refresh and keeps the single flight) and revocation (disconnect).
 *
 * Why one module: both callers must send the same Basic auth, parse the same token response
 * with zod, and classify failures the same way. `invalid_grant` in particular is final (the
 * grant is dead: a person must reconnect) while 429/5xx/network failures are transient; mixing
 * those up either locks a conference out for a blip or retries a dead grant forever.
 * Nothing here logs or returns a token other than in the successful outcome.
 */
import { z } from "zod";

const TOKEN_ENDPOINT_TIMEOUT_MS = 15_000;

export interface ClientCredentials {
  clientId: string;
  clientSecret: string;
}

/** Intuit's token response; `refresh_token` may be omitted on refresh (keep the old one then). */
const TokenResponse = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.coerce.number().int().positive().default(3600),
  x_refresh_token_expires_in: z.coerce.number().int().positive().optional(),
  /** The refresh token's absolute 5-year cap, when asked for (qbo-api.md A1, SPEC §10). */
  x_refresh_token_hard_expires_in: z.coerce.number().int().positive().optional(),
});

const TokenError = z.object({ error: z.string() });

/** A grant as Intuit issued it, with absolute expiries (epoch ms). */
export interface IssuedTokens {
  accessToken: string;
  refreshToken: string | null;
  accessExpiresAt: number;
  refreshExpiresAt: number | null;
  /** When the grant dies whatever happens (5-year cap); null when Intuit did not say. */
  refreshHardExpiresAt: number | null;
}

export type TokenOutcome =
  | { ok: true; tokens: IssuedTokens }
  /** Intuit refused the code or refresh token for good (`invalid_grant`). */
  | { ok: false; kind: "invalid_grant" }
  /** Network failure, 429 or 5xx: worth trying again later. */
  | { ok: false; kind: "unavailable"; status: number | null; retryAfterSeconds: number | null }
  /** Another refusal (`invalid_client`, 4xx…) or an answer that is not a token response. */
  | { ok: false; kind: "refused"; status: number; error: string | null };

export function basicAuth({ clientId, clientSecret }: ClientCredentials): string {
  return `Basic ${btoa(`${clientId}:${clientSecret}`)}`;
}

export type TokenGrantRequest =
  | { grant_type: "refresh_token"; refresh_token: string }
  | { grant_type: "authorization_code"; code: string; redirect_uri: string };

/** POSTs a grant to Intuit's token endpoint and classifies the answer. Never throws. */
export async function requestTokens(
  tokenUrl: string,
  credentials: ClientCredentials,
  grant: TokenGrantRequest,
): Promise<TokenOutcome> {
  let res: Response;
  try {
    res = await fetch(tokenUrl, {
      method: "POST",
      headers: {
        authorization: basicAuth(credentials),
        "content-type": "application/x-www-form-urlencoded",
        accept: "application/json",
        // Opt in to `x_refresh_token_hard_expires_in`, the grant's 5-year cap (qbo-api.md A1).
        "x-include-refresh-token-hard-expires-in": "true",
      },
      body: new URLSearchParams(grant).toString(),
      signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS),
    });
  } catch {
    return { ok: false, kind: "unavailable", status: null, retryAfterSeconds: null };
  }
  const json = safeJson(await res.text());
  if (res.ok) {
    const parsed = TokenResponse.safeParse(json);
    if (!parsed.success) return { ok: false, kind: "refused", status: res.status, error: null };
    const t = parsed.data;
    const now = Date.now();
    return {
      ok: true,
      tokens: {
        accessToken: t.access_token,
        refreshToken: t.refresh_token ?? null,
        accessExpiresAt: now + t.expires_in * 1000,
        refreshExpiresAt: t.x_refresh_token_expires_in ? now + t.x_refresh_token_expires_in * 1000 : null,
        refreshHardExpiresAt: t.x_refresh_token_hard_expires_in
          ? now + t.x_refresh_token_hard_expires_in * 1000
          : null,
      },
    };
  }
  const error = TokenError.safeParse(json);
  if (res.status === 400 && error.success && error.data.error === "invalid_grant") {
    return { ok: false, kind: "invalid_grant" };
  }
  if (res.status === 429 || res.status >= 500) {
    const retryAfter = Number(res.headers.get("retry-after"));
    return {
      ok: false,
      kind: "unavailable",
      status: res.status,
      retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : null,
    };
  }
  return { ok: false, kind: "refused", status: res.status, error: error.success ? error.data.error : null };
}

/** Revokes a token at Intuit (best effort). True when Intuit confirmed; never throws. */
export async function revokeToken(
  revokeUrl: string,
  credentials: ClientCredentials,
  token: string,
): Promise<boolean> {
  try {
    const res = await fetch(revokeUrl, {
      method: "POST",
      headers: {
        authorization: basicAuth(credentials),
        "content-type": "application/json",
        accept: "application/json",
      },
      body: JSON.stringify({ token }),
      signal: AbortSignal.timeout(TOKEN_ENDPOINT_TIMEOUT_MS),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
