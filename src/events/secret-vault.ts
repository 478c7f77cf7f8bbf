/**
 * Endpoint signing secrets at rest: sealed with the token vault's AES-GCM and key ring
 * (TOKEN_ENCRYPTION_KEY seals and opens, TOKEN_ENCRYPTION_KEY_PREVIOUS only opens), so a D1
 * dump holds no usable secret and a key rotation needs no second procedure. The AAD binds the
 * value to its conference: a sealed secret copied to another conference's row does not open.
 */
import { decryptField, encryptField, importVaultKey, type KeyRing } from "../connections/crypto";
import { ApiError } from "../lib/errors";

async function keyRing(env: Env): Promise<KeyRing> {
  let current: Awaited<ReturnType<typeof importVaultKey>>;
  try {
    current = await importVaultKey(env.TOKEN_ENCRYPTION_KEY ?? "");
  } catch {
    throw new ApiError("not_configured", "TOKEN_ENCRYPTION_KEY is not set to base64 of 32 bytes.");
  }
  const previous = env.TOKEN_ENCRYPTION_KEY_PREVIOUS
    ? await importVaultKey(env.TOKEN_ENCRYPTION_KEY_PREVIOUS).catch(() => null)
    : null;
  return { current, previous: previous && previous.kid !== current.kid ? previous : null };
}

const context = (slug: string) => `${slug}:event_endpoint_secret`;

export async function sealSecret(env: Env, slug: string, secret: string): Promise<string> {
  return encryptField((await keyRing(env)).current, secret, context(slug));
}

/** Throws UndecryptableError when no configured key opens it. */
export async function openSecret(env: Env, slug: string, sealed: string): Promise<string> {
  return decryptField(await keyRing(env), sealed, context(slug));
}
