/**
 * The statements of the daily pruning (src/sync/pruning.ts decides when and how often).
 * Each one touches at most `limit` rows and binds a few parameters, so any single statement is
 * cheap however large the table has grown. D1's SQLite has no `DELETE … LIMIT`; the bounded
 * deletes select their victims with `rowid IN (SELECT … LIMIT n)` instead.
 */
import { sql } from "drizzle-orm";
import type { Db } from "./client";

const changes = (result: D1Result): number => result.meta.changes ?? 0;

/** Up to `limit` rows of `table` whose `column` (an ISO instant) is before `before`, oldest first. */
async function deleteOlderThan(
  db: Db,
  table: string,
  column: string,
  before: string,
  limit: number,
): Promise<number> {
  const t = sql.identifier(table);
  const c = sql.identifier(column);
  return changes(
    await db.run(sql`DELETE FROM ${t} WHERE rowid IN (
      SELECT rowid FROM ${t} WHERE ${c} < ${before} ORDER BY ${c} LIMIT ${limit})`),
  );
}

/** Replay keys received before `before` (uses webhook_events_received_idx). */
export function deleteWebhookEventsBefore(db: Db, before: string, limit: number): Promise<number> {
  return deleteOlderThan(db, "webhook_events", "received_at", before, limit);
}

/** Webhook deliveries remembered for `webhooksMissed`, received before `before`. */
export function deleteWebhookDeliveriesBefore(db: Db, before: string, limit: number): Promise<number> {
  return deleteOlderThan(db, "webhook_deliveries", "received_at", before, limit);
}

/** Changes the change feed found before `before`. */
export function deleteFoundChangesBefore(db: Db, before: string, limit: number): Promise<number> {
  return deleteOlderThan(db, "cdc_changes", "found_at", before, limit);
}

/** OAuth states that were used, or that expired before `now`: neither can ever be accepted again. */
export async function deleteSpentOauthStates(db: Db, now: string, limit: number): Promise<number> {
  return changes(
    await db.run(sql`DELETE FROM oauth_states WHERE rowid IN (
      SELECT rowid FROM oauth_states WHERE used_at IS NOT NULL OR expires_at < ${now} LIMIT ${limit})`),
  );
}

/** Idempotency-Key rows created before `before` (uses idempotency_keys_created_idx). */
export function deleteIdempotencyKeysBefore(db: Db, before: string, limit: number): Promise<number> {
  return deleteOlderThan(db, "idempotency_keys", "created_at", before, limit);
}

/** Retry bookkeeping of messages not touched since `before` (their message is long gone). */
export function deleteStaleMessageErrors(db: Db, before: string, limit: number): Promise<number> {
  return deleteOlderThan(db, "sync_message_errors", "updated_at", before, limit);
}

/**
 * Up to `pageSize` conferences with sync runs, in slug order after `afterSlug`, each with the id
 * of its newest run beyond the `keep` newest (null when it has no more than `keep`). The
 * recursive CTE walks the distinct slugs with one index seek each (a loose index scan over
 * sync_runs_conference_idx) instead of reading every run.
 */
export async function syncRunCutoffs(
  db: Db,
  afterSlug: string,
  keep: number,
  pageSize: number,
): Promise<{ slug: string; cutoffId: number | null }[]> {
  return db.all<{ slug: string; cutoffId: number | null }>(sql`
    WITH RECURSIVE slugs(slug, n) AS (
      SELECT (SELECT MIN(conference_slug) FROM sync_runs WHERE conference_slug > ${afterSlug}), 1
      UNION ALL
      SELECT (SELECT MIN(conference_slug) FROM sync_runs WHERE conference_slug > slugs.slug), slugs.n + 1
        FROM slugs WHERE slugs.slug IS NOT NULL AND slugs.n < ${pageSize}
    )
    SELECT slug,
      (SELECT id FROM sync_runs WHERE conference_slug = slugs.slug ORDER BY id DESC LIMIT 1 OFFSET ${keep})
        AS cutoffId
    FROM slugs WHERE slug IS NOT NULL ORDER BY slug`);
}

/** A conference's runs with id ≤ `upToId`, oldest first. */
export async function deleteSyncRunsUpTo(
  db: Db,
  slug: string,
  upToId: number,
  limit: number,
): Promise<number> {
  return changes(
    await db.run(sql`DELETE FROM sync_runs WHERE id IN (
      SELECT id FROM sync_runs WHERE conference_slug = ${slug} AND id <= ${upToId} ORDER BY id LIMIT ${limit})`),
  );
}

/**
 * The next page of failures older than `failedBefore` after id `afterId`: its last id and its
 * size (0 when there is none left). Pages bound the work of `deleteResolvedFailures`.
 */
export async function oldFailuresPage(
  db: Db,
  afterId: number,
  failedBefore: string,
  pageSize: number,
): Promise<{ lastId: number; size: number }> {
  const row = await db.get<{ lastId: number | null; size: number }>(sql`
    SELECT MAX(id) AS lastId, COUNT(*) AS size FROM (
      SELECT id FROM sync_failures WHERE id > ${afterId} AND failed_at < ${failedBefore} ORDER BY id LIMIT ${pageSize})`);
  return { lastId: row?.lastId ?? afterId, size: row?.size ?? 0 };
}

/**
 * A PO that still needs the failed work: it holds one of the failure's invoice ids and has not
 * been synced since the failure. A failure none of whose invoices has such a PO is resolved.
 * CROSS JOIN keeps json_each as the outer loop, so every id is one lookup in the
 * (qbo_realm_id, qbo_invoice_id) unique index; for a conference's failure its realms come from
 * its POs (normally one), since no index leads with (conference_slug, qbo_invoice_id).
 * Malformed JSON counts as no ids rather than failing the whole statement.
 */
const unsyncedPoOfFailure = sql`
  EXISTS (
    SELECT 1 FROM json_each(CASE WHEN json_valid(f.invoice_ids) THEN f.invoice_ids ELSE '[]' END) AS j
    CROSS JOIN purchase_orders AS p ON p.qbo_realm_id = f.realm_id AND p.qbo_invoice_id = j.value
    WHERE p.qbo_last_synced_at IS NULL OR p.qbo_last_synced_at <= f.failed_at
  ) OR EXISTS (
    SELECT 1 FROM (
      SELECT DISTINCT qbo_realm_id AS realm_id FROM purchase_orders
      WHERE conference_slug = f.conference_slug AND qbo_realm_id IS NOT NULL
    ) AS r
    CROSS JOIN json_each(CASE WHEN json_valid(f.invoice_ids) THEN f.invoice_ids ELSE '[]' END) AS j
    CROSS JOIN purchase_orders AS p ON p.qbo_realm_id = r.realm_id AND p.qbo_invoice_id = j.value
    WHERE p.conference_slug = f.conference_slug
      AND (p.qbo_last_synced_at IS NULL OR p.qbo_last_synced_at <= f.failed_at)
  )`;

/** Deletes the resolved failures older than `failedBefore` with afterId < id ≤ upToId. */
export async function deleteResolvedFailures(
  db: Db,
  afterId: number,
  upToId: number,
  failedBefore: string,
): Promise<number> {
  return changes(
    await db.run(sql`DELETE FROM sync_failures WHERE id IN (
      SELECT f.id FROM sync_failures AS f
      WHERE f.id > ${afterId} AND f.id <= ${upToId} AND f.failed_at < ${failedBefore}
        AND NOT (${unsyncedPoOfFailure}))`),
  );
}
