/**
 * SQL of conference-level events (SPEC §12: `sync.failed`, `qbo.reconnect_required`), the
 * outbox's second source beside `po_events`. Every write is `INSERT … ON CONFLICT DO NOTHING`
 * on `(conference_slug, dedupe_key)`: the key names the thing reported, so a writer that runs
 * twice for it (a duplicate dead letter, every request that meets the same dead grant) leaves
 * one event.
 */
import { and, asc, eq, gt, isNull, or, sql } from "drizzle-orm";
import type { ConferenceEventType } from "../domain/events";
import type { Db } from "./client";
import { conferenceEvents, conferences, syncFailures } from "./schema";

export type ConferenceEventRow = typeof conferenceEvents.$inferSelect;

/**
 * `sync.failed` for the sync_failures row of `messageKey`, to put in the batch right after
 * that row's insert: the event commits with the failure or not at all. A failure of a
 * conference's batch reports to that conference; one of webhook work (no conference, a realm)
 * to each conference connected to the realm. Keyed on the failure row's id, so a duplicate
 * dead letter (the row already there) writes no second event.
 */
export function syncFailedEventInsert(db: Db, messageKey: string, at: string) {
  const data = sql<string>`json_object(
    'syncFailureId', ${syncFailures.id},
    'realmId', ${syncFailures.realmId},
    'invoiceIds', json(${syncFailures.invoiceIds}),
    'error', ${syncFailures.error},
    'attempts', ${syncFailures.attempts},
    'failedAt', ${syncFailures.failedAt})`;
  const rows = db
    .select({
      id: sql<number>`NULL`.as("id"),
      conferenceSlug: conferences.slug,
      at: sql<string>`${at}`.as("at"),
      type: sql<string>`'sync.failed'`.as("type"),
      data: data.as("data"),
      dedupeKey: sql<string>`'sync.failed:' || ${syncFailures.id}`.as("dedupe_key"),
    })
    .from(syncFailures)
    .innerJoin(
      conferences,
      or(
        eq(conferences.slug, syncFailures.conferenceSlug),
        and(isNull(syncFailures.conferenceSlug), eq(conferences.qboRealmId, syncFailures.realmId)),
      ),
    )
    .where(eq(syncFailures.messageKey, messageKey));
  return db.insert(conferenceEvents).select(rows).onConflictDoNothing();
}

/**
 * Records one conference-level event unless one with the same key exists; returns whether this
 * call wrote it.
 */
export async function recordConferenceEvent(
  db: Db,
  event: {
    conferenceSlug: string;
    type: ConferenceEventType;
    dedupeKey: string;
    at: string;
    data: Record<string, unknown>;
  },
): Promise<boolean> {
  const rows = await db
    .insert(conferenceEvents)
    .values({ ...event, data: JSON.stringify(event.data) })
    .onConflictDoNothing()
    .returning({ id: conferenceEvents.id });
  return rows.length > 0;
}

/** The conference's conference-level events after `cursor`: ids and types only, ascending. */
export async function conferenceEventsAfter(
  db: Db,
  conferenceSlug: string,
  cursor: number,
  limit: number,
): Promise<{ id: number; type: ConferenceEventType }[]> {
  return db
    .select({ id: conferenceEvents.id, type: conferenceEvents.type })
    .from(conferenceEvents)
    .where(and(eq(conferenceEvents.conferenceSlug, conferenceSlug), gt(conferenceEvents.id, cursor)))
    .orderBy(asc(conferenceEvents.id))
    .limit(limit)
    .all();
}

export async function findConferenceEvent(db: Db, id: number): Promise<ConferenceEventRow | undefined> {
  return db.select().from(conferenceEvents).where(eq(conferenceEvents.id, id)).get();
}

/** The conference's conference-level events, oldest first (tests and operators). */
export async function listConferenceEvents(db: Db, conferenceSlug: string): Promise<ConferenceEventRow[]> {
  return db
    .select()
    .from(conferenceEvents)
    .where(eq(conferenceEvents.conferenceSlug, conferenceSlug))
    .orderBy(asc(conferenceEvents.id))
    .all();
}

/**
 * Records one conference-level event for every conference connected to `realmId` (a QBO
 * company may serve several conferences), each unless it already has `dedupeKey`. Returns the
 * slugs it was written for.
 */
export async function recordRealmEvent(
  db: Db,
  realmId: string,
  event: {
    type: ConferenceEventType;
    dedupeKey: string;
    at: string;
    data: Record<string, unknown>;
  },
): Promise<string[]> {
  const rows = db
    .select({
      id: sql<number>`NULL`.as("id"),
      conferenceSlug: conferences.slug,
      at: sql<string>`${event.at}`.as("at"),
      type: sql<string>`${event.type}`.as("type"),
      data: sql<string>`${JSON.stringify(event.data)}`.as("data"),
      dedupeKey: sql<string>`${event.dedupeKey}`.as("dedupe_key"),
    })
    .from(conferences)
    .where(eq(conferences.qboRealmId, realmId));
  const written = await db
    .insert(conferenceEvents)
    .select(rows)
    .onConflictDoNothing()
    .returning({ conferenceSlug: conferenceEvents.conferenceSlug });
  return written.map((r) => r.conferenceSlug);
}
