/**
 * The change feed's storage (SPEC §10): one checkpoint per realm, the local ledger rows that
 * name a QBO Payment or CreditMemo, and the changes found that concern our POs, from which
 * `webhooksMissed` is counted against the deliveries the inbox remembered.
 */
import { and, eq, inArray, isNotNull, sql } from "drizzle-orm";
import { chunk, type Db } from "./client";
import { cdcChanges, cdcCheckpoints, creditNotes, payments, purchaseOrders } from "./schema";

export async function findCheckpoint(db: Db, realmId: string): Promise<string | null> {
  const [row] = await db
    .select({ checkpoint: cdcCheckpoints.checkpoint })
    .from(cdcCheckpoints)
    .where(eq(cdcCheckpoints.realmId, realmId))
    .limit(1);
  return row?.checkpoint ?? null;
}

/** Called only once the changes up to `checkpoint` are queued. */
export async function saveCheckpoint(
  db: Db,
  realmId: string,
  checkpoint: string,
  now: string,
): Promise<void> {
  await db
    .insert(cdcCheckpoints)
    .values({ realmId, checkpoint, updatedAt: now })
    .onConflictDoUpdate({ target: cdcCheckpoints.realmId, set: { checkpoint, updatedAt: now } });
}

/**
 * The QBO invoices (in `realmId`) of the POs whose local payments or credit notes carry one of
 * these QBO ids: a deleted or unlinked Payment no longer names its invoice, but our row does.
 */
export async function invoicesOfLedgerRows(
  db: Db,
  realmId: string,
  ids: { payments: string[]; creditMemos: string[] },
): Promise<{ entity: "Payment" | "CreditMemo"; qboId: string; invoiceId: string }[]> {
  const out: { entity: "Payment" | "CreditMemo"; qboId: string; invoiceId: string }[] = [];
  const tables = [
    { entity: "Payment" as const, table: payments, list: ids.payments },
    { entity: "CreditMemo" as const, table: creditNotes, list: ids.creditMemos },
  ];
  for (const { entity, table, list } of tables) {
    for (const part of chunk([...new Set(list)], 90)) {
      const rows = await db
        .select({ qboId: table.qboId, invoiceId: purchaseOrders.qboInvoiceId })
        .from(table)
        .innerJoin(purchaseOrders, eq(purchaseOrders.id, table.purchaseOrderId))
        .where(
          and(
            inArray(table.qboId, part),
            eq(purchaseOrders.qboRealmId, realmId),
            isNotNull(purchaseOrders.qboInvoiceId),
          ),
        )
        .all();
      for (const r of rows)
        if (r.qboId && r.invoiceId) out.push({ entity, qboId: r.qboId, invoiceId: r.invoiceId });
    }
  }
  return out;
}

export interface FoundChange {
  conferenceSlug: string;
  realmId: string;
  entity: string;
  entityId: string;
  lastUpdated: number;
}

/** Remembers changes that concern a conference's POs (a change found twice, in the overlap, once). */
export async function recordFoundChanges(db: Db, changes: FoundChange[], foundAt: string): Promise<void> {
  // 6 parameters per row: 16 rows per statement stays under D1's 100.
  const statements = chunk(changes, 16).map((part) =>
    db
      .insert(cdcChanges)
      .values(part.map((c) => ({ ...c, foundAt })))
      .onConflictDoNothing(),
  );
  for (const group of chunk(statements, 50)) {
    const [first, ...rest] = group;
    if (first) await db.batch([first, ...rest]);
  }
}

/**
 * Changes of the conference found since `since` and older than `settledBefore` (epoch seconds:
 * a webhook may still be on its way for newer ones) that no delivered webhook named: same
 * realm, entity and id, changed at or after (a few seconds of clock rounding allowed).
 */
export async function countWebhooksMissed(
  db: Db,
  slug: string,
  since: string,
  settledBefore: number,
): Promise<number> {
  const row = await db.get<{ n: number }>(sql`
    SELECT COUNT(*) AS n FROM cdc_changes AS c
    WHERE c.conference_slug = ${slug} AND c.found_at >= ${since} AND c.last_updated < ${settledBefore}
      AND NOT EXISTS (
        SELECT 1 FROM webhook_deliveries AS d
        WHERE d.realm_id = c.realm_id AND d.entity = c.entity AND d.entity_id = c.entity_id
          AND d.last_updated >= c.last_updated - 5)`);
  return row?.n ?? 0;
}
