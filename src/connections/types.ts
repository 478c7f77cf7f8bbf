/** What the token vault tells the rest of the Worker. Never contains a token or a secret. */
export interface ConnectionStatus {
  realmId: string | null;
  connected: boolean;
  needsReconnect: boolean;
  accessTokenExpiresAt: string | null;
  refreshTokenExpiresAt: string | null;
  /** Intuit's 5-year cap on the grant: no refresh extends it (SPEC §10). Null until Intuit says. */
  refreshTokenHardExpiresAt: string | null;
  lastRefreshedAt: string | null;
}

export interface StoreTokensInput {
  slug: string;
  realmId: string;
  accessToken: string;
  refreshToken: string;
  /** ISO instants. */
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt?: string | undefined;
  refreshTokenHardExpiresAt?: string | undefined;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
}

export type ReconnectCause = "invalid_grant" | "tokens_unreadable";

/**
 * Outcome of asking the vault for a usable access token. A union rather than a thrown error,
 * because errors crossing Durable Object RPC lose their class and fields.
 */
export type AccessTokenResult =
  | {
      ok: true;
      accessToken: string;
      realmId: string;
      /**
       * The grant's hard expiry (ISO) when it is near (within HARD_EXPIRY_WARNING_MS): the
       * Worker then reports `qbo.reconnect_required` once (src/connections/index.ts).
       */
      hardExpiryNear?: string;
    }
  | { ok: false; reason: "not_configured"; message: string }
  | {
      ok: false;
      reason: "reconnect_required";
      message: string;
      /** Why: Intuit refused the refresh token, or no configured key opens the stored tokens. */
      cause: ReconnectCause;
      /** The company of the dead grant. */
      realmId: string;
      /**
       * The generation of the stored grant that died (it grows with every store and refresh):
       * with `cause`, it names one reconnect episode, so the Worker reports it once (SPEC §12
       * `qbo.reconnect_required`) however many calls meet it.
       */
      grant: number;
    }
  | {
      ok: false;
      reason: "unavailable" | "token_endpoint_error";
      message: string;
      status?: number;
      retryAfterSeconds?: number;
    };

/**
 * `TOKEN_ENCRYPTION_KEY_PREVIOUS` is an optional secret, set only while rotating
 * `TOKEN_ENCRYPTION_KEY`. wrangler.toml's `[secrets]` can only list required names (a listed
 * secret must exist at deploy time), so `wrangler types` cannot generate it; it is declared here,
 * optional, for both the global `Env` and `cloudflare:workers`' `env`.
 */
declare global {
  interface Env {
    TOKEN_ENCRYPTION_KEY_PREVIOUS?: string;
  }
  namespace Cloudflare {
    interface Env {
      TOKEN_ENCRYPTION_KEY_PREVIOUS?: string;
    }
  }
}
