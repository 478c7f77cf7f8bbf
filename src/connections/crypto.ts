/**
 * AES-256-GCM for the token vault's fields at rest (OAuth tokens, per-conference client
 * credentials). Three hazards shape this file:
 *
 * - **AAD binding.** The additional data is `"<slug>:<column>"`, so a ciphertext copied into
 *   another conference's row, or from `client_secret` into `access_token`, fails to decrypt
 *   instead of yielding someone else's secret. Callers must pass the same context on both sides.
 * - **Key id.** Every value names the key that sealed it (`kid`, a short fingerprint: see
 *   `keyId`), so a decryption failure says "sealed under a key we do not have" rather than
 *   "corrupted", and a rotation knows which values still need re-sealing without trying keys.
 * - **Rotation.** A `KeyRing` holds the current key (seals everything new) and at most one
 *   previous key (opens old values only). Values sealed under the previous key are re-sealed
 *   under the current one by the Durable Object the next time it touches the row.
 *
 * Stored forms (base64 is standard, so "." never occurs inside a part):
 * - `v2.<kid>.<iv>.<ciphertext+tag>`, written by this version;
 * - `v1.<iv>.<ciphertext+tag>`, written before key ids existed; it names no key, so opening it
 *   tries the current key, then the previous one. Never written any more.
 *
 * Each value gets a fresh random 96-bit IV; a (key, IV) pair must never repeat under GCM, and
 * the vault writes a few values per hour per conference, far below the random-IV bound.
 */

/** A key able to seal and open values, with its public fingerprint. */
export interface VaultKey {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** The keys the vault may use: `current` seals and opens; `previous` only opens. */
export interface KeyRing {
  readonly current: VaultKey;
  readonly previous: VaultKey | null;
}

/**
 * No configured key opens the value: it was sealed under a key the ring lacks, it was altered,
 * or it was moved to another row or column (AAD mismatch). Carries nothing secret:
 * `storedKid` is the fingerprint named by the value (`null` for `v1`, which names none).
 */
export class UndecryptableError extends Error {
  override readonly name = "UndecryptableError";
  readonly storedKid: string | null;

  constructor(message: string, storedKid: string | null) {
    super(message);
    this.storedKid = storedKid;
  }
}

const KID_LABEL = new TextEncoder().encode("qbo-token-vault/key-id/v1\0");

/**
 * Imports `TOKEN_ENCRYPTION_KEY` (or `_PREVIOUS`): base64 of exactly 32 bytes. The CryptoKey is
 * not extractable, so a bug elsewhere cannot serialise it.
 */
export async function importVaultKey(base64Key: string): Promise<VaultKey> {
  let raw: Uint8Array<ArrayBuffer>;
  try {
    raw = base64ToBytes(base64Key);
  } catch {
    throw new Error("the token encryption key must be base64 of 32 bytes");
  }
  if (raw.byteLength !== 32) throw new Error("the token encryption key must be base64 of 32 bytes");
  const [kid, key] = await Promise.all([
    keyId(raw),
    crypto.subtle.importKey("raw", raw, { name: "AES-GCM" }, false, ["encrypt", "decrypt"]),
  ]);
  return { kid, key };
}

/**
 * The key's fingerprint: base64url of the first 8 bytes of SHA-256(label ‖ key). Safe to store
 * and log: recovering a 256-bit random key from a hash of it is preimage search. The fixed label
 * keeps this hash apart from any other use of the same key bytes (the OAuth state key is an
 * HKDF derivation of them). 64 bits make two keys of one deployment colliding implausible, and a
 * collision would only cost a failed decryption, never a wrong plaintext (GCM authenticates).
 */
export async function keyId(raw: Uint8Array<ArrayBuffer>): Promise<string> {
  const input = new Uint8Array(KID_LABEL.byteLength + raw.byteLength);
  input.set(KID_LABEL, 0);
  input.set(raw, KID_LABEL.byteLength);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", input));
  return bytesToBase64(digest.subarray(0, 8)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/**
 * Seals `plaintext` under `key`, bound to `context` (`"<slug>:<column>"`) as AAD. Always writes
 * the current form, `v2.<kid>.<iv>.<ciphertext>`.
 */
export async function encryptField(key: VaultKey, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ciphertext = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(context) },
    key.key,
    new TextEncoder().encode(plaintext),
  );
  return `v2.${key.kid}.${bytesToBase64(iv)}.${bytesToBase64(new Uint8Array(ciphertext))}`;
}

/**
 * Opens a value sealed by `encryptField` (or by the `v1` format before it) with whichever key of
 * the ring sealed it, checking the AAD `context`. Throws `UndecryptableError` (never a
 * runtime-specific error) when no key opens it, so callers can tell "reconnect needed" from a bug.
 */
export async function decryptField(ring: KeyRing, stored: string, context: string): Promise<string> {
  const parts = stored.split(".");
  if (parts[0] === "v2" && parts.length === 4) {
    const [, kid = "", iv = "", data = ""] = parts;
    const key = [ring.current, ring.previous].find((k) => k?.kid === kid);
    if (!key) throw new UndecryptableError("sealed under a key that is not configured", kid);
    const plaintext = await open(key, iv, data, context);
    if (plaintext === null) throw new UndecryptableError("authentication failed", kid);
    return plaintext;
  }
  if (parts[0] === "v1" && parts.length === 3) {
    const [, iv = "", data = ""] = parts;
    for (const key of [ring.current, ring.previous]) {
      if (!key) continue;
      const plaintext = await open(key, iv, data, context);
      if (plaintext !== null) return plaintext;
    }
    throw new UndecryptableError("no configured key opens this v1 value", null);
  }
  throw new UndecryptableError("unrecognised ciphertext format", null);
}

/**
 * Whether `stored` is already in the current form under `key`; anything else (a `v1` value, or
 * one sealed under the previous key) should be re-sealed. A string check: no decryption.
 */
export function isSealedWith(key: VaultKey, stored: string): boolean {
  return stored.startsWith(`v2.${key.kid}.`);
}

/** GCM open; `null` when the tag does not verify (wrong key, altered bytes, other AAD). */
async function open(key: VaultKey, iv: string, data: string, context: string): Promise<string | null> {
  try {
    const plaintext = await crypto.subtle.decrypt(
      { name: "AES-GCM", iv: base64ToBytes(iv), additionalData: new TextEncoder().encode(context) },
      key.key,
      base64ToBytes(data),
    );
    return new TextDecoder().decode(plaintext);
  } catch {
    return null;
  }
}

export function base64ToBytes(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
