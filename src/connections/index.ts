import { ApiError } from "../lib/errors";
import { QboClient } from "../qbo/client";

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
      accessToken: () => stub.accessToken(),
      refreshAfterUnauthorized: (stale) => stub.refreshAfterUnauthorized(stale),
    },
  });
}

function validEncryptionKey(key: string | undefined): boolean {
  if (!key) return false;
  try {
    return atob(key).length === 32;
  } catch {
    return false;
  }
}
