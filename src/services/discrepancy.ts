/**
 * Acknowledging a PO's QuickBooks discrepancy (SPEC §13): a person has looked at it and says why
 * it is fine. The discrepancy is cleared and the timeline keeps what it was and the note
 * (`qbo.discrepancy_acknowledged`). A later sync that finds the same problem raises it again.
 */
import type { Db } from "../db/client";
import { acknowledgeDiscrepancyRow } from "../db/discrepancy";
import type { PoAggregate } from "../db/purchase-orders";
import type { EventContext } from "../domain/events";
import { ApiError } from "../lib/errors";
import { requirePo } from "./conferences";
import { getPurchaseOrder } from "./purchase-orders";

export async function acknowledgeDiscrepancy(
  db: Db,
  slug: string,
  reference: string,
  note: string,
  ctx: EventContext,
): Promise<PoAggregate> {
  const po = await requirePo(db, slug, reference);
  if (po.qboDiscrepancyKind === null || po.qboDiscrepancyAt === null) {
    throw new ApiError("invalid_state", `Purchase order ${reference} has no discrepancy to acknowledge.`);
  }
  const seen = { kind: po.qboDiscrepancyKind, detectedAt: po.qboDiscrepancyAt };
  if (!(await acknowledgeDiscrepancyRow(db, po.id, seen, note, new Date().toISOString(), ctx))) {
    throw new ApiError(
      "invalid_state",
      `The discrepancy of ${reference} changed or was acknowledged meanwhile; look at it again.`,
    );
  }
  return getPurchaseOrder(db, slug, reference);
}
