/**
 * The webhook inbox (SPEC §10). Intuit waits 3 seconds for an answer, retries for days, and holds
 * back later events until an earlier one is acknowledged (qbo-api.md A2). So the route writes a
 * verified delivery to D1 and answers 200 at once, whatever the queue is doing; the inbox is
 * drained into the queue after the response (`drainInboxRows`, in waitUntil, several deliveries together) and, for anything a
 * drain left behind, by the 15-minute cron (`redriveInbox`). A row leaves the inbox only once all
 * its events are queued, so a delivery answered 200 is never lost.
 */
import { z } from "zod";
import type { Db } from "../db/client";
import { completeInboxRows, insertInboxRows, leaseInboxRows, type NewInboxRow } from "../db/webhook-inbox";
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
 * Writes the events worth keeping to the inbox (a very large delivery becomes a few rows); no
 * rows when there are none, so a body of nothing we use costs no write. Throws when D1 fails:
 * the route then answers 503. Concurrent deliveries of this isolate are written together
 * (`InboxWriter`); `keepAlive` is the request's waitUntil, in case it writes for the others.
 */
export async function writeToInbox(
  env: Env,
  db: Db,
  events: EntityEvent[],
  keepAlive: (work: Promise<unknown>) => void,
  now = new Date(),
): Promise<{ id: number; events: EntityEvent[] }[]> {
  const kept = events.filter((e) => isOfInterest(e) || REMEMBERED.has(e.entity));
  if (kept.length === 0) return [];
  const parts: EntityEvent[][] = [];
  for (let i = 0; i < kept.length; i += EVENTS_PER_ROW) parts.push(kept.slice(i, i + EVENTS_PER_ROW));
  const receivedAt = now.toISOString();
  const leasedUntil = new Date(now.getTime() + INBOX_LEASE_MS).toISOString();
  let writer = writers.get(env);
  if (!writer) {
    writer = new InboxWriter(db);
    writers.set(env, writer);
  }
  const ids = await writer.write(
    parts.map((p) => ({ events: JSON.stringify(p), receivedAt, leasedUntil })),
    keepAlive,
  );
  return ids.map((id, i) => ({ id, events: parts[i] ?? [] }));
}

/** How long a delivery waits for another request to write it before writing it alone. */
const GROUP_WAIT_MS = 2_000;
/** Rows one group commit writes at most (4 INSERT statements in one D1 batch). */
const ROWS_PER_GROUP = 120;

/**
 * Group commit of the inbox's INSERTs, per Worker environment.
 *
 * Why: locally 50 concurrent deliveries made 50 D1 commits, one after the other, and the last
 * delivery's answer waited for all of them (bench 11). Here the first delivery writes at once,
 * and the deliveries that arrive while its INSERT is under way are written together by the next
 * one: a handful of commits, and nobody waits longer than before. Each delivery is still
 * answered only once its own rows are committed.
 *
 * The writing is done by the request that found no write under way; its waitUntil keeps it
 * alive for the others. Should Workers cut that request off, the others stop waiting after
 * GROUP_WAIT_MS and write alone (withdrawn from the queue of writes, unless a group already
 * took them: a row then written twice is drained twice, which queues nothing twice, since
 * replay keys are bound to the row that claimed them).
 */
const writers = new WeakMap<Env, InboxWriter>();

interface PendingWrite {
  rows: NewInboxRow[];
  done: (result: { ids: number[] } | { error: unknown }) => void;
}

class InboxWriter {
  #pending: PendingWrite[] = [];
  /** The write under way: which pump, and when its current group started. */
  #pump: { generation: number; groupStartedAt: number } | null = null;
  #generations = 0;

  constructor(private readonly db: Db) {}

  write(rows: NewInboxRow[], keepAlive: (work: Promise<unknown>) => void): Promise<number[]> {
    let entry: PendingWrite | undefined;
    const written = new Promise<number[]>((resolve, reject) => {
      entry = { rows, done: (r) => ("ids" in r ? resolve(r.ids) : reject(r.error)) };
      this.#pending.push(entry);
    });
    const pump = this.#pump;
    if (pump === null || Date.now() - pump.groupStartedAt > GROUP_WAIT_MS) {
      // A pump stuck longer than that belongs to a request Workers cut off: this one replaces it.
      const generation = ++this.#generations;
      this.#pump = { generation, groupStartedAt: Date.now() };
      keepAlive(this.#run(generation));
      return written;
    }
    // Written by another request's pump; only if that takes too long, written alone.
    return new Promise<number[]>((resolve, reject) => {
      let settled = false;
      const settle = (ids: number[] | null, error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(alone);
        if (ids) resolve(ids);
        else reject(error);
      };
      const alone = setTimeout(() => {
        if (settled) return;
        // Not taken by a group yet: withdrawn, so no pump writes it too.
        const index = entry ? this.#pending.indexOf(entry) : -1;
        if (index >= 0) this.#pending.splice(index, 1);
        insertInboxRows(this.db, rows).then(
          (ids) => settle(ids),
          (error) => settle(null, error),
        );
      }, GROUP_WAIT_MS);
      written.then(
        (ids) => settle(ids),
        (error) => settle(null, error),
      );
    });
  }

  async #run(generation: number): Promise<void> {
    try {
      while (this.#pending.length > 0) {
        if (this.#pump?.generation !== generation) return; // replaced: leave the rest to the new pump
        this.#pump = { generation, groupStartedAt: Date.now() };
        let count = 0;
        let rows = 0;
        while (count < this.#pending.length && (count === 0 || rows < ROWS_PER_GROUP))
          rows += this.#pending[count++]?.rows.length ?? 0;
        const group = this.#pending.splice(0, count);
        try {
          const ids = await insertInboxRows(
            this.db,
            group.flatMap((g) => g.rows),
          );
          let at = 0;
          for (const g of group) {
            g.done({ ids: ids.slice(at, at + g.rows.length) });
            at += g.rows.length;
          }
        } catch (error) {
          for (const g of group) g.done({ error });
        }
      }
    } finally {
      // No await between the last check and here: a write queued after it starts a new pump.
      if (this.#pump?.generation === generation) this.#pump = null;
    }
  }
}

/** A row ready to drain: its id, when it was received, and its events. */
interface DrainRow {
  id: number;
  receivedAt: string;
  events: EntityEvent[];
}

/**
 * Events one drain queues at most (50 rows of 100): the replay check's and the deliveries'
 * JSON parameters stay a few hundred KB, and the delete's ids under D1's 100 parameters.
 */
const EVENTS_PER_DRAIN = 5_000;
const ROWS_PER_DRAIN = 50;
/**
 * A drain loop hands over after this long: it runs in the waitUntil of the request that started
 * it, which Workers cut 30 s after the response. What it leaves is taken by the next request's
 * loop, or by the cron once the rows' lease runs out.
 */
const DRAIN_LOOP_MS = 10_000;

/**
 * Deliveries this isolate is acknowledging right now. A drain turn waits for them to be answered
 * first (at most ACK_PRIORITY_MS): Intuit's 3-second timeout is on the answer, while the queue
 * can wait a moment. Measured locally (bench 11), draining between the acknowledgements of 50
 * concurrent deliveries made the last of them wait for the drains' D1 writes and queue sends.
 */
let acknowledging = 0;
const ACK_PRIORITY_MS = 1_000;
const ACK_POLL_MS = 5;

/** The webhook route counts each delivery it is acknowledging; call the returned function once answered. */
export function acknowledgementStarted(): () => void {
  acknowledging++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    acknowledging--;
  };
}

/**
 * Resolves once no delivery is being acknowledged by this isolate (or after ACK_PRIORITY_MS).
 * The drains call it before each of their D1 writes and queue sends, not only once per turn:
 * deliveries that arrive during a drain then wait for one step of it, never the whole drain.
 */
export async function afterAcknowledgements(): Promise<void> {
  const until = Date.now() + ACK_PRIORITY_MS;
  while (acknowledging > 0 && Date.now() < until)
    await new Promise((resolve) => setTimeout(resolve, ACK_POLL_MS));
}

/**
 * The rows this isolate's requests wrote and have not drained yet, per Worker environment.
 *
 * Why together: 50 deliveries arriving at once would otherwise make 50 drains of 3 D1 writes
 * each and 100 queue messages, all while the other deliveries wait for their INSERT; locally
 * that tripled the acknowledgement p99 (bench 11). Drained together they cost 2 D1 writes and
 * one queue batch per loop turn, with one message per realm. The loop belongs to the request
 * that started it; the others' waitUntil waits on it, which Workers allow while that request is
 * alive (and the loop hands over well within its waitUntil). Whatever a loop does not finish
 * stays in D1, leased, for the cron: batching changes the cost, never what is kept.
 */
const drainers = new WeakMap<Env, InboxDrainer>();

class InboxDrainer {
  #rows: DrainRow[] = [];
  #loop: { done: Promise<void>; startedAt: number } | null = null;

  constructor(
    private readonly env: Env,
    private readonly db: Db,
  ) {}

  add(rows: DrainRow[]): Promise<void> {
    this.#rows.push(...rows);
    // A loop older than it may run belongs to a request Workers may have cut: start afresh.
    if (this.#loop === null || Date.now() - this.#loop.startedAt > 2 * DRAIN_LOOP_MS) {
      const startedAt = Date.now();
      this.#loop = { done: this.#run(startedAt), startedAt };
    }
    return this.#loop.done;
  }

  async #run(startedAt: number): Promise<void> {
    try {
      while (this.#rows.length > 0 && Date.now() - startedAt < DRAIN_LOOP_MS) {
        // Taken once the deliveries being answered are: their rows join this turn.
        await afterAcknowledgements();
        await drainTogether(this.env, this.db, takeBatch(this.#rows));
      }
    } finally {
      // No await between the last check and here: a row added after it starts a new loop.
      if (this.#loop?.startedAt === startedAt) this.#loop = null;
    }
  }
}

/** The oldest rows, up to one drain's worth (always at least one row). */
function takeBatch(rows: DrainRow[]): DrainRow[] {
  let events = 0;
  let count = 0;
  while (count < rows.length && count < ROWS_PER_DRAIN) {
    events += rows[count]?.events.length ?? 0;
    if (count > 0 && events > EVENTS_PER_DRAIN) break;
    count++;
  }
  return rows.splice(0, count);
}

/**
 * Drains the rows the request just wrote (it holds their first lease), together with those of
 * concurrent requests of this isolate. Never throws: what fails stays in the inbox for the cron.
 */
export function drainInboxRows(
  env: Env,
  db: Db,
  rows: { id: number; events: EntityEvent[] }[],
  receivedAt: string,
): Promise<void> {
  let drainer = drainers.get(env);
  if (!drainer) {
    drainer = new InboxDrainer(env, db);
    drainers.set(env, drainer);
  }
  return drainer.add(rows.map((r) => ({ ...r, receivedAt })));
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
    const leased = await leaseInboxRows(db, {
      now: now.toISOString(),
      leaseUntil: new Date(now.getTime() + INBOX_LEASE_MS).toISOString(),
      limit: REDRIVE_PAGE,
    });
    if (leased.length === 0) break;
    taken += leased.length;
    const rows: DrainRow[] = [];
    const unreadable: number[] = [];
    for (const row of leased) {
      const parsed = InboxEvents.safeParse(safeJson(row.events));
      if (parsed.success) rows.push({ id: row.id, receivedAt: row.receivedAt, events: parsed.data });
      else unreadable.push(row.id);
    }
    if (unreadable.length > 0) {
      // Written by us, so this cannot happen short of a manual edit: nothing in it can be queued.
      log("error", "webhook.inbox_row_unreadable", { ids: unreadable.map(String) });
      await completeInboxRows(db, unreadable, []);
      drained += unreadable.length;
    }
    while (rows.length > 0) {
      const batch = takeBatch(rows);
      if (await drainTogether(env, db, batch)) drained += batch.length;
      else left += batch.length;
    }
    if (leased.length < REDRIVE_PAGE) break;
  }
  if (drained + left > 0) log("info", "cron.inbox_redriven", { drained, left });
  return { drained, left };
}

/** Queues the rows' events, then deletes the rows; false (and the rows kept) when that failed. */
async function drainTogether(env: Env, db: Db, rows: DrainRow[]): Promise<boolean> {
  try {
    await acceptWebhookEvents(
      env.SYNC_QUEUE,
      db,
      rows.map((r) => ({ inboxId: r.id, events: r.events })),
      afterAcknowledgements,
    );
    await afterAcknowledgements();
    await completeInboxRows(
      db,
      rows.map((r) => r.id),
      rows.flatMap((r) => deliveredChanges(r.events, r.receivedAt)),
    );
    return true;
  } catch (err) {
    log("warn", "webhook.inbox_drain_failed", {
      ids: rows.map((r) => String(r.id)),
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
      receivedAt,
    }));
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}
