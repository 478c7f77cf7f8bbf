import { makeDb } from "../db/client";
import { reportReconnectRequired } from "../events/conference-events";
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
  return result;
}

function validEncryptionKey(key: string | undefined): boolean {
  if (!key) return false;
  try {
    return atob(key).length === 32;
  } catch {
    return false;
  }
}
