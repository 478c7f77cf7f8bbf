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

export function qboClientFor(
  env: Env,
  conference: { slug: string; qboEnvironment: "sandbox" | "production" | null },
): QboClient {
  const stub = connectionFor(env, conference.slug);
  return new QboClient({
    env,
    environment: conference.qboEnvironment,
    conference: conference.slug,
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
