import { and, eq, inArray, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { conferences, purchaseOrders, qboCustomers } from "./schema";

/**
 * A customer merged away in QBO (`from`) now lives on as `to`: remembered customers and the
 * POs' customer ids follow, in one batch, so the next invoice goes to the surviving customer.
 */
export async function moveMergedCustomers(
  db: Db,
  merges: { realmId: string; from: string; to: string }[],
): Promise<void> {
  const statements = merges.flatMap((m) => [
    db
      .update(qboCustomers)
      .set({ customerId: m.to })
      .where(and(eq(qboCustomers.realmId, m.realmId), eq(qboCustomers.customerId, m.from))),
    db
      .update(purchaseOrders)
      .set({ qboCustomerId: m.to })
      .where(and(eq(purchaseOrders.qboRealmId, m.realmId), eq(purchaseOrders.qboCustomerId, m.from))),
  ]);
  for (const part of chunk(statements, 50)) {
    const [first, ...rest] = part;
    if (first) await db.batch([first, ...rest]);
  }
}

/** Which of these realms belong to a conference here. */
export async function knownRealms(db: Db, realmIds: string[]): Promise<Set<string>> {
  const out = new Set<string>();
  for (const part of chunk([...new Set(realmIds)], 90)) {
    const rows = await db
      .selectDistinct({ realmId: conferences.qboRealmId })
      .from(conferences)
      .where(inArray(conferences.qboRealmId, part))
      .all();
    for (const r of rows) if (r.realmId) out.add(r.realmId);
  }
  return out;
}

/**
 * Records event keys; returns those not seen before (a replayed delivery returns none). Keys
 * that an event's own inbox row (`inboxId`) claimed earlier count as fresh again: a drain that
 * died after claiming and before queuing must not have its own re-drive mistaken for a replay.
 * One statement however many keys and rows (they travel as one JSON parameter), so draining
 * several deliveries together costs one round trip.
 */
export async function claimEventKeys(
  db: Db,
  events: { key: string; realmId: string; inboxId: number | null }[],
  now: string,
): Promise<Set<string>> {
  if (events.length === 0) return new Set();
  const rows = JSON.stringify(events.map((e) => ({ k: e.key, r: e.realmId, i: e.inboxId })));
  // `WHERE true`: SQLite needs it to tell the SELECT's end from the upsert clause. A key without
  // an inbox row compares NULL = NULL, which is not true: a conflict then claims nothing.
  const claimed = await db.all<{ key: string }>(sql`
    INSERT INTO webhook_events (event_key, realm_id, received_at, inbox_id)
    SELECT json_extract(value, '$.k'), json_extract(value, '$.r'), ${now}, json_extract(value, '$.i')
    FROM json_each(${rows}) WHERE true
    ON CONFLICT (event_key) DO UPDATE SET inbox_id = excluded.inbox_id
      WHERE webhook_events.inbox_id = excluded.inbox_id
    RETURNING event_key AS key`);
  return new Set(claimed.map((r) => r.key));
}
