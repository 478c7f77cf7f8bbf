/**
 * The status rule of django-program's `update_po_status` (SPEC §3), as a pure function.
 * The same rule is written once more as SQL in db/purchase-orders.ts so that a payment
 * and the status change land in one atomic D1 batch; tests hold the two to each other.
 */

export const PO_STATUSES = ["draft", "sent", "partially_paid", "paid", "overpaid", "cancelled"] as const;
export type PoStatus = (typeof PO_STATUSES)[number];

export interface PoAmounts {
  status: PoStatus;
  totalCents: number;
  paidCents: number;
  creditedCents: number;
}

export function nextStatus({ status, totalCents, paidCents, creditedCents }: PoAmounts): PoStatus {
  if (status === "cancelled") return "cancelled";
  const balanceDue = totalCents - paidCents - creditedCents;
  if (balanceDue === 0 && (paidCents > 0 || creditedCents > 0)) return "paid";
  if (balanceDue < 0) return "overpaid";
  if (paidCents > 0) return "partially_paid";
  if (status === "draft") return "draft";
  return "sent";
}
