/**
 * The webhook inbox (SPEC §10). Intuit waits 3 seconds for an answer, retries for days, and holds
 * back later events until an earlier one is acknowledged (qbo-api.md A2). So the route writes a
 * verified delivery to D1 and answers 200 at once, whatever the queue is doing; the inbox is
 * drained into the queue after the response (`drainInboxRow`, in waitUntil) and, for anything a
 * drain left behind, by the 15-minute cron (`redriveInbox`). A row leaves the inbox only once all
 * its events are queued, so a delivery answered 200 is never lost.
 */
import { z } from "zod";
import type { Db } from "../db/client";
import { completeInboxRow, type InboxRow, insertInboxRows, leaseInboxRows } from "../db/webhook-inbox";
import { log } from "../lib/log";
import { qboEpochSeconds } from "../qbo/time";
import { type EntityEvent, isOfInterest } from "../qbo/webhook";
import { acceptWebhookEvents } from "./intake";

/** A drain holds its row this long; a drain that died lets the cron take the row after it. */
export const INBOX_LEASE_MS = 60_000;
/** Rows one cron run re-drives at most: a 100-event row costs about 13 D1 statements, and one invocation may make 1,000 (the rest waits 15 minutes). */
const REDRIVE_LIMIT = 40;
const REDRIVE_PAGE = 20;

/** The entities the change feed reads. */
export const CHANGE_FEED_ENTITIES = ["Invoice", "Payment", "CreditMemo", "Customer"] as const;
/** Deliveries remembered for `webhooksMissed`, which counts changes of these (customers only merge). */
const REMEMBERED = new Set<string>(["Invoice", "Payment", "CreditMemo"]);

const InboxEvent = z.object({
  realmId: z.string().min(1),
  entity: z.string().min(1),
  id: z.string().min(1),
  operation: z.string(),
  mergedId: z.string().optional(),
  eventKey: z.string().min(1),
  lastUpdated: z.string().optional(),
});
/** What an inbox row's `events` column holds: the delivery's events, as parsed by the route. */
const InboxEvents = z.array(InboxEvent);

/** Events per inbox row: a row stays far below D1's 2 MB limit whatever the delivery's size. */
const EVENTS_PER_ROW = 1000;

/**
 * Writes the events worth keeping to the inbox (one INSERT; a very large delivery becomes a
 * few rows); no rows when there are none, so a body of nothing we use costs no write. Throws
 * when D1 fails: the route then answers 503.
 */
export async function writeToInbox(
  db: Db,
  events: EntityEvent[],
  now = new Date(),
): Promise<{ id: number; events: EntityEvent[] }[]> {
  const kept = events.filter((e) => isOfInterest(e) || REMEMBERED.has(e.entity));
  if (kept.length === 0) return [];
  const parts: EntityEvent[][] = [];
  for (let i = 0; i < kept.length; i += EVENTS_PER_ROW) parts.push(kept.slice(i, i + EVENTS_PER_ROW));
  const ids = await insertInboxRows(
    db,
    parts.map((p) => JSON.stringify(p)),
    { receivedAt: now.toISOString(), leasedUntil: new Date(now.getTime() + INBOX_LEASE_MS).toISOString() },
  );
  return ids.map((id, i) => ({ id, events: parts[i] ?? [] }));
}

/**
 * Drains the rows the request just wrote (it holds their first lease). Never throws: what
 * fails stays in the inbox for the cron.
 */
export async function drainInboxRows(
  env: Env,
  db: Db,
  rows: { id: number; events: EntityEvent[] }[],
  receivedAt: string,
): Promise<void> {
  for (const row of rows)
    await drain(env, db, { id: row.id, receivedAt, events: "", attempts: 1 }, row.events);
}

/** The cron's pass: every row whose lease ran out (a failed or interrupted drain), oldest first. */
export async function redriveInbox(
  env: Env,
  db: Db,
  now = new Date(),
): Promise<{ drained: number; left: number }> {
  let drained = 0;
  let left = 0;
  for (let taken = 0; taken < REDRIVE_LIMIT; ) {
    const rows = await leaseInboxRows(db, {
      now: now.toISOString(),
      leaseUntil: new Date(now.getTime() + INBOX_LEASE_MS).toISOString(),
      limit: REDRIVE_PAGE,
    });
    if (rows.length === 0) break;
    taken += rows.length;
    for (const row of rows) {
      if (await drain(env, db, row)) drained++;
      else left++;
    }
    if (rows.length < REDRIVE_PAGE) break;
  }
  if (drained + left > 0) log("info", "cron.inbox_redriven", { drained, left });
  return { drained, left };
}

async function drain(env: Env, db: Db, row: InboxRow, known?: EntityEvent[]): Promise<boolean> {
  let events = known;
  if (!events) {
    const parsed = InboxEvents.safeParse(safeJson(row.events));
    if (!parsed.success) {
      // Written by us, so this cannot happen short of a manual edit: nothing in it can be queued.
      log("error", "webhook.inbox_row_unreadable", { id: row.id });
      await completeInboxRow(db, row.id, [], row.receivedAt);
      return true;
    }
    events = parsed.data;
  }
  try {
    await acceptWebhookEvents(env.SYNC_QUEUE, db, events, row.id);
    await completeInboxRow(db, row.id, deliveredChanges(events, row.receivedAt), row.receivedAt);
    return true;
  } catch (err) {
    log("warn", "webhook.inbox_drain_failed", {
      id: row.id,
      attempts: row.attempts,
      error: err instanceof Error ? `${err.name}: ${err.message}`.slice(0, 300) : "unknown",
    });
    return false;
  }
}

/** The changes a delivery told us about; an event without a usable time counts as of its receipt. */
function deliveredChanges(events: EntityEvent[], receivedAt: string) {
  const received = Math.floor(Date.parse(receivedAt) / 1000);
  return events
    .filter((e) => REMEMBERED.has(e.entity))
    .map((e) => ({
      realmId: e.realmId,
      entity: e.entity,
      entityId: e.id,
      lastUpdated: qboEpochSeconds(e.lastUpdated) ?? received,
    }));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
