import { and, eq, gt, isNotNull } from "drizzle-orm";
import type { Db } from "./client";
import { conferences } from "./schema";

export type ConferenceRow = typeof conferences.$inferSelect;

export interface ConferenceInput {
  name: string;
  currency: string;
  qbo?: { realmId: string; environment: "sandbox" | "production"; itemId?: string | undefined } | undefined;
}

export async function findConference(db: Db, slug: string): Promise<ConferenceRow | undefined> {
  return db.select().from(conferences).where(eq(conferences.slug, slug)).get();
}

/** Creates or updates a conference; `created` tells which happened (201 vs 200). */
export async function upsertConference(
  db: Db,
  slug: string,
  input: ConferenceInput,
  now: string,
): Promise<{ row: ConferenceRow; created: boolean }> {
  const qbo = input.qbo
    ? {
        qboRealmId: input.qbo.realmId,
        qboEnvironment: input.qbo.environment,
        qboItemId: input.qbo.itemId ?? null,
      }
    : {};
  const [row] = await db
    .insert(conferences)
    .values({ slug, name: input.name, currency: input.currency, ...qbo, createdAt: now, updatedAt: now })
    .onConflictDoUpdate({
      target: conferences.slug,
      set: { name: input.name, currency: input.currency, ...qbo, updatedAt: now },
    })
    .returning();
  if (!row) throw new Error("upsert returned no row");
  return { row, created: row.createdAt === now && row.updatedAt === now };
}

/** Records the realm a conference is connected to (tokens stored or OAuth callback). */
export async function setConferenceRealm(db: Db, slug: string, realmId: string, now: string): Promise<void> {
  await db.update(conferences).set({ qboRealmId: realmId, updatedAt: now }).where(eq(conferences.slug, slug));
}

export async function findConferencesByRealm(db: Db, realmId: string): Promise<ConferenceRow[]> {
  return db.select().from(conferences).where(eq(conferences.qboRealmId, realmId)).all();
}

/** Pages through conferences that name a QBO realm, in slug order. */
export async function listConnectedConferences(
  db: Db,
  afterSlug: string,
  limit: number,
): Promise<ConferenceRow[]> {
  return db
    .select()
    .from(conferences)
    .where(and(isNotNull(conferences.qboRealmId), gt(conferences.slug, afterSlug)))
    .orderBy(conferences.slug)
    .limit(limit)
    .all();
}
