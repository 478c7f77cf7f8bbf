/**
 * Purchase-order use cases: each takes already-validated input, enforces the state rules of
 * SPEC §3 and returns the aggregate to render. Route handlers call exactly one of these.
 */
import type { Db } from "../db/client";
import {
  addCreditNote,
  addPayment,
  findPoById,
  insertPurchaseOrder,
  listPos,
  loadAggregate,
  loadAggregates,
  markCancelled,
  markSent,
  type NewPayment,
  type PoAggregate,
  type PoListFilter,
  type PoQboFilter,
  type PoRow,
  voidMoneyRow,
} from "../db/purchase-orders";
import { claimStaleBefore } from "../db/qbo-invoices";
import type { EventContext } from "../domain/events";
import { MAX_CENTS, multiplyCents } from "../domain/money";
import type { PoStatus } from "../domain/po-status";
import { announceIfPending } from "../ledger/outbox";
import { ApiError, notFound } from "../lib/errors";
import { requireConference, requirePo } from "./conferences";

const REFERENCE_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

/** `PO-` and six characters from a CSPRNG, without modulo bias (rejection sampling). */
function newReference(): string {
  let out = "PO-";
  while (out.length < 9) {
    const [byte] = crypto.getRandomValues(new Uint8Array(1));
    if (byte !== undefined && byte < 252) out += REFERENCE_ALPHABET[byte % 36];
  }
  return out;
}

export interface CreatePoInput {
  organizationName: string;
  contactName: string;
  contactEmail: string;
  billingAddress?: string | undefined;
  notes?: string | undefined;
  lineItems: { description: string; quantity: number; unitPrice: number }[];
}

export async function createPurchaseOrder(
  db: Db,
  slug: string,
  input: CreatePoInput,
  ctx: EventContext,
): Promise<PoAggregate> {
  await requireConference(db, slug);
  const lines = input.lineItems.map((l, i) => {
    const lineTotalCents = multiplyCents(l.quantity, l.unitPrice);
    if (lineTotalCents === null) throw tooLarge(`lineItems.${i}`);
    return { description: l.description, quantity: l.quantity, unitPriceCents: l.unitPrice, lineTotalCents };
  });
  const totalCents = lines.reduce((sum, l) => sum + l.lineTotalCents, 0);
  if (totalCents > MAX_CENTS) throw tooLarge("lineItems");
  const now = new Date().toISOString();
  for (let attempt = 0; ; attempt++) {
    const reference = newReference();
    try {
      await insertPurchaseOrder(
        db,
        {
          reference,
          conferenceSlug: slug,
          organizationName: input.organizationName,
          contactName: input.contactName,
          contactEmail: input.contactEmail,
          billingAddress: input.billingAddress ?? "",
          notes: input.notes ?? "",
          totalCents,
          lines,
        },
        now,
        ctx,
      );
      return getPurchaseOrder(db, slug, reference);
    } catch (err) {
      // 36^6 ≈ 2.2 billion references: a collision is rare, five in a row means something else.
      if (attempt < 5 && isReferenceCollision(err)) continue;
      throw err;
    }
  }
}

function isReferenceCollision(err: unknown): boolean {
  const text = `${err instanceof Error ? err.message : ""} ${err instanceof Error && err.cause instanceof Error ? err.cause.message : ""}`;
  return text.includes("UNIQUE") && text.includes("reference");
}

function tooLarge(path: string): ApiError {
  return new ApiError("validation_failed", "The amounts are too large.", [
    { path, message: "Amount exceeds the maximum of 10000000000000.00" },
  ]);
}

export async function getPurchaseOrder(db: Db, slug: string, reference: string): Promise<PoAggregate> {
  return loadAggregate(db, await requirePo(db, slug, reference));
}

export async function listPurchaseOrders(
  db: Db,
  slug: string,
  query: {
    status?: PoStatus | undefined;
    qbo?: PoQboFilter | undefined;
    limit: number;
    cursor?: string | undefined;
  },
): Promise<{ items: PoAggregate[]; nextCursor: string | null }> {
  await requireConference(db, slug);
  const filter: PoListFilter = {
    status: query.status,
    qbo: query.qbo,
    beforeId: query.cursor === undefined ? undefined : decodeCursor(query.cursor),
    limit: query.limit + 1,
  };
  const rows = await listPos(db, slug, filter);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    items: await loadAggregates(db, page),
    nextCursor: rows.length > query.limit && last ? encodeCursor(last.id) : null,
  };
}

function encodeCursor(id: number): string {
  return btoa(`po:${id}`).replace(/=+$/, "");
}

function decodeCursor(cursor: string): number {
  let text = "";
  try {
    text = atob(cursor);
  } catch {
    // fall through to the error below
  }
  const m = /^po:(\d{1,15})$/.exec(text);
  if (!m)
    throw new ApiError("validation_failed", "The cursor is not valid.", [
      { path: "cursor", message: "Invalid cursor" },
    ]);
  return Number(m[1]);
}

export async function sendPurchaseOrder(
  db: Db,
  slug: string,
  reference: string,
  ctx: EventContext,
): Promise<PoAggregate> {
  const po = await requirePo(db, slug, reference);
  if (!(await markSent(db, po.id, new Date().toISOString(), ctx))) {
    throw new ApiError(
      "invalid_state",
      `Only a draft purchase order can be sent; ${reference} is ${po.status}.`,
    );
  }
  return getPurchaseOrder(db, slug, reference);
}

/**
 * Cancels the PO; payments and credit notes are kept. Voiding in QBO is the caller's step.
 * Refused while another request is creating the QBO invoice: that invoice would otherwise
 * appear on a cancelled PO after the fact.
 */
export async function cancelPurchaseOrder(
  db: Db,
  po: PoRow,
  qboInvoice: "keep" | "void" | "credit",
  ctx: EventContext,
): Promise<void> {
  const now = new Date();
  const opts = {
    now: now.toISOString(),
    claimStaleBefore: claimStaleBefore(now),
    qboInvoice,
    creditReason: `Purchase order ${po.reference} cancelled: open balance credited`,
  };
  if (await markCancelled(db, po.id, opts, ctx)) return;
  const current = await findPoById(db, po.id);
  if (current && current.status !== "cancelled" && isCreationInProgress(current, now)) {
    throw invoiceInProgress(po.reference);
  }
  throw new ApiError("invalid_state", `Purchase order ${po.reference} is already cancelled.`);
}

/** True while a live request holds the claim to create the PO's QBO invoice. */
export function isCreationInProgress(po: PoRow, now = new Date()): boolean {
  return (
    po.qboInvoiceId === null &&
    po.qboCreateClaimedAt !== null &&
    po.qboCreateClaimedAt >= claimStaleBefore(now)
  );
}

export function invoiceInProgress(reference: string): ApiError {
  return new ApiError(
    "qbo_invoice_in_progress",
    `The QuickBooks invoice of ${reference} is being created by another request; try again in a moment.`,
  );
}

/**
 * Voids a manual payment or credit note recorded by mistake (a wire entered twice): the row is
 * kept with when and why, leaves every total, and the status is recomputed. Rows that came
 * from QuickBooks follow QuickBooks and cannot be voided here.
 */
export async function voidMoney(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  kind: "payment" | "credit_note",
  rowId: number,
  reason: string,
  ctx: EventContext,
): Promise<PoAggregate> {
  const po = await requirePo(db, slug, reference);
  const noun = kind === "payment" ? "Payment" : "Credit note";
  const outcome = await voidMoneyRow(db, kind, po.id, rowId, reason, new Date().toISOString(), ctx);
  switch (outcome) {
    case "voided": {
      // A row already in QuickBooks (or on its way) has its counterpart voided there too.
      const agg = await getPurchaseOrder(db, slug, reference);
      await announceIfPending(env, agg);
      return agg;
    }
    case "not_found":
      throw notFound(`${noun} ${rowId} of ${reference}`);
    case "already_voided":
      throw new ApiError("invalid_state", `${noun} ${rowId} of ${reference} is already voided.`);
    case "not_manual":
      throw new ApiError(
        "invalid_state",
        `${noun} ${rowId} of ${reference} was recorded from QuickBooks; void or delete it in QuickBooks and it follows.`,
      );
  }
}

/**
 * Records a manual payment. When the PO has a QBO invoice the row is `pending` and its outbox
 * entry commits with it; the push is announced after the commit and happens off-request, so
 * the answer never waits for (or fails with) QuickBooks (SPEC §9 "Outbox").
 */
export async function recordPayment(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  payment: NewPayment,
  ctx: EventContext,
): Promise<PoAggregate> {
  const po = await requirePo(db, slug, reference);
  const id = await addPayment(db, po.id, payment, new Date().toISOString(), ctx);
  if (id === null) throw cancelledError(reference);
  const agg = await getPurchaseOrder(db, slug, reference);
  await announceIfPending(env, agg);
  return agg;
}

/** Records a manual credit note; pushed as a CreditMemo like a payment (see recordPayment). */
export async function recordCreditNote(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  credit: { amountCents: number; reason: string },
  ctx: EventContext,
): Promise<PoAggregate> {
  const po = await requirePo(db, slug, reference);
  const id = await addCreditNote(db, po.id, credit, new Date().toISOString(), ctx);
  if (id === null) throw cancelledError(reference);
  const agg = await getPurchaseOrder(db, slug, reference);
  await announceIfPending(env, agg);
  return agg;
}

function cancelledError(reference: string): ApiError {
  return new ApiError("invalid_state", `Purchase order ${reference} is cancelled.`);
}
