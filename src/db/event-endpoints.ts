/**
 * SQL of outgoing events (SPEC §12): the conference's endpoint and the delivery outbox.
 * The drain reads `po_events` after the endpoint's cursor and turns them into delivery rows in
 * one batch with the cursor's advance; `INSERT … ON CONFLICT DO NOTHING RETURNING` hands each
 * new row to exactly one drain, so concurrent drains never enqueue a delivery twice.
 */
import { and, asc, desc, eq, gt, inArray, isNull, lt, sql } from "drizzle-orm";
import type { PlatformEventType, PoEventType } from "../domain/events";
import type { DeliveryStatus } from "../domain/platform-events";
import { chunk, type Db } from "./client";
import { conferenceEvents, eventDeliveries, eventEndpoints, poEvents } from "./schema";

export type EventEndpointRow = typeof eventEndpoints.$inferSelect;
export type EventDeliveryRow = typeof eventDeliveries.$inferSelect;

export async function findEndpoint(db: Db, conferenceSlug: string): Promise<EventEndpointRow | undefined> {
  return db.select().from(eventEndpoints).where(eq(eventEndpoints.conferenceSlug, conferenceSlug)).get();
}

export async function findEndpointById(db: Db, id: string): Promise<EventEndpointRow | undefined> {
  return db.select().from(eventEndpoints).where(eq(eventEndpoints.id, id)).get();
}

export interface EndpointInput {
  conferenceSlug: string;
  url: string;
  /** JSON text of the filters, or null for every type. */
  events: string | null;
  secretSealed: string;
}

/**
 * Creates the endpoint, or replaces its URL and filters and rotates its secret: the current
 * secret becomes the previous one until `previousExpiresAt`. A new endpoint starts its cursors
 * at the conference's newest events (timeline and conference-level): it receives what happens from now on, not the past. A PUT
 * re-enables an endpoint that a 410 disabled.
 */
export async function upsertEndpoint(
  db: Db,
  input: EndpointInput,
  now: string,
  previousExpiresAt: string,
): Promise<EventEndpointRow> {
  const [row] = await db
    .insert(eventEndpoints)
    .values({
      id: crypto.randomUUID(),
      ...input,
      cursor: sql`(SELECT coalesce(max(${poEvents.id}), 0) FROM ${poEvents} WHERE ${poEvents.conferenceSlug} = ${input.conferenceSlug})`,
      conferenceCursor: sql`(SELECT coalesce(max(${conferenceEvents.id}), 0) FROM ${conferenceEvents} WHERE ${conferenceEvents.conferenceSlug} = ${input.conferenceSlug})`,
      createdAt: now,
      updatedAt: now,
    })
    .onConflictDoUpdate({
      target: eventEndpoints.conferenceSlug,
      set: {
        url: input.url,
        events: input.events,
        previousSecretSealed: sql`${eventEndpoints.secretSealed}`,
        previousSecretExpiresAt: previousExpiresAt,
        secretSealed: input.secretSealed,
        secretRotatedAt: now,
        updatedAt: now,
        disabledAt: null,
      },
    })
    .returning();
  if (!row) throw new Error("event endpoint upsert returned no row");
  return row;
}

/** Removes the endpoint; its unsent deliveries become `disabled` (the consumer skips them). */
export async function deleteEndpoint(db: Db, conferenceSlug: string, now: string): Promise<boolean> {
  const endpoint = await findEndpoint(db, conferenceSlug);
  if (!endpoint) return false;
  await db.batch([
    db
      .update(eventDeliveries)
      .set({ status: "disabled", nextAttemptAt: null, updatedAt: now })
      .where(and(eq(eventDeliveries.endpointId, endpoint.id), eq(eventDeliveries.status, "pending"))),
    db.delete(eventEndpoints).where(eq(eventEndpoints.id, endpoint.id)),
  ]);
  return true;
}

/** The receiver answered 410 Gone: no more deliveries until the endpoint is PUT again. */
export async function disableEndpoint(db: Db, endpointId: string, now: string): Promise<void> {
  await db.batch([
    db
      .update(eventEndpoints)
      .set({ disabledAt: now, updatedAt: now })
      .where(and(eq(eventEndpoints.id, endpointId), isNull(eventEndpoints.disabledAt))),
    db
      .update(eventDeliveries)
      .set({ status: "disabled", nextAttemptAt: null, updatedAt: now })
      .where(and(eq(eventDeliveries.endpointId, endpointId), eq(eventDeliveries.status, "pending"))),
  ]);
}

/** Endpoints that deliver, in slug order after `afterSlug`. */
export async function activeEndpoints(db: Db, afterSlug: string, limit: number): Promise<EventEndpointRow[]> {
  return db
    .select()
    .from(eventEndpoints)
    .where(and(isNull(eventEndpoints.disabledAt), gt(eventEndpoints.conferenceSlug, afterSlug)))
    .orderBy(asc(eventEndpoints.conferenceSlug))
    .limit(limit)
    .all();
}

/** The conference's events after `cursor`: ids and types only, ascending. */
export async function eventsAfter(
  db: Db,
  conferenceSlug: string,
  cursor: number,
  limit: number,
): Promise<{ id: number; type: PoEventType }[]> {
  return db
    .select({ id: poEvents.id, type: poEvents.type })
    .from(poEvents)
    .where(and(eq(poEvents.conferenceSlug, conferenceSlug), gt(poEvents.id, cursor)))
    .orderBy(asc(poEvents.id))
    .limit(limit)
    .all();
}

/** Which outbox a batch of events comes from: the PO timeline or the conference-level events. */
export type EventSource = "po" | "conference";

/**
 * Delivery rows for `events` (of `source`) and that source's cursor moved to `newCursor`, in one
 * batch. Returns the ids of the rows this call created (a row another drain created first is
 * not returned).
 */
export async function createDeliveries(
  db: Db,
  endpoint: EventEndpointRow,
  source: EventSource,
  events: { id: number; type: PlatformEventType }[],
  newCursor: number,
  now: string,
  expiresAt: string,
): Promise<number[]> {
  const advance = db
    .update(eventEndpoints)
    .set(
      source === "po"
        ? { cursor: sql`max(${eventEndpoints.cursor}, ${newCursor})` }
        : { conferenceCursor: sql`max(${eventEndpoints.conferenceCursor}, ${newCursor})` },
    )
    .where(eq(eventEndpoints.id, endpoint.id));
  // 10 bound parameters a row: 9 rows a statement stays under D1's 100.
  const inserts = chunk(events, 9).map((part) =>
    db
      .insert(eventDeliveries)
      .values(
        part.map((e) => ({
          endpointId: endpoint.id,
          conferenceSlug: endpoint.conferenceSlug,
          ...(source === "po" ? { eventId: e.id } : { conferenceEventId: e.id }),
          type: e.type,
          status: "pending" as const,
          attempts: 0,
          nextAttemptAt: now,
          expiresAt,
          createdAt: now,
          updatedAt: now,
        })),
      )
      .onConflictDoNothing()
      .returning({ id: eventDeliveries.id }),
  );
  const [first, ...rest] = [...inserts, advance];
  if (!first) return [];
  const results = await db.batch([first, ...rest]);
  return (results.slice(0, inserts.length) as { id: number }[][]).flat().map((r) => r.id);
}

export async function findDelivery(db: Db, id: number): Promise<EventDeliveryRow | undefined> {
  return db.select().from(eventDeliveries).where(eq(eventDeliveries.id, id)).get();
}

export async function findPoEvent(db: Db, id: number) {
  return db.select().from(poEvents).where(eq(poEvents.id, id)).get();
}

export interface AttemptOutcome {
  status: DeliveryStatus;
  lastStatus: number | null;
  lastError: string | null;
  nextAttemptAt: string | null;
}

/** Records one attempt; only a `pending` row changes (a delivered or disabled row stays so). */
export async function recordAttempt(db: Db, id: number, outcome: AttemptOutcome, now: string): Promise<void> {
  await db
    .update(eventDeliveries)
    .set({ ...outcome, attempts: sql`${eventDeliveries.attempts} + 1`, updatedAt: now })
    .where(and(eq(eventDeliveries.id, id), eq(eventDeliveries.status, "pending")))
    .run();
}

/** Makes a delivery due again now, with a fresh 24-hour window; null when not this conference's. */
export async function reopenDelivery(
  db: Db,
  conferenceSlug: string,
  id: number,
  now: string,
  expiresAt: string,
): Promise<EventDeliveryRow | undefined> {
  const [row] = await db
    .update(eventDeliveries)
    .set({ status: "pending", nextAttemptAt: now, expiresAt, updatedAt: now })
    .where(and(eq(eventDeliveries.id, id), eq(eventDeliveries.conferenceSlug, conferenceSlug)))
    .returning();
  return row;
}

/** The conference's newest deliveries first, optionally only those in `status`. */
export async function listDeliveries(
  db: Db,
  conferenceSlug: string,
  limit: number,
  status?: DeliveryStatus,
): Promise<EventDeliveryRow[]> {
  return db
    .select()
    .from(eventDeliveries)
    .where(
      and(
        eq(eventDeliveries.conferenceSlug, conferenceSlug),
        status ? eq(eventDeliveries.status, status) : undefined,
      ),
    )
    .orderBy(desc(eventDeliveries.id))
    .limit(limit)
    .all();
}

/** Pending deliveries whose attempt was due before `before`: their queue message was lost. */
export async function overdueDeliveries(db: Db, before: string, limit: number): Promise<number[]> {
  const rows = await db
    .select({ id: eventDeliveries.id })
    .from(eventDeliveries)
    .where(and(eq(eventDeliveries.status, "pending"), lt(eventDeliveries.nextAttemptAt, before)))
    .orderBy(asc(eventDeliveries.nextAttemptAt))
    .limit(limit)
    .all();
  return rows.map((r) => r.id);
}

/** Pushes the due time of re-driven rows forward, so the next cron does not send them again at once. */
export async function postponeDeliveries(db: Db, ids: number[], until: string): Promise<void> {
  for (const part of chunk(ids, 90)) {
    await db
      .update(eventDeliveries)
      .set({ nextAttemptAt: until })
      .where(and(inArray(eventDeliveries.id, part), eq(eventDeliveries.status, "pending")))
      .run();
  }
}

/** Finished deliveries last updated before `before` (daily pruning). */
export async function deleteFinishedDeliveriesBefore(db: Db, before: string, limit: number): Promise<number> {
  const result = await db.run(sql`DELETE FROM event_deliveries WHERE rowid IN (
    SELECT rowid FROM event_deliveries WHERE status != 'pending' AND updated_at < ${before} LIMIT ${limit})`);
  return result.meta.changes ?? 0;
}
