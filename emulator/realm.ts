/**
 * A realm is one QBO company plus everything the emulator keeps about it: its fault plan,
 * rate limits, request counters and the `requestid` replay store. Test files share one
 * emulator and stay apart by using their own realms.
 */

import { DEFAULT_ACCESS_TTL_SECONDS, DEFAULT_REFRESH_TTL_SECONDS, type TokenTtls } from "./auth.ts";
import { OPERATIONS, type RealmStats } from "./control-api.ts";
import { FaultPlan, RateLimits } from "./faults.ts";
import type { HttpReply } from "./http.ts";
import { Company } from "./qbo/company.ts";

export class Realm {
  readonly id: string;
  companyName: string;
  ttls: TokenTtls;
  readonly company = new Company();
  readonly faults = new FaultPlan();
  readonly limits = new RateLimits();
  readonly stats = new StatsCounter();
  /** Committed write responses by `requestid`, replayed verbatim to repeated requests. */
  readonly replies = new Map<string, HttpReply>();

  constructor(id: string, options: { companyName?: string; ttls?: Partial<TokenTtls> } = {}) {
    this.id = id;
    this.companyName = options.companyName ?? `Sandbox Company ${id}`;
    this.ttls = {
      accessTtlSeconds: options.ttls?.accessTtlSeconds ?? DEFAULT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: options.ttls?.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS,
    };
  }
}

export class StatsCounter {
  #stats: RealmStats = emptyStats();

  request(operation: string, minorVersion: string | null): void {
    this.#stats.requests.total++;
    const byOperation = this.#stats.requests.byOperation;
    byOperation[operation] = (byOperation[operation] ?? 0) + 1;
    if (minorVersion !== null) this.#stats.lastMinorVersion = minorVersion;
  }

  tokenCall(grantType: string): void {
    this.#stats.tokenCalls.total++;
    if (grantType === "refresh_token" || grantType === "authorization_code")
      this.#stats.tokenCalls[grantType]++;
  }

  revokeCall(): void {
    this.#stats.revokeCalls++;
  }

  faultInjected(): void {
    this.#stats.faultsInjected++;
  }

  limitThrottled(): void {
    this.#stats.limitThrottled++;
  }

  webhookSent(): void {
    this.#stats.webhooksSent++;
  }

  reset(): void {
    this.#stats = emptyStats();
  }

  snapshot(): RealmStats {
    return structuredClone(this.#stats);
  }
}

function emptyStats(): RealmStats {
  return {
    requests: { total: 0, byOperation: Object.fromEntries(OPERATIONS.map((operation) => [operation, 0])) },
    tokenCalls: { total: 0, refresh_token: 0, authorization_code: 0 },
    revokeCalls: 0,
    faultsInjected: 0,
    limitThrottled: 0,
    lastMinorVersion: null,
    webhooksSent: 0,
  };
}
