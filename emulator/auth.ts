/**
 * Intuit's OAuth 2.0 as the service sees it: registered clients, grants (one per connection),
 * access tokens that expire, refresh tokens that rotate on every use, single-use authorization
 * codes, and revocation. All tokens are opaque random strings. A grant dies at its hard expiry
 * (Intuit's 5-year cap, qbo-api.md A1) whatever the refreshes; the refresh token just used stays
 * valid until its successor is used, so a client whose refresh answer was lost can retry.
 */

import { randomToken } from "./random.ts";

export const QBO_SCOPE_ACCOUNTING = "com.intuit.quickbooks.accounting";
export const DEFAULT_CLIENT = {
  clientId: "test-client-id",
  clientSecret: "test-client-secret",
  appName: "Test App",
};
export const DEFAULT_ACCESS_TTL_SECONDS = 3600;
export const DEFAULT_REFRESH_TTL_SECONDS = 8_726_400;
/** Intuit's 5-year maximum validity of a refresh token, from the connection (qbo-api.md A1, S2/S6). */
export const DEFAULT_REFRESH_HARD_TTL_SECONDS = 5 * 365 * 86_400;
const CODE_TTL_MS = 10 * 60 * 1000;

export interface TokenTtls {
  accessTtlSeconds: number;
  refreshTtlSeconds: number;
  /** From the grant's creation: no refresh token of the grant outlives it. */
  hardTtlSeconds: number;
}

export interface IssuedTokens {
  realmId: string;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: number;
  refreshTokenExpiresAt: number;
  /** The grant's hard expiry (epoch ms): `x_refresh_token_hard_expires_in` counts down to it. */
  refreshTokenHardExpiresAt: number;
}

interface Client {
  secret: string;
  appName: string;
}

interface Grant {
  id: number;
  realmId: string;
  clientId: string;
  ttls: TokenTtls;
  /** Revoked through the revoke endpoint: refresh and access tokens both stop working. */
  revoked: boolean;
  /** Refresh tokens revoked by the control API; access tokens live on until they expire. */
  refreshRevoked: boolean;
  currentRefreshToken: string;
  /** The refresh token that produced the current one, valid until the current one is used. */
  previousRefreshToken: string | undefined;
  /** Epoch ms: the 5-year cap. */
  hardExpiresAt: number;
}

interface AccessToken {
  grantId: number;
  expiresAt: number;
}

interface RefreshToken {
  grantId: number;
  expiresAt: number;
}

interface AuthCode {
  clientId: string;
  redirectUri: string;
  realmId: string;
  expiresAt: number;
  used: boolean;
}

export type AccessCheck = { ok: true; realmId: string } | { ok: false; detail: string };

export class OAuthServer {
  readonly #clients = new Map<string, Client>();
  readonly #grants = new Map<number, Grant>();
  readonly #accessTokens = new Map<string, AccessToken>();
  readonly #refreshTokens = new Map<string, RefreshToken>();
  readonly #codes = new Map<string, AuthCode>();
  #nextGrantId = 1;

  constructor() {
    this.registerClient(DEFAULT_CLIENT.clientId, DEFAULT_CLIENT.clientSecret, DEFAULT_CLIENT.appName);
  }

  registerClient(clientId: string, secret: string, appName?: string): void {
    this.#clients.set(clientId, { secret, appName: appName ?? clientId });
  }

  hasClient(clientId: string): boolean {
    return this.#clients.has(clientId);
  }

  appName(clientId: string): string {
    return this.#clients.get(clientId)?.appName ?? clientId;
  }

  /** The client id from `Authorization: Basic base64(id:secret)` when the secret matches. */
  authenticateClient(authorization: string | null): string | undefined {
    const match = /^Basic\s+(\S+)$/i.exec(authorization ?? "");
    if (!match?.[1]) return undefined;
    let clientId: string;
    let secret: string;
    try {
      const decoded = atob(match[1]);
      const colon = decoded.indexOf(":");
      if (colon < 0) return undefined;
      // RFC 6749 §2.3.1: id and secret are form-urlencoded before being joined.
      clientId = decodeURIComponent(decoded.slice(0, colon));
      secret = decodeURIComponent(decoded.slice(colon + 1));
    } catch {
      return undefined;
    }
    const client = this.#clients.get(clientId);
    return client && timingSafeEqual(client.secret, secret) ? clientId : undefined;
  }

  /** A new grant for realm and client, as if a person had just connected the company. */
  issueGrant(realmId: string, clientId: string, ttls: TokenTtls, now = Date.now()): IssuedTokens {
    const grant: Grant = {
      id: this.#nextGrantId++,
      realmId,
      clientId,
      ttls,
      revoked: false,
      refreshRevoked: false,
      currentRefreshToken: "",
      previousRefreshToken: undefined,
      hardExpiresAt: now + (ttls.hardTtlSeconds ?? DEFAULT_REFRESH_HARD_TTL_SECONDS) * 1000,
    };
    this.#grants.set(grant.id, grant);
    return this.#issueTokens(grant, now);
  }

  checkAccessToken(authorization: string | null, now = Date.now()): AccessCheck {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!match?.[1]) return { ok: false, detail: "Token invalid: missing bearer token" };
    const token = this.#accessTokens.get(match[1]);
    const grant = token && this.#grants.get(token.grantId);
    if (!token || !grant) return { ok: false, detail: "Token invalid" };
    if (grant.revoked) return { ok: false, detail: "Token revoked" };
    if (token.expiresAt <= now) return { ok: false, detail: "Token expired" };
    return { ok: true, realmId: grant.realmId };
  }

  /** The realm a refresh token belongs to (valid or not), to attribute token calls. */
  realmOfRefreshToken(refreshToken: string): string | undefined {
    const token = this.#refreshTokens.get(refreshToken);
    return token && this.#grants.get(token.grantId)?.realmId;
  }

  realmOfCode(code: string): string | undefined {
    return this.#codes.get(code)?.realmId;
  }

  realmOfAnyToken(token: string): string | undefined {
    const grantId = this.#refreshTokens.get(token)?.grantId ?? this.#accessTokens.get(token)?.grantId;
    return grantId === undefined ? undefined : this.#grants.get(grantId)?.realmId;
  }

  /**
   * Exchanges a refresh token; using it rotates it: the caller must store the returned one.
   * Earlier access tokens stay valid. The newest refresh token works; with `previousGrace`, so
   * does the one it was issued for, until the newest is used (a client that lost the answer
   * retries with what it has; the unused newest one is then superseded). Never past the grant's
   * hard expiry.
   */
  refresh(
    clientId: string,
    refreshToken: string,
    options: { previousGrace: boolean },
    now = Date.now(),
  ): IssuedTokens | "invalid_grant" {
    const token = this.#refreshTokens.get(refreshToken);
    const grant = token && this.#grants.get(token.grantId);
    if (!token || !grant) return "invalid_grant";
    if (grant.clientId !== clientId || grant.revoked || grant.refreshRevoked) return "invalid_grant";
    if (token.expiresAt <= now || grant.hardExpiresAt <= now) return "invalid_grant";
    if (refreshToken === grant.currentRefreshToken) {
      grant.previousRefreshToken = refreshToken;
      return this.#issueTokens(grant, now);
    }
    if (options.previousGrace && refreshToken === grant.previousRefreshToken) {
      return this.#issueTokens(grant, now);
    }
    return "invalid_grant";
  }

  createCode(clientId: string, redirectUri: string, realmId: string, now = Date.now()): string {
    const code = randomToken(24);
    this.#codes.set(code, { clientId, redirectUri, realmId, expiresAt: now + CODE_TTL_MS, used: false });
    return code;
  }

  /** Single use, bound to the client and redirect URI it was issued for, valid 10 minutes. */
  exchangeCode(
    clientId: string,
    code: string,
    redirectUri: string,
    ttls: (realmId: string) => TokenTtls,
    now = Date.now(),
  ): IssuedTokens | "invalid_grant" {
    const entry = this.#codes.get(code);
    if (!entry || entry.used || entry.expiresAt <= now) return "invalid_grant";
    if (entry.clientId !== clientId || entry.redirectUri !== redirectUri) return "invalid_grant";
    entry.used = true;
    return this.issueGrant(entry.realmId, clientId, ttls(entry.realmId), now);
  }

  /** Revokes the grant a refresh or access token belongs to; false when the token is unknown. */
  revoke(clientId: string, token: string): boolean {
    const grantId = this.#refreshTokens.get(token)?.grantId ?? this.#accessTokens.get(token)?.grantId;
    const grant = grantId === undefined ? undefined : this.#grants.get(grantId);
    if (!grant || grant.clientId !== clientId) return false;
    grant.revoked = true;
    return true;
  }

  /** Makes every access token of the realm expired now; returns how many were live. */
  expireAccessTokens(realmId: string, now = Date.now()): number {
    let expired = 0;
    for (const token of this.#accessTokens.values()) {
      const grant = this.#grants.get(token.grantId);
      if (grant?.realmId !== realmId || token.expiresAt <= now) continue;
      token.expiresAt = now - 1;
      expired++;
    }
    return expired;
  }

  /** Revokes the refresh tokens of every grant of the realm (the connection must be redone). */
  revokeRefreshTokens(realmId: string): number {
    let revoked = 0;
    for (const grant of this.#grants.values()) {
      if (grant.realmId !== realmId || grant.refreshRevoked) continue;
      grant.refreshRevoked = true;
      revoked++;
    }
    return revoked;
  }

  #issueTokens(grant: Grant, now: number): IssuedTokens {
    const accessToken = randomToken(48);
    const refreshToken = randomToken(40);
    const accessTokenExpiresAt = now + grant.ttls.accessTtlSeconds * 1000;
    const refreshTokenExpiresAt = Math.min(now + grant.ttls.refreshTtlSeconds * 1000, grant.hardExpiresAt);
    this.#accessTokens.set(accessToken, { grantId: grant.id, expiresAt: accessTokenExpiresAt });
    this.#refreshTokens.set(refreshToken, { grantId: grant.id, expiresAt: refreshTokenExpiresAt });
    grant.currentRefreshToken = refreshToken;
    return {
      realmId: grant.realmId,
      accessToken,
      refreshToken,
      accessTokenExpiresAt,
      refreshTokenExpiresAt,
      refreshTokenHardExpiresAt: grant.hardExpiresAt,
    };
  }
}

/** Compares secrets without an early exit, as a real authorization server would. */
function timingSafeEqual(expected: string, actual: string): boolean {
  const a = new TextEncoder().encode(expected);
  const b = new TextEncoder().encode(actual);
  let difference = a.length ^ b.length;
  for (let index = 0; index < a.length; index++) difference |= (a[index] ?? 0) ^ (b[index % b.length] ?? 0);
  return difference === 0;
}
