/**
 * Conference API keys (SPEC §11): minted from the CSPRNG, shown once, stored only as a SHA-256
 * hash; looked up by that hash on every request, with no cache, so a revocation holds from the
 * next request on.
 */
import {
  type ApiKeyRow,
  findApiKey,
  findApiKeyByHash,
  insertApiKey,
  listApiKeys,
  revokeApiKey,
  touchApiKey,
} from "../db/api-keys";
import type { Db } from "../db/client";
import { notFound } from "../lib/errors";
import { requireConference } from "../services/conferences";
import type { ApiKeyRole } from "./roles";

/** Every key starts with this, so a leaked one is recognisable (secret scanners) and routed to the key lookup. */
export const KEY_PREFIX = "qpo_";
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/** 43 base62 characters ≈ 256 bits. */
const KEY_LENGTH = 43;
/** Characters after `qpo_` kept for display (`prefix`): enough to tell keys apart, useless to guess one. */
const DISPLAY_CHARS = 8;
/** `last_used_at` is written at most this often per key, not on every request. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/**
 * `qpo_` + 43 base62 characters. Bytes ≥ 248 (= 4 × 62) are rejected rather than reduced modulo 62,
 * which would make the first 8 characters likelier than the rest (modulo bias).
 */
export function generateApiKey(): string {
  let out = "";
  while (out.length < KEY_LENGTH) {
    for (const byte of crypto.getRandomValues(new Uint8Array(64))) {
      if (byte < 248 && out.length < KEY_LENGTH) out += BASE62[byte % 62];
    }
  }
  return `${KEY_PREFIX}${out}`;
}

/**
 * SHA-256 hex of the whole key. A fast hash is enough (no salt, no KDF): the key is 256 random
 * bits, not a password, so there is nothing to brute-force from a leaked hash.
 */
export async function hashApiKey(key: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(key));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

export const displayPrefix = (key: string) => key.slice(0, KEY_PREFIX.length + DISPLAY_CHARS);

export interface ApiKeyView {
  id: string;
  name: string;
  role: ApiKeyRole;
  prefix: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
}

/** A key as listed: never the key, never its hash. */
export function apiKeyView(row: ApiKeyRow): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    role: row.role,
    prefix: row.prefix,
    createdAt: row.createdAt,
    lastUsedAt: row.lastUsedAt,
    revokedAt: row.revokedAt,
  };
}

/** Mints a key for the conference; the returned `key` exists nowhere else afterwards. */
export async function createApiKey(
  db: Db,
  slug: string,
  input: { name: string; role: ApiKeyRole },
): Promise<{ row: ApiKeyRow; key: string }> {
  await requireConference(db, slug);
  const key = generateApiKey();
  const row = await insertApiKey(
    db,
    {
      id: crypto.randomUUID(),
      conferenceSlug: slug,
      name: input.name,
      role: input.role,
      keyHash: await hashApiKey(key),
      prefix: displayPrefix(key),
    },
    new Date().toISOString(),
  );
  return { row, key };
}

export async function listConferenceApiKeys(db: Db, slug: string): Promise<ApiKeyRow[]> {
  await requireConference(db, slug);
  return listApiKeys(db, slug);
}

/** Revokes the key; revoking a revoked key is a no-op (204 again), a key of another conference is 404. */
export async function revokeConferenceApiKey(db: Db, slug: string, id: string): Promise<void> {
  if (!(await findApiKey(db, slug, id))) throw notFound("API key");
  await revokeApiKey(db, slug, id, new Date().toISOString());
}

/**
 * The live key behind a presented `qpo_` token, or undefined (unknown or revoked). The lookup is
 * by hash, so timing reveals nothing about stored keys. Records the use when the stored
 * `lastUsedAt` is more than a minute old.
 */
export async function authenticateApiKey(
  db: Db,
  token: string,
  now = new Date(),
): Promise<ApiKeyRow | undefined> {
  const row = await findApiKeyByHash(db, await hashApiKey(token));
  if (!row || row.revokedAt !== null) return undefined;
  const staleBefore = new Date(now.getTime() - LAST_USED_RESOLUTION_MS).toISOString();
  if (row.lastUsedAt === null || row.lastUsedAt < staleBefore) {
    await touchApiKey(db, row.id, now.toISOString(), staleBefore);
  }
  return row;
}
