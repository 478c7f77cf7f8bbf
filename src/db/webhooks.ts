import { and, eq, inArray, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { conferences, purchaseOrders, qboCustomers, webhookEvents } from "./schema";

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
 * that `inboxId` itself claimed earlier count as fresh again: a drain that died after claiming
 * and before queuing must not have its own re-drive mistaken for a replay.
 */
export async function claimEventKeys(
  db: Db,
  events: { key: string; realmId: string }[],
  now: string,
  inboxId: number | null = null,
): Promise<Set<string>> {
  const fresh = new Set<string>();
  // 4 parameters per row: 20 rows per statement stays under D1's 100.
  for (const part of chunk(events, 20)) {
    const insert = db
      .insert(webhookEvents)
      .values(part.map((e) => ({ eventKey: e.key, realmId: e.realmId, receivedAt: now, inboxId })));
    const rows = await (inboxId === null
      ? insert.onConflictDoNothing()
      : insert.onConflictDoUpdate({
          target: webhookEvents.eventKey,
          set: { inboxId: sql`excluded.inbox_id` },
          setWhere: sql`${webhookEvents.inboxId} = excluded.inbox_id`,
        })
    ).returning({ key: webhookEvents.eventKey });
    for (const r of rows) fresh.add(r.key);
  }
  return fresh;
}
