/**
 * A realm is one QBO company plus everything the emulator keeps about it: its settings (how
 * real the company is), fault plan, rate limits, request counters and the `requestid` replay
 * store. Test files share one emulator and stay apart by using their own realms.
 */

import {
  DEFAULT_ACCESS_TTL_SECONDS,
  DEFAULT_REFRESH_HARD_TTL_SECONDS,
  DEFAULT_REFRESH_TTL_SECONDS,
  type TokenTtls,
} from "./auth.ts";
import { OPERATIONS, type RealmStats, type SettingsPatch } from "./control-api.ts";
import { FaultPlan, type LimitName, RateLimits } from "./faults.ts";
import type { HttpReply } from "./http.ts";
import { ChangeLog } from "./qbo/cdc.ts";
import { Company } from "./qbo/company.ts";
import { CompanySettings } from "./settings.ts";

export interface RealmOptions {
  companyName?: string;
  ttls?: Partial<TokenTtls>;
  settings?: SettingsPatch;
}

export class Realm {
  readonly id: string;
  companyName: string;
  ttls: TokenTtls;
  readonly settings: CompanySettings;
  readonly company: Company;
  readonly faults = new FaultPlan();
  readonly limits = new RateLimits();
  readonly stats = new StatsCounter();
  readonly requestIds = new RequestIdStore();
  /** Every change of the company's entities, for CDC and webhooks (emulator/qbo/cdc.ts). */
  readonly changes = new ChangeLog();
  readonly reads = new ReadMeter();

  constructor(id: string, options: RealmOptions = {}) {
    this.id = id;
    this.companyName = options.companyName ?? `Sandbox Company ${id}`;
    this.ttls = {
      accessTtlSeconds: options.ttls?.accessTtlSeconds ?? DEFAULT_ACCESS_TTL_SECONDS,
      refreshTtlSeconds: options.ttls?.refreshTtlSeconds ?? DEFAULT_REFRESH_TTL_SECONDS,
      hardTtlSeconds: options.ttls?.hardTtlSeconds ?? DEFAULT_REFRESH_HARD_TTL_SECONDS,
    };
    this.settings = new CompanySettings(options.settings);
    this.company = new Company(this.settings);
  }
}

/**
 * Committed write responses by `requestid`, replayed verbatim to a repeated request while they
 * are remembered. Intuit documents no retention (qbo-api.md A6), so it is a setting: after
 * `requestIdRetentionSeconds` a retry is a new request and creates again.
 */
export class RequestIdStore {
  /** Insertion order is age order, so expired entries are always at the front. */
  readonly #replies = new Map<string, { reply: HttpReply; at: number }>();

  /** The remembered reply, unless it is older than `retentionMs`. */
  recall(requestId: string, now: number, retentionMs: number): HttpReply | undefined {
    this.#prune(now, retentionMs);
    return this.#replies.get(requestId)?.reply;
  }

  remember(requestId: string, reply: HttpReply, now: number): void {
    this.#replies.delete(requestId);
    this.#replies.set(requestId, { reply, at: now });
  }

  /** Forgets every requestid now; returns how many there were. */
  forget(): number {
    const count = this.#replies.size;
    this.#replies.clear();
    return count;
  }

  #prune(now: number, retentionMs: number): void {
    for (const [requestId, entry] of this.#replies) {
      if (now - entry.at < retentionMs) return;
      this.#replies.delete(requestId);
    }
  }
}

/**
 * Read calls (GET reads, queries, CDC, PDFs) per calendar month, UTC: Intuit meters these
 * "CorePlus" calls per month and blocks them past the tier's cap until the next month (qbo-api.md
 * A5, S20). Which calls count exactly is UNVERIFIED; here every read that passed authentication.
 */
export class ReadMeter {
  #month = "";
  #count = 0;

  /** Counts one read now, unless `cap` is reached: then false (the read is refused). */
  admit(now: number, cap: number | null): boolean {
    this.#roll(now);
    if (cap !== null && this.#count >= cap) return false;
    this.#count++;
    return true;
  }

  snapshot(now: number): { month: string; count: number } {
    this.#roll(now);
    return { month: this.#month, count: this.#count };
  }

  reset(): void {
    this.#count = 0;
  }

  #roll(now: number): void {
    const month = new Date(now).toISOString().slice(0, 7);
    if (month === this.#month) return;
    this.#month = month;
    this.#count = 0;
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

  limitThrottled(limit: LimitName): void {
    this.#stats.limitThrottled++;
    this.#stats.limitThrottledBy[limit]++;
  }

  webhookSent(events = 1): void {
    this.#stats.webhooksSent += events;
  }

  readRefused(): void {
    this.#stats.readsRefused++;
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
    limitThrottledBy: { concurrent: 0, perSecond: 0, perMinute: 0 },
    lastMinorVersion: null,
    webhooksSent: 0,
    readsRefused: 0,
  };
}
