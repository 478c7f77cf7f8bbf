import { and, desc, eq, isNull, lt, or } from "drizzle-orm";
import type { ApiKeyRole } from "../auth/roles";
import type { Db } from "./client";
import { apiKeys } from "./schema";

export type ApiKeyRow = typeof apiKeys.$inferSelect;

export interface NewApiKey {
  id: string;
  conferenceSlug: string;
  name: string;
  role: ApiKeyRole;
  keyHash: string;
  prefix: string;
}

export async function insertApiKey(db: Db, key: NewApiKey, now: string): Promise<ApiKeyRow> {
  const [row] = await db
    .insert(apiKeys)
    .values({ ...key, createdAt: now })
    .returning();
  if (!row) throw new Error("api key insert returned no row");
  return row;
}

/** The key with this hash, revoked or not (the caller decides); one indexed read per request. */
export async function findApiKeyByHash(db: Db, keyHash: string): Promise<ApiKeyRow | undefined> {
  return db.select().from(apiKeys).where(eq(apiKeys.keyHash, keyHash)).get();
}

/** A conference's keys, newest first, revoked ones included. */
export async function listApiKeys(db: Db, conferenceSlug: string): Promise<ApiKeyRow[]> {
  return db
    .select()
    .from(apiKeys)
    .where(eq(apiKeys.conferenceSlug, conferenceSlug))
    .orderBy(desc(apiKeys.createdAt), desc(apiKeys.id))
    .all();
}

export async function findApiKey(db: Db, conferenceSlug: string, id: string): Promise<ApiKeyRow | undefined> {
  return db
    .select()
    .from(apiKeys)
    .where(and(eq(apiKeys.conferenceSlug, conferenceSlug), eq(apiKeys.id, id)))
    .get();
}

/** Sets `revoked_at` once; a key already revoked keeps its first revocation time. */
export async function revokeApiKey(db: Db, conferenceSlug: string, id: string, now: string): Promise<void> {
  await db
    .update(apiKeys)
    .set({ revokedAt: now })
    .where(and(eq(apiKeys.conferenceSlug, conferenceSlug), eq(apiKeys.id, id), isNull(apiKeys.revokedAt)))
    .run();
}

/**
 * Records a use, unless one was recorded after `staleBefore`: the condition makes concurrent
 * requests write once, and the caller only calls this when its read row is already stale.
 */
export async function touchApiKey(db: Db, id: string, now: string, staleBefore: string): Promise<void> {
  await db
    .update(apiKeys)
    .set({ lastUsedAt: now })
    .where(and(eq(apiKeys.id, id), or(isNull(apiKeys.lastUsedAt), lt(apiKeys.lastUsedAt, staleBefore))))
    .run();
}
