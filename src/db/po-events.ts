/**
 * SQL of the PO timeline (SPEC §11 "History"). Writers never insert an event on their own:
 * they add the statements built here to the D1 batch of the change the event describes, so
 * the change and its event commit together or not at all. Each statement is an
 * `INSERT … SELECT … FROM purchase_orders WHERE <the change's own guard>`, evaluated inside
 * the batch: a change that does not happen (a guard failed, a concurrent request won) writes
 * no event, and what an event says (the previous status, the new one) is read in the same
 * transaction as the write, never from a stale JS copy.
 */
import { and, asc, eq, gt, type SQL, sql } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { Actor, EventContext, PoEventType } from "../domain/events";
import type { Db } from "./client";
import { type creditNotes, type payments, poEvents, purchaseOrders } from "./schema";

export type PoEventRow = typeof poEvents.$inferSelect;

/** A value of an event's `data`: bound when it is a JS value, evaluated when it is SQL. */
export type EventValue = SQL | SQLiteColumn | string | number | boolean | null;

export interface EventSpec {
  type: PoEventType;
  ctx: EventContext;
  at: string;
  /** Overrides `ctx.actor` (money found in QuickBooks is QuickBooks' doing, whoever asked for the sync). */
  actor?: Actor;
  data?: Record<string, EventValue>;
}

/** Cents (a SQL integer expression, ≥ 0) as the API's decimal string, exactly: 60000 → "600.00". */
export function moneyText(cents: SQL | SQLiteColumn): SQL {
  return sql`printf('%d.%02d', (${cents}) / 100, (${cents}) % 100)`;
}

/** `json_object(...)` of the PO's reference and `data`; every key is bound, never spliced. */
function jsonData(data: Record<string, EventValue>): SQL {
  const parts: SQL[] = [sql`'reference'`, sql`${purchaseOrders.reference}`];
  for (const [key, value] of Object.entries(data)) {
    parts.push(sql`${key}`);
    if (typeof value === "boolean") parts.push(value ? sql`json('true')` : sql`json('false')`);
    else parts.push(sql`${value}`);
  }
  return sql`json_object(${sql.join(parts, sql`, `)})`;
}

/**
 * One event per purchase order matched by `where` (normally zero or one), optionally joined to
 * the payment or credit note the event is about (then `data` may read its columns).
 */
export function poEventInsert(
  db: Db,
  spec: EventSpec,
  where: SQL | undefined,
  join?: { table: typeof payments | typeof creditNotes; on: SQL },
) {
  const actor = spec.actor ?? spec.ctx.actor;
  const fields = {
    id: sql<number>`NULL`.as("id"),
    purchaseOrderId: purchaseOrders.id,
    conferenceSlug: purchaseOrders.conferenceSlug,
    at: sql<string>`${spec.at}`.as("at"),
    type: sql<string>`${spec.type}`.as("type"),
    actorType: sql<string>`${actor.type}`.as("actor_type"),
    actorId: sql<string | null>`${actor.id ?? null}`.as("actor_id"),
    actorName: sql<string | null>`${actor.name ?? null}`.as("actor_name"),
    requestId: sql<string | null>`${spec.ctx.requestId}`.as("request_id"),
    data: sql<string>`${jsonData(spec.data ?? {})}`.as("data"),
  };
  const from = db.select(fields).from(purchaseOrders).$dynamic();
  const query = join ? from.innerJoin(join.table, join.on) : from;
  return db.insert(poEvents).select(query.where(where));
}

/**
 * `po.status_changed` from the PO's status to `to` (a SQL expression), only when they differ.
 * Put it in the batch after the money write and right before the UPDATE that sets the status
 * to the same expression: both read the same committed sums, so the event tells exactly the
 * change the UPDATE makes, however many requests race (D1 runs one batch at a time).
 */
export function statusChangedInsert(
  db: Db,
  poId: number,
  to: SQL,
  spec: Omit<EventSpec, "type" | "data">,
  guard?: SQL,
) {
  return poEventInsert(
    db,
    { ...spec, type: "po.status_changed", data: { from: purchaseOrders.status, to } },
    and(eq(purchaseOrders.id, poId), guard, sql`${purchaseOrders.status} IS NOT (${to})`),
  );
}

/**
 * The row an `INSERT … SELECT` placed just before this statement in the same batch, or none
 * when that insert matched nothing (`changes()` and `last_insert_rowid()` describe the
 * previous statement of the connection, which in a D1 batch is the previous statement).
 */
export function justInserted(table: typeof payments | typeof creditNotes, poId: number): SQL {
  return and(
    eq(table.id, sql`last_insert_rowid()`),
    sql`changes() = 1`,
    eq(table.purchaseOrderId, poId),
  ) as SQL;
}

/** A PO's timeline, oldest first. */
export async function poTimeline(db: Db, poId: number): Promise<PoEventRow[]> {
  return db.select().from(poEvents).where(eq(poEvents.purchaseOrderId, poId)).orderBy(asc(poEvents.id)).all();
}

/** A conference's events after `sinceId`, ascending ids, at most `limit`. */
export async function conferenceEvents(
  db: Db,
  conferenceSlug: string,
  sinceId: number,
  limit: number,
): Promise<PoEventRow[]> {
  return db
    .select()
    .from(poEvents)
    .where(and(eq(poEvents.conferenceSlug, conferenceSlug), gt(poEvents.id, sinceId)))
    .orderBy(asc(poEvents.id))
    .limit(limit)
    .all();
}
