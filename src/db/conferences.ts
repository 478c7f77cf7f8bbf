import { and, eq, gt, isNotNull } from "drizzle-orm";
import type { QboEnvironment } from "../domain/payments";
import type { Db } from "./client";
import { conferences } from "./schema";

export type ConferenceRow = typeof conferences.$inferSelect;

export interface ConferenceInput {
  name: string;
  currency: string;
  qbo?:
    | {
        realmId: string;
        environment: QboEnvironment;
        itemId?: string | undefined;
        taxCodeId?: string | undefined;
        allowOnlinePayment?: { card: boolean; ach: boolean } | undefined;
        depositAccountId?: string | undefined;
      }
    | undefined;
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
        qboTaxCodeId: input.qbo.taxCodeId ?? null,
        qboAllowCard: input.qbo.allowOnlinePayment?.card ?? false,
        qboAllowAch: input.qbo.allowOnlinePayment?.ach ?? false,
        qboDepositAccountId: input.qbo.depositAccountId ?? null,
      }
    : {};
  // Insert-or-nothing first: of concurrent creators exactly one gets the row back (201).
  const [inserted] = await db
    .insert(conferences)
    .values({ slug, name: input.name, currency: input.currency, ...qbo, createdAt: now, updatedAt: now })
    .onConflictDoNothing()
    .returning();
  if (inserted) return { row: inserted, created: true };
  const [row] = await db
    .update(conferences)
    .set({ name: input.name, currency: input.currency, ...qbo, updatedAt: now })
    .where(eq(conferences.slug, slug))
    .returning();
  if (!row) throw new Error("conference vanished during update");
  return { row, created: false };
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
