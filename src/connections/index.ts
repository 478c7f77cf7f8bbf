import { realmBudget } from "../budget";
import { makeDb } from "../db/client";
import { reportHardExpiryApproaching, reportReconnectRequired } from "../events/conference-events";
import { ApiError } from "../lib/errors";
import { QboClient } from "../qbo/client";
import type { AccessTokenResult } from "./types";

/** The conference's token vault. Creating a stub does not wake the object. */
export function connectionFor(env: Env, slug: string) {
  if (!validEncryptionKey(env.TOKEN_ENCRYPTION_KEY)) {
    throw new ApiError(
      "not_configured",
      "TOKEN_ENCRYPTION_KEY is not set to base64 of 32 bytes; QuickBooks tokens cannot be stored or used.",
    );
  }
  return env.QBO_CONNECTIONS.getByName(slug);
}

/**
 * A QBO client for the conference's current connection. Pass `realmId` (the realm a PO's
 * invoice was created in) for any action on an existing invoice: the client then refuses to
 * act when the conference is connected to another company (see QboClientOptions.realmId).
 */
export function qboClientFor(
  env: Env,
  conference: { slug: string; qboEnvironment: "sandbox" | "production" | null },
  realmId: string | null = null,
): QboClient {
  const stub = connectionFor(env, conference.slug);
  return new QboClient({
    env,
    environment: conference.qboEnvironment,
    conference: conference.slug,
    realmId,
    budget: realmBudget(env),
    tokens: {
      accessToken: async () => reported(env, conference.slug, await stub.accessToken()),
      refreshAfterUnauthorized: async (stale) =>
        reported(env, conference.slug, await stub.refreshAfterUnauthorized(stale)),
    },
  });
}

/**
 * Passes the vault's answer through, first recording `qbo.reconnect_required` when the grant is
 * dead (once per episode: src/events/conference-events.ts). Every QBO call of the Worker gets
 * its token here, so whichever request, queue batch or cron meets the dead grant first reports it.
 */
export async function reported(
  env: Env,
  slug: string,
  result: AccessTokenResult,
): Promise<AccessTokenResult> {
  if (!result.ok && result.reason === "reconnect_required")
    await reportReconnectRequired(env, makeDb(env.DB), slug, result);
  if (result.ok && result.hardExpiryNear) {
    // Within 30 days of the grant's 5-year cap every call carries the flag: the first call in
    // each isolate records the (deduplicated) event, the rest skip the D1 write.
    const key = `${slug}:${result.hardExpiryNear}`;
    if (!hardExpiryReported.has(key)) {
      hardExpiryReported.add(key);
      await reportHardExpiryApproaching(env, makeDb(env.DB), slug, {
        realmId: result.realmId,
        hardExpiresAt: result.hardExpiryNear,
      });
    }
  }
  return result;
}

/** Hard-expiry warnings this isolate has recorded (`slug:instant`); see `reported`. */
const hardExpiryReported = new Set<string>();

function validEncryptionKey(key: string | undefined): boolean {
  if (!key) return false;
  try {
    return atob(key).length === 32;
  } catch {
    return false;
  }
}
