/**
 * The webhook inbox (SPEC §10): verified deliveries wait here until their events are queued,
 * and the entity changes they named are remembered for the change feed's `webhooksMissed`.
 */
import { and, eq, inArray, lte, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { webhookDeliveries, webhookInbox } from "./schema";

export interface InboxRow {
  id: number;
  receivedAt: string;
  events: string;
  attempts: number;
}

/** One INSERT: all the webhook route writes before it answers 200. */
export async function insertInboxRow(
  db: Db,
  row: { receivedAt: string; events: string; leasedUntil: string },
): Promise<number> {
  const [inserted] = await db.insert(webhookInbox).values(row).returning({ id: webhookInbox.id });
  if (!inserted) throw new Error("the inbox insert returned no row");
  return inserted.id;
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
 * The row's events are queued: it goes, and the changes it named are remembered (30 days) in
 * the same batch, so a change is never both forgotten and still in the inbox.
 */
export async function completeInboxRow(
  db: Db,
  id: number,
  delivered: { realmId: string; entity: string; entityId: string; lastUpdated: number }[],
  receivedAt: string,
): Promise<void> {
  const unique = new Map(
    delivered.map((d) => [`${d.realmId}|${d.entity}|${d.entityId}|${d.lastUpdated}`, d]),
  );
  // 5 parameters per row: 19 rows per statement stays under D1's 100.
  const inserts = chunk([...unique.values()], 19).map((part) =>
    db
      .insert(webhookDeliveries)
      .values(part.map((d) => ({ ...d, receivedAt })))
      .onConflictDoNothing(),
  );
  await db.batch([db.delete(webhookInbox).where(eq(webhookInbox.id, id)), ...inserts]);
}

/** Rows still waiting (for logs and tests). */
export async function countInboxRows(db: Db): Promise<number> {
  const row = await db.get<{ n: number }>(sql`SELECT COUNT(*) AS n FROM webhook_inbox`);
  return row?.n ?? 0;
}
