/**
 * QboConnection: one Durable Object per conference (named by its slug) that holds the
 * conference's QuickBooks OAuth tokens, encrypted, and is the only place that spends a
 * refresh token.
 *
 * Why a Durable Object: Intuit rotates refresh tokens, and a superseded refresh token answers
 * `invalid_grant`. Two isolates refreshing at once would leave one of them holding a dead
 * token and force a person to reconnect. A DO instance is unique per name worldwide, so a
 * single in-flight promise held on it serialises refreshes for the conference everywhere.
 *
 * The input gate does not protect us here: awaiting `fetch()` lets other calls interleave, so
 * the single-flight check and assignment happen synchronously, with no await in between.
 *
 * The `#private` rule: every public method of a Durable Object class is callable over RPC by
 * any Worker holding the namespace binding. So the public surface is exactly the methods the
 * Worker needs (store, status, disconnect, accessToken, refreshAfterUnauthorized, and the
 * cron's refreshIfLapsing), none returns a refresh token or client secret, and every helper
 * that touches plaintext secrets is an ECMAScript `#private` member, unreachable over RPC
 * (TypeScript's `private` is erased at runtime and would not protect them).
 *
 * Key rotation (see crypto.ts): every path that opens the row first re-seals values still under
 * TOKEN_ENCRYPTION_KEY_PREVIOUS (or in the old `v1` form) with the current key, so a rotation
 * converges without a refresh. Values that no configured key opens are never a thrown error
 * (errors lose their class over RPC and would surface as 500s and queue retries): the row is
 * flagged unreadable and callers get `reconnect_required`.
 */
import { DurableObject } from "cloudflare:workers";
import { log } from "../lib/log";
import { requestTokens, revokeToken } from "../qbo/intuit-oauth";
import {
  decryptField,
  encryptField,
  importVaultKey,
  isSealedWith,
  type KeyRing,
  UndecryptableError,
} from "./crypto";
import type { AccessTokenResult, ConnectionStatus, StoreTokensInput } from "./types";

type ReconnectRequired = Extract<AccessTokenResult, { reason: "reconnect_required" }>;

/** Access tokens are treated as expired this long before Intuit's expiry (SPEC §6). */
const ACCESS_TOKEN_SKEW_MS = 5 * 60 * 1000;

/** How long before the grant's 5-year hard expiry the conference is told to reconnect (SPEC §10). */
export const HARD_EXPIRY_WARNING_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * A refresh whose answer was lost (network error, timeout) may have rotated the refresh token
 * at Intuit all the same. The token we still hold is then the previous one, which Intuit keeps
 * accepting for a while: one more try with it, after this pause, usually recovers the grant
 * before anyone has to reconnect.
 */
const LOST_ANSWER_RETRY_DELAY_MS = 250;

/**
 * `needs_reconnect` values. Intuit's `invalid_grant` is final, so it fails fast until new
 * tokens are stored. Unreadable (no configured key opens the row) is checked again on each
 * call, because an operator restoring the right key should not force every conference
 * through OAuth again; checking costs a local decryption, never a call to Intuit.
 */
const CONNECTED = 0;
const INTUIT_REFUSED = 1;
const UNREADABLE = 2;

/** The encrypted columns, each sealed with AAD `"<slug>:<column>"`. */
const SEALED = ["access_token", "refresh_token", "client_id", "client_secret"] as const;
type SealedColumn = (typeof SEALED)[number];

interface Row {
  slug: string;
  realm_id: string;
  access_token: string;
  refresh_token: string;
  access_expires_at: number;
  refresh_expires_at: number | null;
  refresh_hard_expires_at: number | null;
  client_id: string | null;
  client_secret: string | null;
  needs_reconnect: number;
  last_refreshed_at: string | null;
  generation: number;
}

type RefreshOutcome = AccessTokenResult;

export class QboConnection extends DurableObject<Env> {
  #inflight: Promise<RefreshOutcome> | null = null;
  #keys: Promise<KeyRing> | null = null;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS connection (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      slug TEXT NOT NULL,
      realm_id TEXT NOT NULL,
      access_token TEXT NOT NULL,
      refresh_token TEXT NOT NULL,
      access_expires_at INTEGER NOT NULL,
      refresh_expires_at INTEGER,
      client_id TEXT,
      client_secret TEXT,
      needs_reconnect INTEGER NOT NULL DEFAULT 0,
      last_refreshed_at TEXT,
      generation INTEGER NOT NULL DEFAULT 0
    )`);
    // Objects created before the hard-expiry column existed gain it in place.
    const columns = ctx.storage.sql.exec<{ name: string }>("PRAGMA table_info(connection)").toArray();
    if (!columns.some((c) => c.name === "refresh_hard_expires_at"))
      ctx.storage.sql.exec("ALTER TABLE connection ADD COLUMN refresh_hard_expires_at INTEGER");
  }

  /** Stores a new grant (from the API or the OAuth callback); clears `needsReconnect`. */
  async store(input: StoreTokensInput): Promise<ConnectionStatus> {
    const { current: key } = await this.#keyRing();
    const ctx = (field: SealedColumn) => `${input.slug}:${field}`;
    const [access, refresh, clientId, clientSecret] = await Promise.all([
      encryptField(key, input.accessToken, ctx("access_token")),
      encryptField(key, input.refreshToken, ctx("refresh_token")),
      input.clientId ? encryptField(key, input.clientId, ctx("client_id")) : null,
      input.clientSecret ? encryptField(key, input.clientSecret, ctx("client_secret")) : null,
    ]);
    const previous = this.#read();
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO connection (id, slug, realm_id, access_token, refresh_token, access_expires_at,
        refresh_expires_at, refresh_hard_expires_at, client_id, client_secret, needs_reconnect,
        last_refreshed_at, generation)
       VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      input.slug,
      input.realmId,
      access,
      refresh,
      Date.parse(input.accessTokenExpiresAt),
      input.refreshTokenExpiresAt ? Date.parse(input.refreshTokenExpiresAt) : null,
      input.refreshTokenHardExpiresAt ? Date.parse(input.refreshTokenHardExpiresAt) : null,
      clientId,
      clientSecret,
      CONNECTED,
      new Date().toISOString(),
      (previous?.generation ?? 0) + 1,
    );
    log("info", "qbo.tokens_stored", { conference: input.slug, realmId: input.realmId });
    return this.status();
  }

  /** Connection state without any secret. */
  status(): ConnectionStatus {
    const row = this.#read();
    if (!row) {
      return {
        realmId: null,
        connected: false,
        needsReconnect: false,
        accessTokenExpiresAt: null,
        refreshTokenExpiresAt: null,
        refreshTokenHardExpiresAt: null,
        lastRefreshedAt: null,
      };
    }
    return {
      realmId: row.realm_id,
      connected: row.needs_reconnect === CONNECTED,
      needsReconnect: row.needs_reconnect !== CONNECTED,
      accessTokenExpiresAt: new Date(row.access_expires_at).toISOString(),
      refreshTokenExpiresAt:
        row.refresh_expires_at === null ? null : new Date(row.refresh_expires_at).toISOString(),
      refreshTokenHardExpiresAt:
        row.refresh_hard_expires_at === null ? null : new Date(row.refresh_hard_expires_at).toISOString(),
      lastRefreshedAt: row.last_refreshed_at,
    };
  }

  /**
   * Forgets the tokens, after revoking the grant at Intuit when possible (best effort). Works
   * when nothing decrypts: the row is deleted without revoking.
   */
  async disconnect(): Promise<{ revoked: boolean }> {
    const row = this.#read();
    if (!row) return { revoked: false };
    let revoked = false;
    try {
      const keys = await this.#keyRing();
      const refreshToken = await this.#open(keys, row, "refresh_token");
      const creds = await this.#clientCredentials(row, keys);
      if (creds && this.env.QBO_REVOKE_URL)
        revoked = await revokeToken(this.env.QBO_REVOKE_URL, creds, refreshToken);
    } catch (err) {
      log("warn", "qbo.revoke_failed", { conference: row.slug, error: errorName(err) });
    }
    this.ctx.storage.sql.exec("DELETE FROM connection");
    log("info", "qbo.disconnected", { conference: row.slug, revoked });
    return { revoked };
  }

  /**
   * A usable access token: the stored one while it has more than five minutes to live,
   * otherwise the result of the (single, shared) refresh.
   */
  async accessToken(): Promise<AccessTokenResult> {
    const stale = this.#read();
    const blocked = this.#blocked(stale);
    if (blocked || !stale)
      return blocked ?? notConfigured("QuickBooks is not connected for this conference.");
    return this.#unlessUnreadable(stale, async (keys) => {
      const row = await this.#resealIfNeeded(stale, keys);
      if (row.access_expires_at - ACCESS_TOKEN_SKEW_MS > Date.now())
        return granted(row, await this.#open(keys, row, "access_token"));
      return this.#refreshOnce(row);
    });
  }

  /**
   * QBO answered 401 to `staleAccessToken`. Refresh, unless somebody already replaced that
   * token (then hand out the newer one): one refresh per stale token, however many callers saw
   * the 401.
   */
  async refreshAfterUnauthorized(staleAccessToken: string): Promise<AccessTokenResult> {
    const first = this.#read();
    const blocked = this.#blocked(first);
    if (blocked || !first)
      return blocked ?? notConfigured("QuickBooks is not connected for this conference.");
    if (this.#inflight) return this.#inflight;
    return this.#unlessUnreadable(first, async (keys) => {
      const row = await this.#resealIfNeeded(first, keys);
      const current = await this.#open(keys, row, "access_token");
      // The awaits above let other calls in: anything they changed wins over our stale view.
      const latest = this.#read();
      if (current !== staleAccessToken || !latest || latest.generation !== row.generation || this.#inflight) {
        return this.#inflight ?? this.accessToken();
      }
      return this.#refreshOnce(latest);
    });
  }

  /**
   * Daily keep-alive: refreshes when the refresh token lapses within `withinMs`, so an idle
   * connection is never lost. Also re-seals values still under the previous key, so after a key
   * rotation even an idle conference is under the new key by the next run. Returns whether a
   * refresh happened; never throws for unreadable tokens (they flag the connection instead).
   */
  async refreshIfLapsing(withinMs: number): Promise<{
    refreshed: boolean;
    result?: AccessTokenResult["ok"];
    reconnect?: ReconnectRequired;
    /** The grant's hard expiry is within 30 days: the cron reports it (SPEC §10). */
    hardExpiryNear?: { realmId: string; hardExpiresAt: string };
  }> {
    const first = this.#read();
    if (!first || first.needs_reconnect === INTUIT_REFUSED) return { refreshed: false };
    const near = hardExpiryNear(first);
    const hard = near ? { hardExpiryNear: { realmId: first.realm_id, hardExpiresAt: near } } : {};
    const outcome = await this.#unlessUnreadable(first, async (keys) => {
      const row = await this.#resealIfNeeded(first, keys);
      if (row.refresh_expires_at !== null && row.refresh_expires_at - Date.now() > withinMs) return null;
      return this.#refreshOnce(row);
    });
    if (outcome === null) return { refreshed: false, ...hard };
    // The cron reports a grant that died here as any request would (src/connections/index.ts).
    if (!outcome.ok && outcome.reason === "reconnect_required")
      return { refreshed: false, result: false, reconnect: outcome };
    return { refreshed: outcome.ok, result: outcome.ok, ...hard };
  }

  #blocked(row: Row | null): AccessTokenResult | null {
    if (!row) return notConfigured("QuickBooks is not connected for this conference.");
    if (row.needs_reconnect === INTUIT_REFUSED) return intuitRefused(row);
    return null;
  }

  /** Joins the refresh in flight, or starts one. Synchronous up to the assignment: see the file comment. */
  #refreshOnce(row: Row): Promise<AccessTokenResult> {
    if (this.#inflight) return this.#inflight;
    const generation = row.generation;
    this.#inflight = this.#refresh(generation).finally(() => {
      this.#inflight = null;
    });
    return this.#inflight;
  }

  async #refresh(generation: number): Promise<AccessTokenResult> {
    const row = this.#read();
    const blocked = this.#blocked(row);
    if (blocked || !row) return blocked ?? notConfigured("QuickBooks is not connected for this conference.");
    return this.#unlessUnreadable(row, (keys) => this.#refreshWith(row, keys, generation));
  }

  async #refreshWith(row: Row, keys: KeyRing, generation: number): Promise<AccessTokenResult> {
    if (row.generation !== generation && row.access_expires_at - ACCESS_TOKEN_SKEW_MS > Date.now()) {
      // New tokens were stored while we waited; no need to spend the refresh token.
      return granted(row, await this.#open(keys, row, "access_token"));
    }
    const creds = await this.#clientCredentials(row, keys);
    if (!creds) {
      log("warn", "qbo.refresh_skipped_no_credentials", { conference: row.slug });
      return notConfigured(
        "The QuickBooks access token has expired and no client credentials are configured to refresh it.",
      );
    }
    const refreshToken = await this.#open(keys, row, "refresh_token");
    const grant = { grant_type: "refresh_token", refresh_token: refreshToken } as const;
    let outcome = await requestTokens(this.env.QBO_TOKEN_URL, creds, grant);
    if (!outcome.ok && outcome.kind === "unavailable" && outcome.status === null) {
      // The request left but its answer was lost: Intuit may have rotated the token anyway, and
      // then the one we hold is the previous token. Retry with it once before giving up (and
      // an `invalid_grant` to that retry is what declares the grant dead, not the lost answer).
      log("warn", "qbo.refresh_answer_lost", { conference: row.slug, realmId: row.realm_id });
      await new Promise((resolve) => setTimeout(resolve, LOST_ANSWER_RETRY_DELAY_MS));
      outcome = await requestTokens(this.env.QBO_TOKEN_URL, creds, grant);
      log(outcome.ok ? "info" : "warn", "qbo.refresh_retried_with_previous_token", {
        conference: row.slug,
        ok: outcome.ok,
        kind: outcome.ok ? null : outcome.kind,
      });
    }
    if (outcome.ok) {
      const t = outcome.tokens;
      const refreshExpiresAt = t.refreshExpiresAt ?? row.refresh_expires_at;
      const hardExpiresAt = t.refreshHardExpiresAt ?? row.refresh_hard_expires_at;
      const [access, refresh, clientId, clientSecret] = await Promise.all([
        encryptField(keys.current, t.accessToken, `${row.slug}:access_token`),
        // Intuit may rotate the refresh token: always keep the one it returns.
        encryptField(keys.current, t.refreshToken ?? refreshToken, `${row.slug}:refresh_token`),
        // The row is rewritten anyway: client credentials still under the previous key move too.
        this.#resealed(keys, row, "client_id"),
        this.#resealed(keys, row, "client_secret"),
      ]);
      // Conditional on the generation we refreshed: a grant stored meanwhile (`store()`, with
      // perhaps new client credentials) wins over the refreshed old one. This caller still gets
      // the token just issued (not `accessToken()`: that would join this very refresh and hang).
      const written = this.ctx.storage.sql.exec(
        `UPDATE connection SET access_token = ?, refresh_token = ?, client_id = ?, client_secret = ?,
          access_expires_at = ?, refresh_expires_at = ?, refresh_hard_expires_at = ?, needs_reconnect = ?,
          last_refreshed_at = ?, generation = generation + 1 WHERE id = 1 AND generation = ?`,
        access,
        refresh,
        clientId,
        clientSecret,
        t.accessExpiresAt,
        refreshExpiresAt,
        hardExpiresAt,
        CONNECTED,
        new Date().toISOString(),
        row.generation,
      ).rowsWritten;
      log("info", written > 0 ? "qbo.token_refreshed" : "qbo.refresh_superseded", {
        conference: row.slug,
        realmId: row.realm_id,
      });
      return granted({ ...row, refresh_hard_expires_at: hardExpiresAt }, t.accessToken);
    }
    if (outcome.kind === "invalid_grant") {
      const latest = this.#read();
      if (latest && latest.generation !== row.generation) {
        // Someone stored a fresh grant while we were refreshing with the old one: use it. Not
        // through accessToken(): were the new access token expired too, that would join this
        // very refresh (#inflight) and never settle. #refresh with our generation returns the
        // new token while it is valid, else spends the new grant's refresh token once.
        return this.#refresh(row.generation);
      }
      this.ctx.storage.sql.exec("UPDATE connection SET needs_reconnect = ? WHERE id = 1", INTUIT_REFUSED);
      log("warn", "qbo.refresh_invalid_grant", { conference: row.slug, realmId: row.realm_id });
      return intuitRefused(row);
    }
    log("warn", "qbo.refresh_failed", {
      conference: row.slug,
      status: outcome.status,
      error: outcome.kind === "refused" ? outcome.error : null,
    });
    if (outcome.kind === "unavailable") {
      return {
        ok: false,
        reason: "unavailable",
        message:
          outcome.status === null
            ? "Intuit's token endpoint could not be reached."
            : "Intuit's token endpoint is unavailable; try again later.",
        ...(outcome.status === null ? {} : { status: outcome.status }),
        ...(outcome.retryAfterSeconds === null ? {} : { retryAfterSeconds: outcome.retryAfterSeconds }),
      };
    }
    return {
      ok: false,
      reason: "token_endpoint_error",
      message: `Intuit's token endpoint refused the refresh (${outcome.error ?? `HTTP ${outcome.status}`}).`,
      status: outcome.status,
    };
  }

  async #clientCredentials(
    row: Row,
    keys: KeyRing,
  ): Promise<{ clientId: string; clientSecret: string } | null> {
    if (row.client_id && row.client_secret) {
      return {
        clientId: await this.#open(keys, row, "client_id"),
        clientSecret: await this.#open(keys, row, "client_secret"),
      };
    }
    if (this.env.QBO_CLIENT_ID && this.env.QBO_CLIENT_SECRET) {
      return { clientId: this.env.QBO_CLIENT_ID, clientSecret: this.env.QBO_CLIENT_SECRET };
    }
    return null;
  }

  #read(): Row | null {
    const rows = this.ctx.storage.sql
      .exec<Record<string, SqlStorageValue> & Row>("SELECT * FROM connection WHERE id = 1")
      .toArray();
    return rows[0] ?? null;
  }

  /**
   * Runs `work`; when a stored value opens under no configured key, flags the row unreadable and
   * answers `reconnect_required` instead of throwing. Nothing secret is logged: the key ids are
   * fingerprints (crypto.ts `keyId`).
   */
  async #unlessUnreadable<T>(row: Row, work: (keys: KeyRing) => Promise<T>): Promise<T | AccessTokenResult> {
    const keys = await this.#keyRing();
    try {
      return await work(keys);
    } catch (err) {
      if (!(err instanceof UnreadableColumn)) throw err;
      const flagged = this.ctx.storage.sql.exec(
        "UPDATE connection SET needs_reconnect = ? WHERE id = 1 AND generation = ? AND needs_reconnect = ?",
        UNREADABLE,
        row.generation,
        CONNECTED,
      ).rowsWritten;
      if (flagged > 0) {
        log("warn", "qbo.tokens_undecryptable", {
          conference: row.slug,
          column: err.column,
          storedKid: err.storedKid,
          currentKid: keys.current.kid,
          previousKid: keys.previous?.kid ?? null,
        });
      }
      return {
        ok: false,
        reason: "reconnect_required",
        message:
          "The stored QuickBooks tokens cannot be decrypted with the configured encryption keys; reconnect QuickBooks for this conference.",
        cause: "tokens_unreadable",
        realmId: row.realm_id,
        grant: row.generation,
      };
    }
  }

  /**
   * Re-seals, under the current key, every value not already under it (`v1` values, values under
   * the previous key), and clears an unreadable flag once everything opens again. The UPDATE is
   * conditional on the exact ciphertexts read, so it cannot overwrite tokens a refresh or a
   * `store()` wrote during our awaits (random IVs make each ciphertext unique). Returns the row
   * as it now stands. Throws `UnreadableColumn` when a value opens under no configured key.
   */
  async #resealIfNeeded(row: Row, keys: KeyRing): Promise<Row> {
    const present = SEALED.filter((column) => row[column] !== null);
    const stale = present.filter((column) => !isSealedWith(keys.current, row[column] as string));
    if (stale.length === 0 && row.needs_reconnect !== UNREADABLE) return row;
    const fresh = { ...row };
    // Opening every column, not only the stale ones, is what proves an unreadable row healed.
    await Promise.all(
      present.map(async (column) => {
        const plaintext = await this.#open(keys, row, column);
        if (stale.includes(column))
          fresh[column] = await encryptField(keys.current, plaintext, `${row.slug}:${column}`);
      }),
    );
    const written = this.ctx.storage.sql.exec(
      `UPDATE connection SET access_token = ?, refresh_token = ?, client_id = ?, client_secret = ?,
        needs_reconnect = CASE needs_reconnect WHEN ? THEN ? ELSE needs_reconnect END
       WHERE id = 1 AND access_token = ? AND refresh_token = ? AND client_id IS ? AND client_secret IS ?`,
      fresh.access_token,
      fresh.refresh_token,
      fresh.client_id,
      fresh.client_secret,
      UNREADABLE,
      CONNECTED,
      row.access_token,
      row.refresh_token,
      row.client_id,
      row.client_secret,
    ).rowsWritten;
    if (written > 0) {
      if (stale.length > 0)
        log("info", "qbo.tokens_resealed", { conference: row.slug, columns: stale, kid: keys.current.kid });
      if (row.needs_reconnect === UNREADABLE)
        log("info", "qbo.tokens_readable_again", { conference: row.slug, kid: keys.current.kid });
    }
    return this.#read() ?? fresh;
  }

  /** A column's plaintext; `UnreadableColumn` when no configured key opens it. */
  async #open(keys: KeyRing, row: Row, column: SealedColumn): Promise<string> {
    const stored = row[column];
    if (stored === null) throw new UnreadableColumn(column, null);
    try {
      return await decryptField(keys, stored, `${row.slug}:${column}`);
    } catch (err) {
      if (err instanceof UndecryptableError) throw new UnreadableColumn(column, err.storedKid);
      throw err;
    }
  }

  /** A nullable column as it should be written now: re-sealed under the current key if it is not. */
  async #resealed(keys: KeyRing, row: Row, column: "client_id" | "client_secret"): Promise<string | null> {
    const stored = row[column];
    if (stored === null || isSealedWith(keys.current, stored)) return stored;
    return encryptField(keys.current, await this.#open(keys, row, column), `${row.slug}:${column}`);
  }

  /**
   * TOKEN_ENCRYPTION_KEY seals and opens; TOKEN_ENCRYPTION_KEY_PREVIOUS (optional) only opens.
   * A malformed previous key is ignored with a warning rather than failing every call: rows
   * under it then read as unreadable, which heals once the key is fixed.
   */
  #keyRing(): Promise<KeyRing> {
    this.#keys ??= (async () => {
      const current = await importVaultKey(this.env.TOKEN_ENCRYPTION_KEY ?? "");
      const previousB64 = this.env.TOKEN_ENCRYPTION_KEY_PREVIOUS;
      if (!previousB64) return { current, previous: null };
      try {
        const previous = await importVaultKey(previousB64);
        return { current, previous: previous.kid === current.kid ? null : previous };
      } catch {
        log("warn", "qbo.previous_key_invalid", { currentKid: current.kid });
        return { current, previous: null };
      }
    })();
    return this.#keys;
  }
}

/** Inside the object only: a column no configured key opens. Never crosses RPC. */
class UnreadableColumn extends Error {
  override readonly name = "UnreadableColumn";
  readonly column: SealedColumn;
  readonly storedKid: string | null;

  constructor(column: SealedColumn, storedKid: string | null) {
    super(`${column} cannot be decrypted with the configured keys`);
    this.column = column;
    this.storedKid = storedKid;
  }
}

/** Intuit refused this grant's refresh token: final until new tokens are stored. */
function intuitRefused(row: Row): ReconnectRequired {
  return {
    ok: false,
    reason: "reconnect_required",
    message: "Intuit refused the stored refresh token; reconnect QuickBooks for this conference.",
    cause: "invalid_grant",
    realmId: row.realm_id,
    grant: row.generation,
  };
}

/** A usable access token, flagged when the grant nears its hard expiry. */
function granted(row: Row, accessToken: string): AccessTokenResult {
  const near = hardExpiryNear(row);
  return { ok: true, accessToken, realmId: row.realm_id, ...(near ? { hardExpiryNear: near } : {}) };
}

/** The grant's hard expiry (ISO) when it is within HARD_EXPIRY_WARNING_MS, else null. */
function hardExpiryNear(row: Row): string | null {
  const at = row.refresh_hard_expires_at;
  if (at === null || at - Date.now() > HARD_EXPIRY_WARNING_MS) return null;
  return new Date(at).toISOString();
}

function notConfigured(message: string): AccessTokenResult {
  return { ok: false, reason: "not_configured", message };
}

function errorName(err: unknown): string {
  return err instanceof Error ? err.name : "unknown";
}
