/**
 * A small QBO REST client on plain `fetch`. It gets access tokens from the conference's
 * QboConnection Durable Object, retries once after a 401 (letting the vault decide whether a
 * refresh is needed), and turns every failure into a `QboError` the caller can classify:
 * `unavailable` (429, 5xx, network: try later) or `api` (QBO refused or answered nonsense).
 */
import type { z } from "zod";
import type { AccessTokenResult } from "../connections/types";
import type { QboEnvironment } from "../domain/payments";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { CdcResponse } from "./cdc";
import { faultsOf, type QboFault } from "./schemas";

const PRODUCTION_BASE = "https://quickbooks.api.intuit.com";
const SANDBOX_BASE = "https://sandbox-quickbooks.api.intuit.com";
const REQUEST_TIMEOUT_MS = 30_000;

export type QboErrorKind = "api" | "unavailable" | "not_configured" | "reconnect_required" | "realm_changed";

export class QboError extends Error {
  readonly kind: QboErrorKind;
  readonly status: number | null;
  readonly faults: QboFault[];
  readonly intuitTid: string | null;
  readonly retryAfterSeconds: number | null;
  /** For `realm_changed`: the company the work belongs to, and the one the tokens now open. */
  readonly realms: { invoiceRealmId: string; connectedRealmId: string } | null;

  constructor(
    kind: QboErrorKind,
    message: string,
    extra: {
      status?: number | null;
      faults?: QboFault[];
      intuitTid?: string | null;
      retryAfterSeconds?: number | null;
      realms?: { invoiceRealmId: string; connectedRealmId: string } | null;
    } = {},
  ) {
    super(message);
    this.name = "QboError";
    this.kind = kind;
    this.status = extra.status ?? null;
    this.faults = extra.faults ?? [];
    this.intuitTid = extra.intuitTid ?? null;
    this.retryAfterSeconds = extra.retryAfterSeconds ?? null;
    this.realms = extra.realms ?? null;
  }

  /** True for failures worth retrying later (throttling, outages). */
  get transient(): boolean {
    return this.kind === "unavailable";
  }

  hasFaultCode(code: string): boolean {
    return this.faults.some((f) => f.code === code);
  }

  /** The SPEC §3 error this failure becomes on the API. */
  toApiError(): ApiError {
    switch (this.kind) {
      case "not_configured":
        return new ApiError("qbo_not_configured", this.message);
      case "reconnect_required":
        return new ApiError("qbo_reconnect_required", this.message);
      case "realm_changed":
        return new ApiError("invalid_state", this.message, this.realms);
      case "unavailable":
        return new ApiError("qbo_unavailable", this.message, {
          status: this.status,
          retryAfterSeconds: this.retryAfterSeconds,
          intuit_tid: this.intuitTid,
        });
      case "api":
        return new ApiError("qbo_api_error", this.message, {
          status: this.status,
          faults: this.faults,
          intuit_tid: this.intuitTid,
        });
    }
  }
}

/** The narrow view of the QboConnection stub this client needs (a test can pass its own). */
export interface TokenSource {
  accessToken(): Promise<AccessTokenResult>;
  refreshAfterUnauthorized(stale: string): Promise<AccessTokenResult>;
}

/**
 * The per-realm rate budget (src/budget/): resolves when the request may be sent (after
 * waiting for its slot), or throws a `QboError` of kind `unavailable` with `retryAfterSeconds`
 * when the caller cannot wait that long. `read` marks Intuit's metered calls.
 */
export interface RequestBudget {
  /**
   * Waits for a slot; `release` (when given) is called once the request's response headers
   * are in: it frees the invocation's connection the request held (see src/budget/index.ts).
   */
  acquire(realmId: string, read: boolean): Promise<{ slot: number; release?: () => void } | undefined>;
  /**
   * The request of `slot` was answered `elapsedMs` after that slot: QBO may have counted it that
   * much later than booked (it counts on arrival), so the budget moves its booking (slow ones only).
   */
  answeredSlowly?(realmId: string, slot: number, elapsedMs: number): Promise<void>;
  /** QBO answered 429 all the same: the budget widens its margins for a while. */
  throttled?(realmId: string): Promise<void>;
}

export interface QboClientOptions {
  env: Pick<Env, "QBO_API_BASE_URL" | "QBO_MINOR_VERSION">;
  tokens: TokenSource;
  /** Every request waits for a slot of its realm's budget first; none: sent at once (tests). */
  budget?: RequestBudget;
  environment: QboEnvironment | null;
  /** Used in log lines only. */
  conference: string;
  /**
   * The company this client may talk to. A PO's invoice lives in the realm it was created in;
   * after the conference reconnects to another company the same invoice id names somebody
   * else's invoice there, so a pinned client refuses to send anything (`realm_changed`)
   * rather than read, email or void a stranger's invoice. Unpinned: whatever the tokens open.
   */
  realmId?: string | null;
}

export interface QboRequest {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string>;
  json?: unknown;
  /** A QBO query statement sent as `POST /query` with `application/text`. */
  text?: string;
  /** Accept header; JSON by default (the PDF needs `application/pdf`: qbo-api.md A8). */
  accept?: string;
}

/** An answer slower than this may have been counted late by QBO: see RequestBudget.answeredSlowly. */
const SLOW_ANSWER_MS = 300;

/** Intuit's advice when a 429 names no wait (qbo-api.md A5): wait 60 seconds. */
export const THROTTLE_WAIT_SECONDS = 60;

export class QboClient {
  readonly #opts: QboClientOptions;
  #token: { accessToken: string; realmId: string } | null = null;
  /** Requests made (for logs and benchmarks). */
  requests = 0;

  constructor(opts: QboClientOptions) {
    this.#opts = opts;
  }

  /** Sends a request and parses the JSON answer with `schema`. */
  async json<S extends z.ZodType>(schema: S, req: QboRequest): Promise<z.infer<S>> {
    const res = await this.#send(req);
    const tid = res.headers.get("intuit_tid");
    const body = await readJson(res);
    // Some operations answer 200 with a Fault body (qbo-api.md A11): that is a failure.
    const faults = faultsOf(body);
    if (faults.length > 0) throw refusal(res.status, faults, tid, this.#opts.conference, req.path);
    const parsed = schema.safeParse(body);
    if (!parsed.success) {
      log("error", "qbo.unexpected_response", {
        conference: this.#opts.conference,
        path: req.path,
        intuit_tid: tid,
      });
      throw new QboError("api", "QuickBooks answered with an unexpected response.", {
        status: res.status,
        intuitTid: tid,
      });
    }
    return parsed.data;
  }

  /** Sends a request and returns the raw body bytes (PDF). */
  async bytes(req: QboRequest): Promise<{ body: ArrayBuffer; contentType: string }> {
    const res = await this.#send(req);
    return {
      body: await res.arrayBuffer(),
      contentType: res.headers.get("content-type") ?? "application/octet-stream",
    };
  }

  async realmId(): Promise<string> {
    return (await this.#currentToken()).realmId;
  }

  /**
   * Change Data Capture (qbo-api.md A3): every object of `entities` changed since `changedSince`,
   * deleted ones included, in one read. QBO looks back 30 days at most, 1,000 objects per entity.
   */
  async changeDataCapture(entities: readonly string[], changedSince: Date): Promise<CdcResponse> {
    return this.json(CdcResponse, {
      method: "GET",
      path: "cdc",
      query: {
        entities: entities.join(","),
        changedSince: changedSince.toISOString().replace(/\.\d{3}Z$/, "Z"),
      },
    });
  }

  async #send(req: QboRequest): Promise<Response> {
    let token = await this.#currentToken();
    let res = await this.#fetch(token, req);
    if (res.status === 401) {
      await res.body?.cancel();
      token = this.#checkRealm(unwrap(await this.#opts.tokens.refreshAfterUnauthorized(token.accessToken)));
      this.#token = token;
      res = await this.#fetch(token, req);
    }
    if (res.ok) return res;
    if (res.status === 429) await this.#opts.budget?.throttled?.(token.realmId);
    throw await errorFrom(res, this.#opts.conference, req.path);
  }

  async #currentToken(): Promise<{ accessToken: string; realmId: string }> {
    this.#token ??= this.#checkRealm(unwrap(await this.#opts.tokens.accessToken()));
    return this.#token;
  }

  #checkRealm(token: { accessToken: string; realmId: string }) {
    const pinned = this.#opts.realmId;
    if (pinned && token.realmId !== pinned) {
      throw new QboError(
        "realm_changed",
        `This invoice lives in QuickBooks company ${pinned}, but the conference is now connected to company ${token.realmId}; nothing was sent to QuickBooks.`,
        { realms: { invoiceRealmId: pinned, connectedRealmId: token.realmId } },
      );
    }
    return token;
  }

  async #fetch(token: { accessToken: string; realmId: string }, req: QboRequest): Promise<Response> {
    // Every request to QBO, the retry after a 401 included, spends a slot of the realm's budget:
    // QBO counts each one against the company's 10/s and 500/min.
    const ticket = await this.#opts.budget?.acquire(token.realmId, isMeteredRead(req));
    const base =
      this.#opts.env.QBO_API_BASE_URL ||
      (this.#opts.environment === "production" ? PRODUCTION_BASE : SANDBOX_BASE);
    const url = new URL(
      `${base.replace(/\/$/, "")}/v3/company/${encodeURIComponent(token.realmId)}/${req.path}`,
    );
    url.searchParams.set("minorversion", this.#opts.env.QBO_MINOR_VERSION || "75");
    for (const [k, v] of Object.entries(req.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = {
      authorization: `Bearer ${token.accessToken}`,
      accept: req.accept ?? "application/json",
    };
    let body: string | undefined;
    if (req.text !== undefined) {
      headers["content-type"] = "application/text";
      body = req.text;
    } else if (req.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(req.json);
    }
    this.requests++;
    const sentAt = Date.now();
    try {
      let res: Response;
      try {
        res = await fetch(url, {
          method: req.method,
          headers,
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
      } finally {
        ticket?.release?.();
      }
      const elapsedMs = Date.now() - sentAt;
      if (ticket && elapsedMs > SLOW_ANSWER_MS)
        await this.#opts.budget?.answeredSlowly?.(token.realmId, ticket.slot, Date.now() - ticket.slot);
      return res;
    } catch (err) {
      log("warn", "qbo.network_error", {
        conference: this.#opts.conference,
        path: req.path,
        error: err instanceof Error ? err.name : "unknown",
      });
      throw new QboError("unavailable", "QuickBooks could not be reached.");
    }
  }
}

/**
 * Intuit meters "CorePlus" calls, the ones that read data out (GET, queries, CDC, PDF), and not
 * the writes (qbo-api.md A5). A query is sent as `POST /query` and is still a read.
 */
export function isMeteredRead(req: QboRequest): boolean {
  return req.method === "GET" || req.path === "query" || req.path.startsWith("query?");
}

function unwrap(result: AccessTokenResult): { accessToken: string; realmId: string } {
  if (result.ok) return { accessToken: result.accessToken, realmId: result.realmId };
  switch (result.reason) {
    case "not_configured":
      throw new QboError("not_configured", result.message);
    case "reconnect_required":
      throw new QboError("reconnect_required", result.message);
    case "unavailable":
      throw new QboError("unavailable", result.message, {
        status: result.status ?? null,
        retryAfterSeconds: result.retryAfterSeconds ?? null,
      });
    case "token_endpoint_error":
      throw new QboError("api", result.message, { status: result.status ?? null });
  }
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

async function errorFrom(res: Response, conference: string, path: string): Promise<QboError> {
  const tid = res.headers.get("intuit_tid");
  const faults = faultsOf(await readJson(res));
  const retryAfter = Number(res.headers.get("retry-after"));
  const retryAfterSeconds =
    Number.isFinite(retryAfter) && retryAfter > 0
      ? retryAfter
      : res.status === 429
        ? THROTTLE_WAIT_SECONDS
        : null;
  log("warn", "qbo.error_response", {
    conference,
    path,
    status: res.status,
    intuit_tid: tid,
    codes: faults.map((f) => f.code),
  });
  // Throttling has also been answered as 403 (python-quickbooks #43): the body says so.
  const throttled = faults.some((f) => /ThrottleExceeded/i.test(`${f.message} ${f.detail}`));
  if (res.status === 429 || res.status >= 500 || throttled) {
    return new QboError("unavailable", `QuickBooks is unavailable (HTTP ${res.status}); try again later.`, {
      status: res.status,
      faults,
      intuitTid: tid,
      retryAfterSeconds,
    });
  }
  return refusal(res.status, faults, tid, conference, path, false);
}

function refusal(
  status: number,
  faults: QboFault[],
  intuitTid: string | null,
  conference: string,
  path: string,
  logIt = true,
): QboError {
  if (logIt)
    log("warn", "qbo.fault_in_success", {
      conference,
      path,
      status,
      intuit_tid: intuitTid,
      codes: faults.map((f) => f.code),
    });
  const first = faults[0];
  const reason = first ? `${first.message}${first.detail ? `: ${first.detail}` : ""}` : `HTTP ${status}`;
  return new QboError("api", `QuickBooks refused the request (${reason}).`, { status, faults, intuitTid });
}
