/**
 * Conference-level events that the Worker records when it learns of them (SPEC §12). The token
 * vault (a Durable Object) has no D1, so `qbo.reconnect_required` cannot commit with the flag it
 * reports; instead every Worker path that receives a `reconnect_required` answer records it,
 * keyed on the dead grant's generation and cause. The first caller writes the event and the
 * rest find it there, so the platform hears once per reconnect episode; a caller whose write
 * failed leaves it to the next caller (every request, queue batch and daily keep-alive meets
 * the same dead grant until someone reconnects), so the event is late at worst, not lost.
 */
import type { AccessTokenResult } from "../connections/types";
import type { Db } from "../db/client";
import { recordConferenceEvent, recordRealmEvent } from "../db/conference-events";
import { log } from "../lib/log";
import { drainConference } from "./drain";

type ReconnectRequired = Extract<AccessTokenResult, { reason: "reconnect_required" }>;

/**
 * Records `qbo.reconnect_required` for the episode `outcome` names, once, and drains it at once
 * (the request that met it answers 409, which the drain middleware skips). Never throws: the
 * caller is about to report the reconnect to its own caller, and that must not become a 500.
 */
export async function reportReconnectRequired(
  env: Env,
  db: Db,
  conferenceSlug: string,
  outcome: ReconnectRequired,
  now = new Date(),
): Promise<void> {
  await recordAndDeliver(env, db, "events.reconnect_event_failed", {
    conferenceSlug,
    type: "qbo.reconnect_required",
    dedupeKey: `qbo.reconnect_required:${outcome.cause}:${outcome.grant}`,
    at: now.toISOString(),
    data: { cause: outcome.cause, realmId: outcome.realmId, message: outcome.message },
  });
}

/**
 * `qbo.reconnect_required` with cause `refresh_token_hard_expiry`: the grant reaches Intuit's
 * 5-year cap on `hardExpiresAt` and no refresh can extend it (SPEC §10), so a person must
 * reconnect before then. Keyed on that instant: once per grant, however many calls notice.
 * Never throws.
 */
export async function reportHardExpiryApproaching(
  env: Env,
  db: Db,
  conferenceSlug: string,
  grant: { realmId: string; hardExpiresAt: string },
  now = new Date(),
): Promise<void> {
  await recordAndDeliver(env, db, "events.hard_expiry_event_failed", {
    conferenceSlug,
    type: "qbo.reconnect_required",
    dedupeKey: `qbo.reconnect_required:refresh_token_hard_expiry:${grant.hardExpiresAt}`,
    at: now.toISOString(),
    data: {
      cause: "refresh_token_hard_expiry",
      realmId: grant.realmId,
      refreshTokenHardExpiresAt: grant.hardExpiresAt,
      message: `The QuickBooks connection reaches Intuit's 5-year limit on ${grant.hardExpiresAt} and cannot be refreshed past it; reconnect QuickBooks for this conference before then.`,
    },
  });
}

/**
 * Records one conference event (once: its dedupe key) and, when this call wrote it, delivers it
 * at once. Never throws: a failure is logged as `failureEvent` and left to the next caller.
 */
async function recordAndDeliver(
  env: Env,
  db: Db,
  failureEvent: string,
  event: Parameters<typeof recordConferenceEvent>[1],
): Promise<void> {
  try {
    const written = await recordConferenceEvent(db, event);
    if (written) await drainConference(env, db, event.conferenceSlug);
  } catch (error) {
    log("error", failureEvent, { conference: event.conferenceSlug, error: (error as Error).name });
  }
}

/**
 * `qbo.read_budget` for every conference connected to the realm whose monthly read meter just
 * crossed 80% or 100% of `QBO_MONTHLY_READ_BUDGET` (the realm's Durable Object reports each
 * crossing to exactly one request). Keyed on realm, month and threshold. Never throws: the read
 * that crossed goes ahead either way.
 */
export async function reportReadBudget(
  env: Env,
  db: Db,
  realmId: string,
  meter: { month: string; count: number; budget: number; thresholds: readonly number[] },
  now = new Date(),
): Promise<void> {
  try {
    const slugs = new Set<string>();
    for (const threshold of meter.thresholds) {
      const written = await recordRealmEvent(db, realmId, {
        type: "qbo.read_budget",
        dedupeKey: `qbo.read_budget:${realmId}:${meter.month}:${threshold}`,
        at: now.toISOString(),
        data: { realmId, month: meter.month, threshold, count: meter.count, budget: meter.budget },
      });
      for (const slug of written) slugs.add(slug);
    }
    log("warn", "qbo.read_budget", {
      realmId,
      month: meter.month,
      count: meter.count,
      budget: meter.budget,
      thresholds: meter.thresholds.map(String),
    });
    for (const slug of slugs) await drainConference(env, db, slug);
  } catch (error) {
    log("error", "events.read_budget_event_failed", { realmId, error: (error as Error).name });
  }
}
