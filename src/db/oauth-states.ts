/** OAuth `state` nonces: single use, bound to a conference, short-lived (services/oauth.ts). */
import { and, eq, gt, isNull } from "drizzle-orm";
import type { Db } from "./client";
import { oauthStates } from "./schema";

export async function insertOAuthState(
  db: Db,
  nonce: string,
  slug: string,
  expiresAt: string,
): Promise<void> {
  await db.insert(oauthStates).values({ nonce, conferenceSlug: slug, expiresAt });
}

/**
 * Spends the nonce: one conditional UPDATE, so of two callbacks racing with one state exactly
 * one gets true. False when unknown, of another conference, already used or expired.
 */
export async function consumeOAuthState(db: Db, nonce: string, slug: string, now: string): Promise<boolean> {
  const used = await db
    .update(oauthStates)
    .set({ usedAt: now })
    .where(
      and(
        eq(oauthStates.nonce, nonce),
        eq(oauthStates.conferenceSlug, slug),
        isNull(oauthStates.usedAt),
        gt(oauthStates.expiresAt, now),
      ),
    )
    .returning({ slug: oauthStates.conferenceSlug });
  return used.length === 1;
}
