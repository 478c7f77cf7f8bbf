/**
 * The webhook inbox (SPEC §10): verified deliveries wait here until their events are queued,
 * and the entity changes they named are remembered for the change feed's `webhooksMissed`.
 */
import { and, inArray, lte, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { webhookDeliveries, webhookInbox } from "./schema";

export interface InboxRow {
  id: number;
  receivedAt: string;
  events: string;
  attempts: number;
}

/** One inbox row to write: a delivery's events (JSON), when it came, and its first lease. */
export interface NewInboxRow {
  events: string;
  receivedAt: string;
  leasedUntil: string;
}

/**
 * All the webhook route writes before it answers 200, for one delivery or several concurrent
 * ones together: one D1 batch (one commit), their ids in the order given.
 */
export async function insertInboxRows(db: Db, rows: NewInboxRow[]): Promise<number[]> {
  // 4 parameters per row (the default `attempts` is bound too): 20 rows stay under D1's 100.
  const [first, ...rest] = chunk(rows, 20).map((part) =>
    db.insert(webhookInbox).values(part).returning({ id: webhookInbox.id }),
  );
  if (!first) return [];
  const results = await db.batch([first, ...rest]);
  // Rowids are handed out in the order of the VALUES; RETURNING's own order is not promised.
  return results.flatMap((inserted) => inserted.map((r) => r.id).sort((x, y) => x - y));
}

/**
 * Takes rows whose lease has run out (or the given ids, if so), holding each until `leaseUntil`.
 * The conditional UPDATE … RETURNING is the claim: two drains never hold the same row at once.
 */
export async function leaseInboxRows(
  db: Db,
  opts: { ids?: number[]; now: string; leaseUntil: string; limit: number },
): Promise<InboxRow[]> {
  const due = lte(webhookInbox.leasedUntil, opts.now);
  const candidates = db
    .select({ id: webhookInbox.id })
    .from(webhookInbox)
    .where(opts.ids ? and(due, inArray(webhookInbox.id, opts.ids)) : due)
    .orderBy(webhookInbox.id)
    .limit(opts.limit);
  return db
    .update(webhookInbox)
    .set({ leasedUntil: opts.leaseUntil, attempts: sql`${webhookInbox.attempts} + 1` })
    .where(and(inArray(webhookInbox.id, candidates), due))
    .returning({
      id: webhookInbox.id,
      receivedAt: webhookInbox.receivedAt,
      events: webhookInbox.events,
      attempts: webhookInbox.attempts,
    });
}

/**
 * These rows' events are queued: the changes they named are remembered (30 days), and the rows
 * go. One batch (one D1 commit) however many rows: the changes travel as one JSON parameter.
 */
export async function completeInboxRows(
  db: Db,
  ids: number[],
  delivered: { realmId: string; entity: string; entityId: string; lastUpdated: number; receivedAt: string }[],
): Promise<void> {
  if (ids.length === 0) return;
  const unique = [
    ...new Map(delivered.map((d) => [`${d.realmId}|${d.entity}|${d.entityId}|${d.lastUpdated}`, d])).values(),
  ];
  const rows = JSON.stringify(
    unique.map((d) => ({ r: d.realmId, e: d.entity, i: d.entityId, t: d.lastUpdated, at: d.receivedAt })),
  );
  // Remembered and deleted in one transaction; a drain that dies before it re-drains the rows.
  const remember = db
    .insert(webhookDeliveries)
    .select(
      sql`SELECT json_extract(value, '$.r'), json_extract(value, '$.e'), json_extract(value, '$.i'),
        json_extract(value, '$.t'), json_extract(value, '$.at') FROM json_each(${rows}) WHERE true`,
    )
    .onConflictDoNothing();
  const statements = chunk(ids, 90).map((part) =>
    db.delete(webhookInbox).where(inArray(webhookInbox.id, part)),
  );
  await db.batch([remember, ...statements]);
}

/** Rows still waiting (for logs and tests). */
export async function countInboxRows(db: Db): Promise<number> {
  const row = await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM webhook_inbox`);
  return row?.n ?? 0;
}
