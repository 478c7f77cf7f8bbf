/**
 * SQL of acknowledging a PO's QuickBooks discrepancy (SPEC §13): a person has looked at it. The
 * event and the clearing are one D1 batch, both guarded by the discrepancy still being the one
 * the person saw (same kind and detection time), so two people acknowledging at once write one
 * event, and a discrepancy raised again meanwhile is not cleared unseen.
 */
import { and, eq } from "drizzle-orm";
import type { EventContext } from "../domain/events";
import type { DiscrepancyKind } from "../domain/reconcile";
import type { Db } from "./client";
import { poEventInsert } from "./po-events";
import { purchaseOrders } from "./schema";

export async function acknowledgeDiscrepancyRow(
  db: Db,
  poId: number,
  seen: { kind: DiscrepancyKind; detectedAt: string },
  note: string,
  now: string,
  ctx: EventContext,
): Promise<boolean> {
  const guard = and(
    eq(purchaseOrders.id, poId),
    eq(purchaseOrders.qboDiscrepancyKind, seen.kind),
    eq(purchaseOrders.qboDiscrepancyAt, seen.detectedAt),
  );
  const [, update] = await db.batch([
    poEventInsert(
      db,
      {
        type: "qbo.discrepancy_acknowledged",
        ctx,
        at: now,
        data: {
          kind: purchaseOrders.qboDiscrepancyKind,
          message: purchaseOrders.qboDiscrepancyMessage,
          detectedAt: purchaseOrders.qboDiscrepancyAt,
          note,
        },
      },
      guard,
    ),
    db
      .update(purchaseOrders)
      .set({ qboDiscrepancyKind: null, qboDiscrepancyMessage: null, qboDiscrepancyAt: null, updatedAt: now })
      .where(guard),
  ]);
  return update.meta.changes > 0;
}
