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
import { recordConferenceEvent } from "../db/conference-events";
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
  try {
    const written = await recordConferenceEvent(db, {
      conferenceSlug,
      type: "qbo.reconnect_required",
      dedupeKey: `qbo.reconnect_required:${outcome.cause}:${outcome.grant}`,
      at: now.toISOString(),
      data: { cause: outcome.cause, realmId: outcome.realmId, message: outcome.message },
    });
    if (written) await drainConference(env, db, conferenceSlug);
  } catch (error) {
    log("error", "events.reconnect_event_failed", {
      conference: conferenceSlug,
      error: (error as Error).name,
    });
  }
}
