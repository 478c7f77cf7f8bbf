/**
 * The PO timeline and the conference's event feed (SPEC §11 "History"; the feed is what §12
 * delivers to the conference platform). Reads only: events are written by the mutations
 * themselves, in their own D1 batches (db/po-events.ts).
 */
import type { Db } from "../db/client";
import { conferenceEvents, type PoEventRow, poTimeline } from "../db/po-events";
import { requireConference, requirePo } from "./conferences";

export async function purchaseOrderHistory(db: Db, slug: string, reference: string): Promise<PoEventRow[]> {
  const po = await requirePo(db, slug, reference);
  return poTimeline(db, po.id);
}

/**
 * One page of the conference's events after `since` (an event id; 0 from the beginning),
 * ascending. `nextSince` is what to pass next time: the last id of the page, or `since` when
 * nothing is new. A page shorter than `limit` means the reader has caught up.
 */
export async function conferenceEventFeed(
  db: Db,
  slug: string,
  query: { since: number; limit: number },
): Promise<{ items: PoEventRow[]; nextSince: number }> {
  await requireConference(db, slug);
  const items = await conferenceEvents(db, slug, query.since, query.limit);
  return { items, nextSince: items.at(-1)?.id ?? query.since };
}
