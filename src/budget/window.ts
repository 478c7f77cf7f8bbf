/**
 * The arithmetic of the per-realm rate budget and the monthly read meter (SPEC §10), pure so it
 * can be read and tested without a Durable Object.
 *
 * QBO throttles each company at 10 requests per second and 500 per minute, counted on arrival
 * over sliding windows, and answers 429 beyond (qbo-api.md A5). The budget books every request
 * a send time before it leaves: the earliest instant at which neither window would be over its
 * limit, counting every booking already made (including ones still in the future, whose
 * callers are asleep until then). Bookings are monotonic (each at or after the previous one),
 * so "the window ending at t holds fewer than N" is one comparison with the N-th latest booking.
 */

export interface RateLimits {
  perSecond: number;
  perMinute: number;
}

export const SECOND_MS = 1000;
export const MINUTE_MS = 60_000;

/**
 * Slack added to each window. A booking says when the request may leave the Worker; it reaches
 * QBO a little later, and not always equally later (timer slop, the Durable Object answer's
 * trip back, a busy isolate). Two bookings exactly one window apart could then arrive less than
 * a window apart and be one too many: the slack keeps them apart. It costs little: 10 per
 * 1.2 s is still the 500 a minute allows, and 2 s per minute (3%) while that binds. The minute's
 * slack is the larger because the requests it compares are a minute apart: the first ones of a
 * storm leave the busiest isolate, and measured locally they arrived up to half a second later
 * than the ones a minute after them.
 */
export const SECOND_SLACK_MS = 200;
export const MINUTE_SLACK_MS = 2000;

/**
 * Extra slack learnt from trouble: a caller that left its slot late (by L ms) raises it to L, a
 * 429 QuickBooks answered anyway raises it by 300 ms and pauses the realm for a second. For the
 * one-second window it fades by 50 ms a second, so a quiet realm is back to the base slack
 * within seconds. The one-minute window remembers the worst lateness of the last minute: a
 * request that left late a minute ago is what the request booked a minute after it would meet.
 */
const MAX_EXTRA_SLACK_MS = 800;
const EXTRA_SLACK_FADE_PER_MS = 0.05;
const THROTTLED_EXTRA_MS = 300;
const THROTTLED_PAUSE_MS = 1000;
/** Refused callers are spread over at most this long (see `promise`). */
const MAX_PROMISE_SPREAD_MS = 3000;

export const DEFAULT_LIMITS: RateLimits = { perSecond: 10, perMinute: 500 };
export const DEFAULT_MONTHLY_READ_BUDGET = 500_000;

/** A positive integer from a `[vars]` string, else the default. */
export function positiveInt(value: string | undefined, fallback: number): number {
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fallback;
}

export function limitsFrom(env: { QBO_RATE_PER_SECOND?: string; QBO_RATE_PER_MINUTE?: string }): RateLimits {
  return {
    perSecond: positiveInt(env.QBO_RATE_PER_SECOND, DEFAULT_LIMITS.perSecond),
    perMinute: positiveInt(env.QBO_RATE_PER_MINUTE, DEFAULT_LIMITS.perMinute),
  };
}

export function readBudgetFrom(env: { QBO_MONTHLY_READ_BUDGET?: string }): number {
  return positiveInt(env.QBO_MONTHLY_READ_BUDGET, DEFAULT_MONTHLY_READ_BUDGET);
}

/**
 * The bookings of one realm. `book` answers when a request may leave; `peek` the same without
 * booking (an API request that will not wait that long books nothing and answers 503).
 */
export class BookingWindow {
  /** Booked send times, ascending; older than a minute (plus slack) are dropped. */
  #slots: number[] = [];

  /** The earliest time at or after `now` a new request may be sent. */
  peek(now: number, limits: RateLimits): number {
    this.#prune(now);
    const slots = this.#slots;
    const extra = this.#extraAt(now);
    let at = Math.max(now, slots.at(-1) ?? now, this.#pausedUntil);
    const nthSecond = slots[slots.length - limits.perSecond];
    if (nthSecond !== undefined) at = Math.max(at, nthSecond + SECOND_MS + SECOND_SLACK_MS + extra);
    const nthMinute = slots[slots.length - limits.perMinute];
    if (nthMinute !== undefined)
      at = Math.max(
        at,
        nthMinute + MINUTE_MS + MINUTE_SLACK_MS + Math.max(extra, this.#lateInLastMinute(now)),
      );
    return at;
  }

  /** A caller left its slot `lateMs` late: widen the slack to that for a while. */
  noteLate(now: number, lateMs: number): void {
    this.#setExtra(now, Math.max(this.#extraAt(now), lateMs));
    this.#late.push({ at: now, ms: Math.min(MAX_EXTRA_SLACK_MS, lateMs) });
  }

  /** Lateness reports of the last minute (and a little): few, since a late caller is rare. */
  #late: { at: number; ms: number }[] = [];

  #lateInLastMinute(now: number): number {
    const horizon = now - MINUTE_MS - SECOND_MS;
    while (this.#late.length > 0 && (this.#late[0]?.at ?? 0) < horizon) this.#late.shift();
    return this.#late.reduce((worst, l) => Math.max(worst, l.ms), 0);
  }

  /** QuickBooks answered 429 all the same: widen the slack and pause the realm a moment. */
  noteThrottled(now: number): void {
    this.#setExtra(now, this.#extraAt(now) + THROTTLED_EXTRA_MS);
    this.#pausedUntil = Math.max(this.#pausedUntil, now + THROTTLED_PAUSE_MS);
  }

  #extra = { ms: 0, at: 0 };
  #pausedUntil = 0;

  #extraAt(now: number): number {
    return Math.max(0, this.#extra.ms - (now - this.#extra.at) * EXTRA_SLACK_FADE_PER_MS);
  }

  #setExtra(now: number, ms: number): void {
    this.#extra = { ms: Math.min(MAX_EXTRA_SLACK_MS, ms), at: now };
  }

  /**
   * A caller that slept until its slot `at` asks again before sending: bookings that moved
   * meanwhile (their requests left or arrived late, `move`) may now crowd the window before
   * `at`. True when `at` still fits; otherwise the booking is given back and the caller books
   * anew. Only bookings at or before `at` are weighed: later ones ask for themselves.
   */
  stillFits(at: number, now: number, limits: RateLimits): boolean {
    this.#prune(now);
    const before = this.#slots.filter((slot) => slot <= at);
    const own = before.lastIndexOf(at);
    if (own < 0) return false; // not booked (pruned or released): book anew
    before.splice(own, 1);
    const extra = this.#extraAt(now);
    const nthSecond = before[before.length - limits.perSecond];
    if (nthSecond !== undefined && at < nthSecond + SECOND_MS + SECOND_SLACK_MS + extra) return false;
    const nthMinute = before[before.length - limits.perMinute];
    if (nthMinute !== undefined && at < nthMinute + MINUTE_MS + MINUTE_SLACK_MS + extra) return false;
    return true;
  }

  /** Books the earliest slot and returns it. */
  book(now: number, limits: RateLimits): number {
    const at = this.peek(now, limits);
    this.#slots.push(at);
    return at;
  }

  /**
   * Moves one booking from `at` to `later` (kept in order): its request may have been counted
   * by QBO as late as that.
   */
  move(at: number, later: number): void {
    const index = this.#slots.lastIndexOf(at);
    if (index < 0 || later <= at) return;
    this.#slots.splice(index, 1);
    let insert = this.#slots.length;
    while (insert > 0 && (this.#slots[insert - 1] ?? 0) > later) insert--;
    this.#slots.splice(insert, 0, later);
  }

  /**
   * Forgets one booking at `at` that its request did not use (it missed it and books again), so
   * a missed slot does not keep a later window full.
   */
  release(at: number): void {
    const index = this.#slots.lastIndexOf(at);
    if (index >= 0) this.#slots.splice(index, 1);
  }

  /**
   * When a caller refused now should come back: one slot interval after the previous refused
   * caller's time, so refused API requests return spread out as the budget frees, not all at
   * once (each return is a whole request to the Worker). Nothing is booked.
   */
  promise(firstFree: number, limits: RateLimits): number {
    const step = (SECOND_MS + SECOND_SLACK_MS) / limits.perSecond;
    // Bounded: a caller refused again is promised anew, so an unbounded pointer would only grow
    // and send callers away for longer than the budget needs (idle slots).
    this.#promised = Math.min(Math.max(firstFree, this.#promised + step), firstFree + MAX_PROMISE_SPREAD_MS);
    return this.#promised;
  }

  #promised = 0;

  /** Bookings in the minute before `now` and after it (still asleep). */
  get size(): number {
    return this.#slots.length;
  }

  #prune(now: number): void {
    const horizon = now - MINUTE_MS - MINUTE_SLACK_MS;
    let drop = 0;
    while (drop < this.#slots.length && (this.#slots[drop] ?? 0) <= horizon) drop++;
    if (drop > 0) this.#slots.splice(0, drop);
  }
}

/** Calendar month in UTC, `YYYY-MM`: Intuit meters reads per month (qbo-api.md A5). */
export function monthOf(at: number): string {
  return new Date(at).toISOString().slice(0, 7);
}

/** The percentages of the monthly read budget that raise `qbo.read_budget` (SPEC §10). */
export const READ_BUDGET_THRESHOLDS = [80, 100] as const;
export type ReadBudgetThreshold = (typeof READ_BUDGET_THRESHOLDS)[number];

/** The thresholds that the read taking the count from `before` to `after` crosses. */
export function crossedThresholds(before: number, after: number, budget: number): ReadBudgetThreshold[] {
  return READ_BUDGET_THRESHOLDS.filter((pct) => {
    const mark = Math.ceil((budget * pct) / 100);
    return before < mark && after >= mark;
  });
}
