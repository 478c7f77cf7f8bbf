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

const patience = new AsyncLocalStorage<number>();

/** Runs `work` (a queue batch, a cron) as background work: its QBO requests wait for their slots. */
export function asBackgroundWork<T>(work: () => T): T {
  return patience.run(BACKGROUND_PATIENCE_MS, work);
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
      const maxWaitMs = patience.getStore() ?? API_PATIENCE_MS;
      // A slot is a send time. A request that leaves much later than its slot (its isolate was
      // busy, its timer fired late) could land in the next window beside requests sent on time:
      // it gives the slot back and books a new one.
      let missed: { slot: number; lateMs: number } | undefined;
      for (let attempt = 1; ; attempt++) {
        const answer = await askBudget(env, realmId, { read: read && attempt === 1, maxWaitMs, missed });
        if (answer.crossed) await reportReadBudget(env, makeDb(env.DB), realmId, answer.crossed);
        if (answer.waitMs > 0) await new Promise((resolve) => setTimeout(resolve, answer.waitMs));
        const lateMs = Date.now() - answer.slot;
        if (lateMs <= LATE_TOLERANCE_MS || attempt >= MAX_BOOKINGS) return { slot: answer.slot };
        log("info", "qbo.budget_slot_missed", { realmId, lateMs, attempt });
        missed = { slot: answer.slot, lateMs };
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

/** This month's metered reads of the realm (`qboReads` in the sync status). */
export async function readMeter(env: Env, realmId: string): Promise<ReadMeter> {
  return realmBudgetStub(env, realmId).reads(readBudgetFrom(env));
}
