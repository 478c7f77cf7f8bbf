/**
 * The Worker's side of the per-realm rate budget (SPEC §10): every QBO API request asks the
 * realm's QboRealmBudget for a slot (src/qbo/client.ts calls `acquire` on its single request
 * path, so each new call is covered without its author doing anything) and sleeps until it.
 *
 * How long a request may wait depends on who is waiting, not on the call: work from the queue
 * and the crons waits for its slot (minutes if need be), while an API request that cannot get
 * one within about a second answers 503 `qbo_unavailable` with `Retry-After` rather than hold
 * a person's request open. The entry point (src/index.ts) marks queue and cron work with
 * `queueAndCronWait`; everything else is an API request.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { makeDb } from "../db/client";
import { reportReadBudget } from "../events/conference-events";
import { log } from "../lib/log";
import { QboError, type RequestBudget } from "../qbo/client";
import type { ReadMeter } from "./qbo-realm-budget";
import { limitsFrom, readBudgetFrom } from "./window";

/**
 * An API request waits at most this long for its slot, then answers 503: about a second, enough
 * for a burst of twice the per-second limit (the second ten go 1.2 s after the first).
 */
export const API_PATIENCE_MS = 1500;
/** Queue and cron work waits this long at most; beyond, the message is retried later. */
export const BACKGROUND_PATIENCE_MS = 5 * 60_000;

/**
 * Connections one invocation may have waiting for response headers: Cloudflare queues a
 * seventh fetch until one of six gets its headers (Workers platform limits, "Simultaneous open
 * connections"; wrangler dev does not enforce it). A request queued there would leave later
 * than the slot the budget booked for it, and QBO would count it beside requests booked a
 * second after it. So background work takes one of these before booking its slot, and gives it
 * back once the headers are in. (Late departures of other causes, such as a busy isolate, are
 * what `confirm` below catches.)
 */
export const CONNECTIONS_PER_INVOCATION = 6;

/** What a queue batch or cron run shares: how long its QBO requests may wait, and its connections. */
interface Invocation {
  patienceMs: number;
  connections: Permits;
}

const invocation = new AsyncLocalStorage<Invocation>();

/**
 * Runs `work` (a queue batch, a cron) as background work: its QBO requests wait for their slots,
 * at most CONNECTIONS_PER_INVOCATION at a time. (An API request sends its QBO calls one after
 * the other, and gives up after API_PATIENCE_MS.)
 */
export function asBackgroundWork<T>(work: () => T): T {
  return invocation.run(
    { patienceMs: BACKGROUND_PATIENCE_MS, connections: new Permits(CONNECTIONS_PER_INVOCATION) },
    work,
  );
}

/** A counting semaphore: `take` resolves with the function that gives the permit back (once). */
export class Permits {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  async take(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.#waiting.shift();
      if (next)
        next(); // the permit passes straight to the next waiter
      else this.#free++;
    };
  }
}

/** The Worker's handlers, with `scheduled` and `queue` run as background work. */
export function queueAndCronWait<H extends ExportedHandler<Env, unknown>>(handlers: H): H {
  const { scheduled, queue } = handlers;
  return {
    ...handlers,
    ...(scheduled && {
      scheduled: (controller: ScheduledController, env: Env, ctx: ExecutionContext) =>
        asBackgroundWork(() => scheduled.call(handlers, controller, env, ctx)),
    }),
    ...(queue && {
      queue: (batch: MessageBatch<unknown>, env: Env, ctx: ExecutionContext) =>
        asBackgroundWork(() => queue.call(handlers, batch, env, ctx)),
    }),
  };
}

/** The realm's budget object. Creating a stub does not wake it. */
export function realmBudgetStub(env: Env, realmId: string) {
  return env.QBO_BUDGETS.getByName(realmId);
}

/** The budget every QBO client of this Worker spends. */
export function realmBudget(env: Env): RequestBudget {
  return {
    async answeredSlowly(realmId, slot, elapsedMs) {
      try {
        await realmBudgetStub(env, realmId).answeredSlowly(slot, elapsedMs);
      } catch {
        // Best effort: the margins still stand.
      }
    },
    async throttled(realmId) {
      try {
        await realmBudgetStub(env, realmId).throttled();
      } catch {
        // Best effort: the 429 itself is retried by the caller's own rules.
      }
    },
    async acquire(realmId, read) {
      const current = invocation.getStore();
      const maxWaitMs = current?.patienceMs ?? API_PATIENCE_MS;
      // The connection first: a slot booked while the request cannot leave would be missed.
      const release = current ? await current.connections.take() : undefined;
      try {
        // A slot is a send time. A request that leaves much later than its slot (its isolate was
        // busy, its timer fired late) could land in the next window beside requests sent on time:
        // it gives the slot back and books a new one.
        let missed: { slot: number; lateMs: number } | undefined;
        for (let attempt = 1; ; attempt++) {
          const answer = await askBudget(env, realmId, { read: read && attempt === 1, maxWaitMs, missed });
          if (answer.crossed) await reportReadBudget(env, makeDb(env.DB), realmId, answer.crossed);
          let slot = answer.slot;
          let waitMs = answer.waitMs;
          // A slot booked ahead was weighed against the bookings of that moment; requests booked
          // before it may have left late since (and moved). Measured in bench 12: eight requests
          // handed to fetch within 7 ms reached QBO 430 ms later, beside the next second's, and
          // earned 429s. Asked again on waking, the slot stands or is rebooked (`confirm`).
          for (let check = 0; waitMs > 0 && check < MAX_BOOKINGS; check++) {
            await new Promise((resolve) => setTimeout(resolve, waitMs));
            ({ slot, waitMs } = await confirmSlot(env, realmId, slot));
          }
          const lateMs = Date.now() - slot;
          if (lateMs <= LATE_TOLERANCE_MS || attempt >= MAX_BOOKINGS)
            return release ? { slot, release } : { slot };
          log("info", "qbo.budget_slot_missed", { realmId, lateMs, attempt });
          missed = { slot, lateMs };
        }
      } catch (err) {
        release?.();
        throw err;
      }
    },
  };
}

/** How late after its slot a request may still leave (see `realmBudget`). */
const LATE_TOLERANCE_MS = 100;
const MAX_BOOKINGS = 5;

/** One booking; throws `unavailable` when there is no slot within the caller's patience. */
async function askBudget(
  env: Env,
  realmId: string,
  request: { read: boolean; maxWaitMs: number; missed: { slot: number; lateMs: number } | undefined },
) {
  let answer: Awaited<ReturnType<ReturnType<typeof realmBudgetStub>["acquire"]>>;
  try {
    answer = await realmBudgetStub(env, realmId).acquire({
      read: request.read,
      maxWaitMs: request.maxWaitMs,
      ...(request.missed === undefined ? {} : { missed: request.missed }),
      limits: limitsFrom(env),
      readBudget: readBudgetFrom(env),
    });
  } catch (err) {
    // Sending without a slot could earn a 429 for every caller of the company: wait instead.
    log("error", "qbo.budget_unreachable", { realmId, error: err instanceof Error ? err.name : "unknown" });
    throw new QboError(
      "unavailable",
      "The QuickBooks request budget could not be consulted; try again later.",
      {
        retryAfterSeconds: 5,
      },
    );
  }
  if (!answer.ok) {
    const retryAfterSeconds = Math.max(1, Math.ceil(answer.retryAfterMs / 1000));
    log("info", "qbo.budget_wait_refused", { realmId, retryAfterSeconds, read: request.read });
    throw new QboError(
      "unavailable",
      `This QuickBooks company's request budget (per second and per minute) is spent for now; try again in ${retryAfterSeconds} s.`,
      { retryAfterSeconds },
    );
  }
  return answer;
}

/** The slot after a sleep: the same (waitMs 0), or a new one to sleep until. Unreachable: the same. */
async function confirmSlot(
  env: Env,
  realmId: string,
  slot: number,
): Promise<{ slot: number; waitMs: number }> {
  try {
    return await realmBudgetStub(env, realmId).confirm({ slot, limits: limitsFrom(env) });
  } catch {
    // The booking was made; the object being unreachable now is no reason to hold the request.
    return { slot, waitMs: 0 };
  }
}

/** This month's metered reads of the realm (`qboReads` in the sync status). */
export async function readMeter(env: Env, realmId: string): Promise<ReadMeter> {
  return realmBudgetStub(env, realmId).reads(readBudgetFrom(env));
}
