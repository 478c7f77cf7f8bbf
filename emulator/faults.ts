/**
 * Per-realm fault injection and rate limits. Rules are consumed in order (one rule per
 * request); requests no rule matched may get a seeded random fault. Limits model QBO's real
 * throttling: too many requests in flight or in the last minute answer 429, without
 * Retry-After (Intuit only says to wait 60 seconds).
 */

import type { z } from "zod";
import type { FaultKind, FaultsSchema, RandomFaultsSchema } from "./control-api.ts";
import {
  authenticationFailed,
  authorizationFailed,
  faults,
  gatewayPage,
  type HttpReply,
  QBO_JSON,
  QboFault,
  qboJson,
  type Reply,
  throttled,
} from "./http.ts";
import { mulberry32 } from "./random.ts";
import type { Realm } from "./realm.ts";

type FaultsConfig = z.output<typeof FaultsSchema>;
type RandomConfig = z.output<typeof RandomFaultsSchema>;

/** What a fault rule can match on: method, path substring, operation name. */
export interface FaultTarget {
  method: string;
  /** The path after /v3/company/{realm}, or the OAuth path. */
  path: string;
  /** e.g. "create:invoice", "query:Invoice", "token:refresh_token", "revoke". */
  operation: string;
}

export interface ActiveFault {
  kind: FaultKind;
  status?: number;
  retryAfterSeconds?: number;
  ms?: number;
  body?: unknown;
}

interface StoredRule extends ActiveFault {
  remaining: number;
  match?: { method?: string; path?: string; operation?: string };
}

const RANDOM_STATUSES = [500, 502, 503];

export class FaultPlan {
  #rules: StoredRule[] = [];
  #random: { config: RandomConfig; next: () => number } | undefined;

  replace(config: FaultsConfig): void {
    this.#rules = config.rules.map(({ times, ...rule }) => ({ ...rule, remaining: times }));
    this.#random = config.random && { config: config.random, next: mulberry32(config.random.seed) };
  }

  clear(): void {
    this.#rules = [];
    this.#random = undefined;
  }

  /** The fault for this request, consumed from its rule, or undefined. */
  take(target: FaultTarget): ActiveFault | undefined {
    const rule = this.#rules.find((candidate) => candidate.remaining > 0 && matches(candidate, target));
    if (rule) {
      rule.remaining--;
      const { remaining: _remaining, match: _match, ...fault } = rule;
      return fault;
    }
    return this.#takeRandom();
  }

  #takeRandom(): ActiveFault | undefined {
    if (!this.#random) return undefined;
    const { config, next } = this.#random;
    if (next() >= config.rate) return undefined;
    const kind = config.kinds[Math.floor(next() * config.kinds.length)] ?? config.kinds[0] ?? "status";
    return {
      kind,
      status: RANDOM_STATUSES[Math.floor(next() * RANDOM_STATUSES.length)],
      retryAfterSeconds: config.retryAfterSeconds,
      ms: 50 + Math.floor(next() * 200),
    };
  }
}

function matches(rule: StoredRule, target: FaultTarget): boolean {
  const match = rule.match;
  if (!match) return true;
  if (match.method && match.method.toUpperCase() !== target.method) return false;
  if (match.path && !target.path.includes(match.path)) return false;
  if (match.operation && match.operation !== target.operation) return false;
  return true;
}

/**
 * Runs `perform` under a fault. `perform` is the real request: the commit-then-* kinds run it
 * (state changes, requestid stored) and then lie about the outcome.
 */
export async function applyFault(
  fault: ActiveFault | undefined,
  perform: () => Promise<HttpReply>,
  offset = "Z",
): Promise<Reply> {
  if (!fault) return perform();
  switch (fault.kind) {
    case "throttle":
      return throttled(fault.retryAfterSeconds, offset);
    case "status":
      return statusReply(fault.status ?? 500, fault.retryAfterSeconds, offset);
    case "body":
      return bodyReply(fault.status ?? 200, fault.body, offset);
    case "drop":
      return { drop: true };
    case "latency":
      await sleep(fault.ms ?? 0);
      return perform();
    case "commit-then-fail":
      await perform();
      return statusReply(fault.status ?? 500, fault.retryAfterSeconds, offset);
    case "commit-then-drop":
      await perform();
      return { drop: true };
    case "commit-then-body":
      await perform();
      return bodyReply(fault.status ?? 200, fault.body, offset);
  }
}

function statusReply(status: number, retryAfterSeconds: number | undefined, offset: string): HttpReply {
  let reply: HttpReply;
  if (status === 429) reply = throttled(retryAfterSeconds, offset);
  else if (status === 401) reply = authenticationFailed("Token invalid", offset);
  else if (status === 403) reply = authorizationFailed(offset);
  else if (status === 500) reply = faults.system().toReply(offset);
  else if (status > 500) reply = gatewayPage(status);
  else {
    reply = new QboFault({
      status,
      code: String(status),
      message: "Injected fault",
      detail: `The emulator answered ${status} as instructed`,
    }).toReply(offset);
  }
  if (retryAfterSeconds !== undefined) reply.headers["retry-after"] = String(retryAfterSeconds);
  return reply;
}

/**
 * A made-up answer (e.g. a 200 without an Id, a 200 carrying a `Fault` as QBO sometimes sends,
 * or an amount with three decimals) to test how a client copes with nonsense.
 */
function bodyReply(status: number, body: unknown, offset: string): HttpReply {
  if (typeof body === "object" && body !== null && !Array.isArray(body) && !("time" in body)) {
    return qboJson(status, body as Record<string, unknown>, { offset });
  }
  return { status, headers: { "content-type": QBO_JSON }, body: JSON.stringify(body ?? null) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export type LimitName = "concurrent" | "perSecond" | "perMinute";

export interface LimitsConfig {
  maxConcurrent?: number | null;
  perSecond?: number | null;
  perMinute?: number | null;
}

/**
 * Intuit's per-realm limits (qbo-api.md A5, S17/S18/S19): 10 requests per second per realm and
 * app, 500 per minute per realm. On by default: a client tuned against a friendly emulator
 * would otherwise meet its first 429 in production.
 */
export const DEFAULT_LIMITS: Readonly<Required<LimitsConfig>> = Object.freeze({
  maxConcurrent: null,
  perSecond: 10,
  perMinute: 500,
});

/**
 * QBO's per-company throttling: a concurrency cap and sliding one-second and one-minute request
 * budgets. Only admitted requests use up a budget (a refused one is answered 429 and forgotten).
 */
export class RateLimits {
  #config: Required<LimitsConfig> = { ...DEFAULT_LIMITS };
  #inFlight = 0;
  /** Admission instants (ms) of the last minute, oldest first. */
  #admitted: number[] = [];

  /** Replaces the whole configuration: a key left out or null is no limit (`{}` removes all). */
  set(limits: LimitsConfig): void {
    this.#config = {
      maxConcurrent: limits.maxConcurrent ?? null,
      perSecond: limits.perSecond ?? null,
      perMinute: limits.perMinute ?? null,
    };
    this.#admitted = [];
  }

  get config(): Required<LimitsConfig> {
    return { ...this.#config };
  }

  /** Admits a request (call `release` when it ends), or refuses it, saying which limit it met. */
  admit(now: number): { release: () => void } | { refused: LimitName } {
    const { maxConcurrent, perSecond, perMinute } = this.#config;
    if (maxConcurrent !== null && this.#inFlight >= maxConcurrent) return { refused: "concurrent" };
    if (perSecond !== null || perMinute !== null) {
      while (this.#admitted.length > 0 && (this.#admitted[0] ?? 0) <= now - MINUTE_MS) this.#admitted.shift();
      if (perMinute !== null && this.#admitted.length >= perMinute) return { refused: "perMinute" };
      if (perSecond !== null && this.#countSince(now - SECOND_MS) >= perSecond)
        return { refused: "perSecond" };
      this.#admitted.push(now);
    }
    this.#inFlight++;
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.#inFlight--;
      },
    };
  }

  /** Admissions after `since`, counted from the newest end (at most perSecond steps). */
  #countSince(since: number): number {
    let count = 0;
    for (let index = this.#admitted.length - 1; index >= 0; index--) {
      if ((this.#admitted[index] ?? 0) <= since) break;
      count++;
    }
    return count;
  }
}

const SECOND_MS = 1000;
const MINUTE_MS = 60_000;

/**
 * Meters a read call (GET, query, CDC, PDF) against the realm's month; past `monthlyReadCap`
 * the read is refused the way Intuit blocks CorePlus calls for the rest of the month: HTTP 429
 * (qbo-api.md A5, S17/S20). The body of that 429 is UNVERIFIED: the throttle fault here.
 * Returns the refusal, or undefined when the read may go ahead.
 */
export function meterRead(realm: Realm, operation: string): HttpReply | undefined {
  if (operation === "unsupported") return undefined;
  if (realm.reads.admit(Date.now(), realm.settings.value.monthlyReadCap)) return undefined;
  realm.stats.readRefused();
  return throttled(undefined, realm.settings.value.timestampOffset);
}
