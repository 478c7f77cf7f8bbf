/**
 * Idempotency-Key storage (SPEC §11; src/http/idempotency.ts is the middleware). One row per
 * (caller, key): claimed by the first request, completed with its answer, or released when the
 * answer is not to be kept (5xx).
 *
 * The claim is one conditional INSERT (`ON CONFLICT DO NOTHING … RETURNING`): of two requests
 * racing with one key exactly one inserts; the other reads the row and learns it is in use.
 * A takeover (a dead claim, or an answer older than the retention that the cron has not pruned
 * yet) is one conditional UPDATE naming the claim it replaces, so it too has a single winner.
 */
import { and, eq } from "drizzle-orm";
import type { Db } from "./client";
import { idempotencyKeys } from "./schema";

/** Answers are kept this long (SPEC §11); the middleware ignores older ones and the daily cron prunes them. */
export const IDEMPOTENCY_RETENTION_MS = 24 * 60 * 60 * 1000;

/** What a request with an Idempotency-Key is to do. */
export type IdempotencyClaim =
  /** Run: the key is ours under `claimId` until completed or released. */
  | { kind: "claimed"; claimId: string }
  /** Answer again what the first request answered. */
  | { kind: "replay"; status: number; contentType: string | null; body: string }
  /** The key was used for another method, path or body. */
  | { kind: "reused" }
  /** The first request with this key is still running. */
  | { kind: "in_use" };

export interface ClaimRequest {
  /** `"deployment"` or `"key:<id>"`: keys of different callers never meet. */
  caller: string;
  key: string;
  /** SHA-256 (hex) of method, path and raw body. */
  fingerprint: string;
  now: Date;
  /** A claim without an answer older than this is a dead request's, and may be taken over. */
  staleClaimMs: number;
  /** An answer older than this is forgotten (the cron prunes it; until then it is ignored). */
  retentionMs: number;
}

/** Claims the key, or says why this request must not run. */
export async function claimIdempotencyKey(db: Db, req: ClaimRequest): Promise<IdempotencyClaim> {
  const claimId = crypto.randomUUID();
  const now = req.now.toISOString();
  const inserted = await db
    .insert(idempotencyKeys)
    .values({
      caller: req.caller,
      key: req.key,
      fingerprint: req.fingerprint,
      claimId,
      createdAt: now,
      claimedAt: now,
    })
    .onConflictDoNothing()
    .returning({ claimId: idempotencyKeys.claimId });
  if (inserted.length === 1) return { kind: "claimed", claimId };

  const row = await db.query.idempotencyKeys.findFirst({
    where: and(eq(idempotencyKeys.caller, req.caller), eq(idempotencyKeys.key, req.key)),
  });
  // Released (or pruned) between our INSERT and this read: the caller may simply retry.
  if (!row) return { kind: "in_use" };

  const age = (iso: string) => req.now.getTime() - Date.parse(iso);
  const expired = age(row.createdAt) >= req.retentionMs;
  if (!expired) {
    if (row.fingerprint !== req.fingerprint) return { kind: "reused" };
    if (row.completedAt !== null && row.responseStatus !== null) {
      return {
        kind: "replay",
        status: row.responseStatus,
        contentType: row.responseContentType,
        body: row.responseBody ?? "",
      };
    }
    if (age(row.claimedAt) < req.staleClaimMs) return { kind: "in_use" };
  }
  // Expired, or a dead claim of the same request: start afresh, if no one else did first.
  const taken = await db
    .update(idempotencyKeys)
    .set({
      fingerprint: req.fingerprint,
      claimId,
      createdAt: now,
      claimedAt: now,
      completedAt: null,
      responseStatus: null,
      responseContentType: null,
      responseBody: null,
    })
    .where(
      and(
        eq(idempotencyKeys.caller, req.caller),
        eq(idempotencyKeys.key, req.key),
        eq(idempotencyKeys.claimId, row.claimId),
      ),
    )
    .returning({ claimId: idempotencyKeys.claimId });
  return taken.length === 1 ? { kind: "claimed", claimId } : { kind: "in_use" };
}

/** Keeps the answer of the request holding `claimId`; false when its claim was taken over. */
export async function completeIdempotencyKey(
  db: Db,
  caller: string,
  key: string,
  claimId: string,
  answer: { status: number; contentType: string | null; body: string; now: Date },
): Promise<boolean> {
  const done = await db
    .update(idempotencyKeys)
    .set({
      completedAt: answer.now.toISOString(),
      responseStatus: answer.status,
      responseContentType: answer.contentType,
      responseBody: answer.body,
    })
    .where(
      and(
        eq(idempotencyKeys.caller, caller),
        eq(idempotencyKeys.key, key),
        eq(idempotencyKeys.claimId, claimId),
      ),
    )
    .returning({ claimId: idempotencyKeys.claimId });
  return done.length === 1;
}

/** Gives the key back (the answer is not kept), so a retry with it runs again. */
export async function releaseIdempotencyKey(
  db: Db,
  caller: string,
  key: string,
  claimId: string,
): Promise<void> {
  await db
    .delete(idempotencyKeys)
    .where(
      and(
        eq(idempotencyKeys.caller, caller),
        eq(idempotencyKeys.key, key),
        eq(idempotencyKeys.claimId, claimId),
      ),
    );
}
