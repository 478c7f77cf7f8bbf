/**
 * Standard Webhooks signing (https://www.standardwebhooks.com): what a receiver's existing
 * library verifies. The signed content is `"{webhook-id}.{webhook-timestamp}.{body}"`, the key
 * is the base64-decoded part of the secret after `whsec_` (not the secret's text: getting this
 * wrong still "works" against our own verifier, which is why the tests pin the reference vector),
 * the header is `v1,<base64 HMAC-SHA256>`, and several signatures are space-separated, so a
 * receiver holding either the old or the new secret accepts a delivery during a rotation.
 */
import { base64ToBytes, bytesToBase64 } from "../connections/crypto";
import { SECRET_PREFIX } from "../domain/platform-events";
import { timingSafeEqualStrings } from "../lib/secure-compare";

/** A fresh secret: `whsec_` + base64 of 32 bytes from the CSPRNG. */
export function generateSecret(): string {
  return `${SECRET_PREFIX}${bytesToBase64(crypto.getRandomValues(new Uint8Array(32)))}`;
}

async function hmacKey(secret: string, usage: "sign" | "verify"): Promise<CryptoKey> {
  const raw = base64ToBytes(secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret);
  return crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" }, false, [usage]);
}

/** `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under one secret. */
export async function signOne(secret: string, id: string, timestamp: number, body: string): Promise<string> {
  const key = await hmacKey(secret, "sign");
  const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(`${id}.${timestamp}.${body}`));
  return `v1,${bytesToBase64(new Uint8Array(mac))}`;
}

/** The `webhook-signature` header: one signature per secret, space-separated. */
export async function signatureHeader(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): Promise<string> {
  return (await Promise.all(secrets.map((s) => signOne(s, id, timestamp, body)))).join(" ");
}

/**
 * What a receiver does (used by the tests and shown in README): accept when any `v1,` signature
 * of the header matches under `secret`, compared in constant time, and the timestamp is within
 * `toleranceSeconds` of `nowSeconds` (replay window).
 */
export async function verifySignature(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): Promise<boolean> {
  const timestamp = Number(headers.timestamp);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false;
  const expected = await signOne(secret, headers.id, timestamp, body);
  const candidates = headers.signature.split(" ").filter((s) => s.startsWith("v1,"));
  const matches = await Promise.all(candidates.map((s) => timingSafeEqualStrings(s, expected)));
  return matches.includes(true);
}
