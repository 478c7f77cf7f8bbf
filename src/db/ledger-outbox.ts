/**
 * SQL of the ledger outbox (SPEC §9 "Outbox"; table `ledger_outbox`, see schema.ts). The
 * statements that create entries are meant for the D1 batch of the change they report (a
 * recorded payment, a created invoice, a voided row), so the change and its push commit
 * together. The payment's or credit note's own `qbo_state`/`qbo_error` mirror the entry for
 * the API; both are written in the same batch whenever the entry moves.
 */
import { and, asc, count, eq, exists, inArray, isNotNull, isNull, lt, or, sql } from "drizzle-orm";
import type { EventContext } from "../domain/events";
import type { LedgerPushAction, LedgerPushKind } from "../domain/ledger";
import type { Db } from "./client";
import { moneyText, poEventInsert } from "./po-events";
import { creditNotes, ledgerOutbox, payments, purchaseOrders } from "./schema";

export type OutboxRow = typeof ledgerOutbox.$inferSelect;

const tableOf = (kind: LedgerPushKind) => (kind === "payment" ? payments : creditNotes);

/** The state a new manual row starts in: `pending` when its PO has a live QBO invoice to push to, else null. */
export const initialQboState = sql<
  string | null
>`CASE WHEN ${purchaseOrders.qboInvoiceId} IS NOT NULL AND ${purchaseOrders.qboInvoiceVoidedAt} IS NULL THEN 'pending' ELSE NULL END`;

/**
 * A `create` entry for every row of the PO waiting for its first push (`qbo_state = 'pending'`,
 * no create entry yet): two statements, for the end of a batch that made rows pending.
 */
export function enqueuePendingCreates(db: Db, poId: number, now: string) {
  return (["payment", "credit_note"] as const).map((kind) => {
    const table = tableOf(kind);
    return db
      .insert(ledgerOutbox)
      .select(
        db
          .select(newEntry(kind, table, "create", now))
          .from(table)
          .innerJoin(purchaseOrders, eq(purchaseOrders.id, table.purchaseOrderId))
          .where(and(eq(table.purchaseOrderId, poId), eq(table.qboState, "pending"))),
      )
      .onConflictDoNothing();
  });
}

/**
 * For the batch that saves a PO's new QBO invoice: the manual rows recorded before it existed
 * (state null, not voided) become `pending`, and get their create entries.
 */
export function pushRowsRecordedBeforeInvoice(db: Db, poId: number, now: string) {
  return [
    db
      .update(payments)
      .set({ qboState: "pending" })
      .where(
        and(
          eq(payments.purchaseOrderId, poId),
          eq(payments.source, "manual"),
          isNull(payments.qboState),
          isNull(payments.voidedAt),
        ),
      ),
    db
      .update(creditNotes)
      .set({ qboState: "pending" })
      .where(
        and(
          eq(creditNotes.purchaseOrderId, poId),
          eq(creditNotes.source, "manual"),
          isNull(creditNotes.qboState),
          isNull(creditNotes.voidedAt),
        ),
      ),
    ...enqueuePendingCreates(db, poId, now),
  ] as const;
}

/**
 * For the batch that voids a row here, after its UPDATE: when the row is (or is about to be) in
 * QuickBooks, a `void` entry, and the row shows `pending` until QuickBooks has voided it too.
 */
export function enqueueVoid(db: Db, kind: LedgerPushKind, poId: number, rowId: number, now: string) {
  const table = tableOf(kind);
  const justVoided = and(
    eq(table.id, rowId),
    eq(table.purchaseOrderId, poId),
    eq(table.voidedAt, now),
    isNotNull(table.qboState),
  );
  const voidEntry = db
    .select({ one: sql`1` })
    .from(ledgerOutbox)
    .where(
      and(
        eq(ledgerOutbox.kind, kind),
        eq(ledgerOutbox.rowId, rowId),
        eq(ledgerOutbox.action, "void"),
        eq(ledgerOutbox.state, "pending"),
      ),
    );
  return [
    db
      .insert(ledgerOutbox)
      .select(
        db
          .select(newEntry(kind, table, "void", now))
          .from(table)
          .innerJoin(purchaseOrders, eq(purchaseOrders.id, table.purchaseOrderId))
          .where(justVoided),
      )
      .onConflictDoNothing(),
    db
      .update(table)
      .set({ qboState: "pending", qboError: null })
      .where(and(eq(table.id, rowId), exists(voidEntry))),
  ] as const;
}

/**
 * Takes the PO's pending entries that no live push run holds, for `leaseMs`: two runs for one PO
 * (two messages in two batches, a re-drive) never work the same entry at once, so they never
 * race one create past the other's marker look-up. Oldest first: a create before its void.
 */
export async function claimPendingEntries(
  db: Db,
  poId: number,
  now: Date,
  leaseMs: number,
): Promise<OutboxRow[]> {
  const rows = await db
    .update(ledgerOutbox)
    .set({ leaseUntil: new Date(now.getTime() + leaseMs).toISOString() })
    .where(
      and(
        eq(ledgerOutbox.purchaseOrderId, poId),
        eq(ledgerOutbox.state, "pending"),
        or(isNull(ledgerOutbox.leaseUntil), lt(ledgerOutbox.leaseUntil, now.toISOString())),
      ),
    )
    .returning();
  return rows.sort((a, b) => a.id - b.id);
}

/** Gives the entries back (the run ended, done or not): the next run may take them at once. */
export async function releaseEntries(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.update(ledgerOutbox).set({ leaseUntil: null }).where(inArray(ledgerOutbox.id, ids));
}

/** A PO's pending entries, oldest first: the order they are pushed in (a create before its void). */
export async function pendingEntries(db: Db, poId: number): Promise<OutboxRow[]> {
  return db
    .select()
    .from(ledgerOutbox)
    .where(and(eq(ledgerOutbox.purchaseOrderId, poId), eq(ledgerOutbox.state, "pending")))
    .orderBy(asc(ledgerOutbox.id))
    .all();
}

export async function createEntryOf(db: Db, kind: LedgerPushKind, rowId: number) {
  return db
    .select()
    .from(ledgerOutbox)
    .where(and(eq(ledgerOutbox.kind, kind), eq(ledgerOutbox.rowId, rowId), eq(ledgerOutbox.action, "create")))
    .get();
}

export async function loadPayment(db: Db, id: number) {
  return db.select().from(payments).where(eq(payments.id, id)).get();
}

export async function loadCreditNote(db: Db, id: number) {
  return db.select().from(creditNotes).where(eq(creditNotes.id, id)).get();
}

/** Written just before a request that may create something in QuickBooks is sent. */
export async function markAttempted(db: Db, entryId: number, now: string): Promise<void> {
  await db
    .update(ledgerOutbox)
    .set({ attemptedAt: now, attempts: sql`${ledgerOutbox.attempts} + 1`, updatedAt: now })
    .where(eq(ledgerOutbox.id, entryId));
}

/** A transient failure: remembered on the entry (the dead-letter step turns it into `failed`). */
export async function noteTransientError(db: Db, entryId: number, error: string, now: string): Promise<void> {
  await db
    .update(ledgerOutbox)
    .set({ lastError: error, updatedAt: now })
    .where(and(eq(ledgerOutbox.id, entryId), eq(ledgerOutbox.state, "pending")));
}

/** The credit memo exists (its application may still be to do): remember its id on the row. */
export async function rememberQboId(
  db: Db,
  kind: LedgerPushKind,
  rowId: number,
  qboId: string,
): Promise<void> {
  const table = tableOf(kind);
  await db.update(table).set({ qboId }).where(eq(table.id, rowId));
}

/** Is a void of this row still to be pushed (then the row stays `pending` after its create)? */
function voidPending(kind: LedgerPushKind, rowId: number) {
  return sql`EXISTS (SELECT 1 FROM ${ledgerOutbox} WHERE ${ledgerOutbox.kind} = ${kind} AND ${ledgerOutbox.rowId} = ${rowId} AND ${ledgerOutbox.action} = 'void' AND ${ledgerOutbox.state} = 'pending')`;
}

/**
 * The create is done: the row gets its QBO id and `synced` (still `pending` when a void of it
 * waits), the entry `done`, and the timeline `payment.pushed` / `credit_note.pushed`, in one batch.
 */
export async function completeCreate(
  db: Db,
  entry: OutboxRow,
  qboId: string,
  now: string,
  ctx: EventContext,
  data: Record<string, string | null> = {},
): Promise<void> {
  const table = tableOf(entry.kind);
  const isPayment = entry.kind === "payment";
  const open = and(eq(ledgerOutbox.id, entry.id), eq(ledgerOutbox.state, "pending"));
  await db.batch([
    poEventInsert(
      db,
      {
        type: isPayment ? "payment.pushed" : "credit_note.pushed",
        ctx,
        at: now,
        data: {
          [isPayment ? "paymentId" : "creditNoteId"]: table.id,
          amount: moneyText(table.amountCents),
          [isPayment ? "qboPaymentId" : "qboCreditMemoId"]: qboId,
          ...data,
        },
      },
      and(
        eq(purchaseOrders.id, entry.purchaseOrderId),
        eq(table.id, entry.rowId),
        exists(db.select({ one: sql`1` }).from(ledgerOutbox).where(open)),
      ),
      { table, on: eq(table.purchaseOrderId, purchaseOrders.id) },
    ),
    db
      .update(table)
      .set({
        qboId,
        qboState: sql`CASE WHEN ${voidPending(entry.kind, entry.rowId)} THEN 'pending' ELSE 'synced' END`,
        qboError: null,
      })
      .where(eq(table.id, entry.rowId)),
    db.update(ledgerOutbox).set({ state: "done", lastError: null, updatedAt: now }).where(open),
  ]);
}

/** The entry ends without anything to do in QuickBooks (a row voided before its push). */
export async function closeEntry(
  db: Db,
  entry: OutboxRow,
  rowState: "synced" | null | "keep",
  now: string,
): Promise<void> {
  const table = tableOf(entry.kind);
  await db.batch([
    db
      .update(ledgerOutbox)
      .set({ state: "done", updatedAt: now })
      .where(and(eq(ledgerOutbox.id, entry.id), eq(ledgerOutbox.state, "pending"))),
    ...(rowState === "keep"
      ? []
      : [db.update(table).set({ qboState: rowState, qboError: null }).where(eq(table.id, entry.rowId))]),
  ]);
}

/** The push gave up: the entry and its row show `failed` with the reason (listed, retryable). */
export async function failEntry(db: Db, entry: OutboxRow, error: string, now: string): Promise<void> {
  const table = tableOf(entry.kind);
  await db.batch([
    db
      .update(ledgerOutbox)
      .set({ state: "failed", lastError: error, updatedAt: now })
      .where(and(eq(ledgerOutbox.id, entry.id), eq(ledgerOutbox.state, "pending"))),
    db.update(table).set({ qboState: "failed", qboError: error }).where(eq(table.id, entry.rowId)),
  ]);
}

/** Dead letter of a PO's push message: every entry still pending fails with its last error. */
export async function failPendingOfPo(db: Db, poId: number, fallback: string, now: string): Promise<number> {
  const entries = await pendingEntries(db, poId);
  for (const entry of entries) await failEntry(db, entry, entry.lastError ?? fallback, now);
  return entries.length;
}

/** What the sync status shows of the outbox. */
export async function outboxStatus(db: Db, slug: string, limit: number) {
  const [pending] = await db
    .select({ n: count() })
    .from(ledgerOutbox)
    .where(and(eq(ledgerOutbox.conferenceSlug, slug), eq(ledgerOutbox.state, "pending")));
  const failed = await db
    .select({
      id: ledgerOutbox.id,
      kind: ledgerOutbox.kind,
      action: ledgerOutbox.action,
      rowId: ledgerOutbox.rowId,
      reference: purchaseOrders.reference,
      error: ledgerOutbox.lastError,
      attempts: ledgerOutbox.attempts,
      failedAt: ledgerOutbox.updatedAt,
    })
    .from(ledgerOutbox)
    .innerJoin(purchaseOrders, eq(purchaseOrders.id, ledgerOutbox.purchaseOrderId))
    .where(and(eq(ledgerOutbox.conferenceSlug, slug), eq(ledgerOutbox.state, "failed")))
    .orderBy(asc(ledgerOutbox.id))
    .limit(limit)
    .all();
  return { pending: pending?.n ?? 0, failed };
}

/**
 * Failed entries of the conference back to `pending` (a new `generation`: QuickBooks may have
 * kept the failed answer under the old requestid), their rows too; returns the POs to push.
 */
export async function reopenFailed(
  db: Db,
  slug: string,
  now: string,
): Promise<{ entries: number; poIds: number[] }> {
  const failedOf = (kind: LedgerPushKind, table: typeof payments | typeof creditNotes) =>
    sql`EXISTS (SELECT 1 FROM ${ledgerOutbox} WHERE ${ledgerOutbox.kind} = ${kind} AND ${ledgerOutbox.rowId} = ${table.id} AND ${ledgerOutbox.state} = 'failed' AND ${ledgerOutbox.conferenceSlug} = ${slug})`;
  const [, , reopened] = await db.batch([
    db.update(payments).set({ qboState: "pending", qboError: null }).where(failedOf("payment", payments)),
    db
      .update(creditNotes)
      .set({ qboState: "pending", qboError: null })
      .where(failedOf("credit_note", creditNotes)),
    db
      .update(ledgerOutbox)
      .set({
        state: "pending",
        generation: sql`${ledgerOutbox.generation} + 1`,
        attempts: 0,
        lastError: null,
        updatedAt: now,
      })
      .where(and(eq(ledgerOutbox.conferenceSlug, slug), eq(ledgerOutbox.state, "failed")))
      .returning({ poId: ledgerOutbox.purchaseOrderId }),
  ]);
  return { entries: reopened.length, poIds: [...new Set(reopened.map((r) => r.poId))] };
}

/**
 * Pending entries untouched since `before` (their queue message was lost, or never sent): their
 * POs, at most `limit`, touched so the next cron does not send them again at once.
 */
export async function stalePendingPos(
  db: Db,
  before: string,
  now: string,
  limit: number,
): Promise<{ conferenceSlug: string; poId: number }[]> {
  const rows = await db
    .selectDistinct({ conferenceSlug: ledgerOutbox.conferenceSlug, poId: ledgerOutbox.purchaseOrderId })
    .from(ledgerOutbox)
    .where(and(eq(ledgerOutbox.state, "pending"), lt(ledgerOutbox.updatedAt, before)))
    .limit(limit)
    .all();
  const ids = rows.map((r) => r.poId);
  if (ids.length > 0) {
    await db
      .update(ledgerOutbox)
      .set({ updatedAt: now })
      .where(and(inArray(ledgerOutbox.purchaseOrderId, ids), eq(ledgerOutbox.state, "pending")));
  }
  return rows;
}

/** For the PO list filter `qbo=pending_push|push_failed`. */
export function poHasOutboxIn(state: "pending" | "failed") {
  return sql`EXISTS (SELECT 1 FROM ${ledgerOutbox} WHERE ${ledgerOutbox.purchaseOrderId} = ${purchaseOrders.id} AND ${ledgerOutbox.state} = ${state})`;
}

/** Payments the PO has in (or on their way to) QuickBooks, not voided: a void of the invoice would strand them. */
export async function livePushedPayments(db: Db, poId: number): Promise<number> {
  const [row] = await db
    .select({ n: count() })
    .from(payments)
    .where(and(eq(payments.purchaseOrderId, poId), isNull(payments.voidedAt), isNotNull(payments.qboState)));
  return row?.n ?? 0;
}

export type { LedgerPushAction };

/** The columns of a new pending outbox entry for a row of `table`, for an INSERT … SELECT. */
function newEntry(
  kind: LedgerPushKind,
  table: ReturnType<typeof tableOf>,
  action: "create" | "void",
  now: string,
) {
  return {
    id: sql<number>`NULL`.as("id"),
    conferenceSlug: purchaseOrders.conferenceSlug,
    purchaseOrderId: purchaseOrders.id,
    kind: sql<string>`${kind}`.as("kind"),
    rowId: table.id,
    action: sql<string>`${action}`.as("action"),
    state: sql<string>`'pending'`.as("state"),
    generation: sql<number>`0`.as("generation"),
    attempts: sql<number>`0`.as("attempts"),
    attemptedAt: sql<string | null>`NULL`.as("attempted_at"),
    leaseUntil: sql<string | null>`NULL`.as("lease_until"),
    lastError: sql<string | null>`NULL`.as("last_error"),
    createdAt: sql<string>`${now}`.as("created_at"),
    updatedAt: sql<string>`${now}`.as("updated_at"),
  };
}
