/**
 * The outbox drain (SPEC §12). Timeline events are written in the D1 batch of the change they
 * describe (src/db/po-events.ts), so no change can commit without its event; conference-level
 * events (src/db/conference-events.ts) likewise where D1 holds what they report; the drain turns
 * those rows into delivery rows after the fact, from per-endpoint cursors (one per
 * source), and queues them.
 * It runs right after every API mutation (waitUntil), after every qbo-sync queue batch, and on
 * the 15-minute cron as the safety net, so an event is never lost, only late: a drain that dies
 * before queueing leaves `pending` rows that `redriveOverdue` sends.
 */
import type { Db } from "../db/client";
import { conferenceEventsAfter } from "../db/conference-events";
import {
  activeEndpoints,
  createDeliveries,
  deleteFinishedDeliveriesBefore,
  type EventEndpointRow,
  type EventSource,
  eventsAfter,
  findEndpoint,
  overdueDeliveries,
  postponeDeliveries,
} from "../db/event-endpoints";
import type { PlatformEventType } from "../domain/events";
import { RETRY_WINDOW_MS, subscribes } from "../domain/platform-events";
import { log } from "../lib/log";
import { enqueueDeliveries } from "./messages";

const PAGE = 200;
/** A pending row this far past its due time has lost its queue message. */
const OVERDUE_MS = 5 * 60 * 1000;

function filtersOf(endpoint: EventEndpointRow): string[] | null {
  return endpoint.events === null ? null : (JSON.parse(endpoint.events) as string[]);
}

/** A page of one outbox source after `cursor`. */
type ReadPage = (cursor: number) => Promise<{ id: number; type: PlatformEventType }[]>;

/**
 * Creates and queues the endpoint's deliveries for every event after its cursors (the PO
 * timeline's, then the conference-level events'); returns how many.
 */
export async function drainEndpoint(
  env: Env,
  db: Db,
  endpoint: EventEndpointRow,
  now = new Date(),
): Promise<number> {
  const slug = endpoint.conferenceSlug;
  const fromTimeline = await drainSource(env, db, endpoint, "po", endpoint.cursor, now, (cursor) =>
    eventsAfter(db, slug, cursor, PAGE),
  );
  const fromConference = await drainSource(
    env,
    db,
    endpoint,
    "conference",
    endpoint.conferenceCursor,
    now,
    (cursor) => conferenceEventsAfter(db, slug, cursor, PAGE),
  );
  return fromTimeline + fromConference;
}

async function drainSource(
  env: Env,
  db: Db,
  endpoint: EventEndpointRow,
  source: EventSource,
  from: number,
  now: Date,
  read: ReadPage,
): Promise<number> {
  const filters = filtersOf(endpoint);
  let cursor = from;
  let queued = 0;
  for (;;) {
    const events = await read(cursor);
    const last = events.at(-1);
    if (!last) break;
    const wanted = events.filter((e) => subscribes(filters, e.type));
    const ids = await createDeliveries(
      db,
      endpoint,
      source,
      wanted,
      last.id,
      now.toISOString(),
      new Date(now.getTime() + RETRY_WINDOW_MS).toISOString(),
    );
    await enqueueDeliveries(env.EVENTS_QUEUE, ids);
    queued += ids.length;
    cursor = last.id;
    if (events.length < PAGE) break;
  }
  return queued;
}

/** Drains the conference's endpoint, if it has one that delivers. Never throws (runs in waitUntil). */
export async function drainConference(env: Env, db: Db, slug: string): Promise<void> {
  try {
    const endpoint = await findEndpoint(db, slug);
    if (endpoint && endpoint.disabledAt === null) await drainEndpoint(env, db, endpoint);
  } catch (error) {
    log("error", "events.drain_failed", { conference: slug, error: (error as Error).name });
  }
}

/** Drains every delivering endpoint, a page at a time; one conference's failure does not stop the rest. */
export async function drainAll(env: Env, db: Db): Promise<void> {
  let after = "";
  for (;;) {
    const page = await activeEndpoints(db, after, 100);
    for (const endpoint of page) {
      try {
        await drainEndpoint(env, db, endpoint);
      } catch (error) {
        log("error", "events.drain_failed", {
          conference: endpoint.conferenceSlug,
          error: (error as Error).name,
        });
      }
    }
    const last = page.at(-1);
    if (!last || page.length < 100) break;
    after = last.conferenceSlug;
  }
}

/**
 * Queues again the pending deliveries whose attempt is long overdue (their message was lost:
 * a drain died between its batch and its send, or a message ran out of queue retries), and
 * moves their due time on so the next cron does not queue them twice. Returns how many.
 */
export async function redriveOverdue(env: Env, db: Db, now = new Date()): Promise<number> {
  const ids = await overdueDeliveries(db, new Date(now.getTime() - OVERDUE_MS).toISOString(), 500);
  if (ids.length === 0) return 0;
  await postponeDeliveries(db, ids, now.toISOString());
  await enqueueDeliveries(env.EVENTS_QUEUE, ids);
  log("warn", "events.redriven", { count: ids.length });
  return ids.length;
}

/** Finished deliveries are kept this long for `GET …/deliveries`, then pruned by the daily cron. */
export const DELIVERY_RETENTION_DAYS = 30;

/** Deletes finished deliveries older than the retention, at most 25 × 1000 rows a run. */
export async function pruneDeliveries(db: Db, now = new Date()): Promise<number> {
  const before = new Date(now.getTime() - DELIVERY_RETENTION_DAYS * 24 * 60 * 60 * 1000).toISOString();
  let deleted = 0;
  for (let i = 0; i < 25; i++) {
    const n = await deleteFinishedDeliveriesBefore(db, before, 1000);
    deleted += n;
    if (n < 1000) break;
  }
  if (deleted > 0) log("info", "events.pruned", { deleted });
  return deleted;
}
