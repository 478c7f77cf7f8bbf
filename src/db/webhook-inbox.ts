/**
 * The webhook inbox (SPEC §10): verified deliveries wait here until their events are queued,
 * and the entity changes they named are remembered for the change feed's `webhooksMissed`.
 */
import { and, eq, inArray, lte, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { webhookInbox } from "./schema";

export interface InboxRow {
  id: number;
  receivedAt: string;
  events: string;
  attempts: number;
}

/**
 * One INSERT, all the webhook route writes before it answers 200: one row per part of the
 * delivery (a part stays far below D1's 2 MB row limit), their ids in order.
 */
export async function insertInboxRows(
  db: Db,
  parts: string[],
  row: { receivedAt: string; leasedUntil: string },
): Promise<number[]> {
  const ids: number[] = [];
  // 3 parameters per row: 30 rows per statement stays under D1's 100.
  for (const part of chunk(parts, 30)) {
    const inserted = await db
      .insert(webhookInbox)
      .values(part.map((events) => ({ ...row, events })))
      .returning({ id: webhookInbox.id });
    ids.push(...inserted.map((r) => r.id));
  }
  return ids;
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
 * The row's events are queued: the changes it named are remembered (30 days), and it goes.
 */
export async function completeInboxRow(
  db: Db,
  id: number,
  delivered: { realmId: string; entity: string; entityId: string; lastUpdated: number }[],
  receivedAt: string,
): Promise<void> {
  const unique = [
    ...new Map(delivered.map((d) => [`${d.realmId}|${d.entity}|${d.entityId}|${d.lastUpdated}`, d])).values(),
  ];
  const rows = JSON.stringify(
    unique.map((d) => ({ r: d.realmId, e: d.entity, i: d.entityId, t: d.lastUpdated })),
  );
  // The changes travel as one JSON parameter: two statements whatever the delivery's size.
  // Remembered first: a drain that dies in between re-drains the row, which changes nothing.
  if (unique.length > 0) {
    await db.run(sql`
      INSERT INTO webhook_deliveries (realm_id, entity, entity_id, last_updated, received_at)
      SELECT json_extract(value, '$.r'), json_extract(value, '$.e'), json_extract(value, '$.i'),
        json_extract(value, '$.t'), ${receivedAt} FROM json_each(${rows}) WHERE true
      ON CONFLICT DO NOTHING`);
  }
  await db.delete(webhookInbox).where(eq(webhookInbox.id, id));
}

/** Rows still waiting (for logs and tests). */
export async function countInboxRows(db: Db): Promise<number> {
  const row = await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM webhook_inbox`);
  return row?.n ?? 0;
}
