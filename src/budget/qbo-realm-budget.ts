/**
 * QboRealmBudget: one Durable Object per QuickBooks company (named by its realm id) that every
 * QBO API request for that company passes through first, whoever sends it: API routes, the
 * queue consumer, crons, the outbox, every conference connected to the company (two
 * conferences may share one). SPEC §10 "Rate budget" and "Metered reads".
 *
 * Why a Durable Object: QBO's limits are per company, and the requests come from any isolate
 * anywhere. A DO instance is unique per name, so the bookings it hands out are a single, exact
 * count. One round trip per request and no storage write for the window: the answer is "send
 * in N ms" (the caller sleeps on its own side, not here) or, for a caller that will not wait
 * that long, "no slot within your patience: retry after N ms" (nothing booked).
 *
 * The window lives in memory. The object is evicted only after some idle time (over a minute
 * without requests in practice) and the window only remembers the last minute, so a fresh
 * instance starts from an empty window that is also the true one. The monthly read count is
 * durable (SQLite storage), one UPDATE per read: it must survive evictions and deploys.
 */
import { DurableObject } from "cloudflare:workers";
import {
  BookingWindow,
  crossedThresholds,
  monthOf,
  type RateLimits,
  type ReadBudgetThreshold,
} from "./window";

/** The monthly read meter of one realm (`qboReads` in the sync status). */
export interface ReadMeter {
  month: string;
  count: number;
  budget: number;
}

/** The meter right after the read that crossed `thresholds` (percent of the budget). */
export type ReadCrossing = ReadMeter & { thresholds: ReadBudgetThreshold[] };

export type AcquireAnswer =
  | {
      ok: true;
      /** The booked send time (epoch ms): sleep until then, then send. */
      slot: number;
      /** The same, relative to when the object answered. */
      waitMs: number;
      /** Set on the one read that crossed 80% or 100% of the month's budget. */
      crossed: ReadCrossing | null;
    }
  | { ok: false; retryAfterMs: number };

export class QboRealmBudget extends DurableObject<Env> {
  readonly #window = new BookingWindow();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(`CREATE TABLE IF NOT EXISTS reads (
      month TEXT PRIMARY KEY,
      count INTEGER NOT NULL
    )`);
  }

  /**
   * Books the next send slot for one request, unless it is more than `maxWaitMs` away. `read`
   * requests (GET, query, CDC, PDF: Intuit's metered "CorePlus" calls) are counted for the month
   * when booked. The caller passes the limits and the monthly read budget from its own
   * configuration (`QBO_RATE_PER_*`, `QBO_MONTHLY_READ_BUDGET`; one deployment, one value).
   */
  acquire(request: {
    read: boolean;
    maxWaitMs: number;
    limits: RateLimits;
    readBudget: number;
    /** The slot this caller booked before and missed (it left too late): released first. */
    missed?: { slot: number; lateMs: number };
  }): AcquireAnswer {
    const now = Date.now();
    if (request.missed !== undefined) {
      this.#window.release(request.missed.slot);
      this.#window.noteLate(now, request.missed.lateMs);
    }
    const at = this.#window.peek(now, request.limits);
    if (at - now > request.maxWaitMs)
      return { ok: false, retryAfterMs: this.#window.promise(at, request.limits) - now };
    this.#window.book(now, request.limits);
    return {
      ok: true,
      slot: at,
      waitMs: at - now,
      crossed: request.read ? this.#countRead(now, request.readBudget) : null,
    };
  }

  /**
   * The caller slept until `slot` and is about to send: still the slot, or a new one (the old
   * one given back) when bookings that moved meanwhile now crowd its window. Reads are not
   * counted again.
   */
  confirm(request: { slot: number; limits: RateLimits }): { slot: number; waitMs: number } {
    const now = Date.now();
    if (this.#window.stillFits(request.slot, now, request.limits)) return { slot: request.slot, waitMs: 0 };
    this.#window.release(request.slot);
    const slot = this.#window.book(now, request.limits);
    return { slot, waitMs: slot - now };
  }

  /**
   * The request booked at `slot` took `elapsedMs` to answer. QBO counts a request when it gets
   * to it, anywhere in that time, so its booking moves to the latest instant it may have been
   * counted: the requests booked a second or a minute after it then keep their distance.
   */
  answeredSlowly(slot: number, elapsedMs: number): void {
    this.#window.move(slot, slot + elapsedMs);
  }

  /** QuickBooks answered 429 despite the budget: more slack for a while, and a short pause. */
  throttled(): void {
    this.#window.noteThrottled(Date.now());
  }

  /** This month's read count against `budget`. */
  reads(budget: number): ReadMeter {
    const month = monthOf(Date.now());
    const row = this.ctx.storage.sql
      .exec<{ count: number }>("SELECT count FROM reads WHERE month = ?", month)
      .toArray()[0];
    return { month, count: row?.count ?? 0, budget };
  }

  #countRead(now: number, budget: number): ReadCrossing | null {
    const month = monthOf(now);
    const { count } = this.ctx.storage.sql
      .exec<{ count: number }>(
        `INSERT INTO reads (month, count) VALUES (?, 1)
         ON CONFLICT (month) DO UPDATE SET count = count + 1 RETURNING count`,
        month,
      )
      .one();
    const thresholds = crossedThresholds(count - 1, count, budget);
    return thresholds.length > 0 ? { month, count, budget, thresholds } : null;
  }
}
