/**
 * Intuit webhooks: signature check and parsing of both delivery formats into one list of
 * entity events. Verification happens on the raw bytes, before any parsing.
 */
import { z } from "zod";
import { base64ToBytes } from "../connections/crypto";
import { timingSafeEqualBytes } from "../lib/secure-compare";

/**
 * True when `signature` is base64(HMAC-SHA256(body, verifierToken)).
 *
 * Why on the raw bytes, before any parsing: Intuit signs the exact bytes it sent. Parsing and
 * re-serialising (key order, whitespace, number formats, unicode escapes) would change them,
 * so a real delivery could fail and, worse, a parser quirk would run on unauthenticated input.
 * Why constant time: a comparison that stops at the first wrong byte lets an attacker learn a
 * valid signature byte by byte from response timings (see lib/secure-compare.ts).
 * A signature that is not base64 is simply wrong (false), never an exception.
 */
export async function verifyIntuitSignature(
  body: ArrayBuffer,
  signature: string,
  verifierToken: string,
): Promise<boolean> {
  let given: Uint8Array;
  try {
    given = base64ToBytes(signature.trim());
  } catch {
    return false;
  }
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(verifierToken),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const expected = new Uint8Array(await crypto.subtle.sign("HMAC", key, body));
  return timingSafeEqualBytes(expected, given);
}

export interface EntityEvent {
  realmId: string;
  entity: string;
  id: string;
  operation: string;
  /** For a Merge: the id that was merged away into `id` (classic `deletedId`, CloudEvents `data.deletedid`). */
  mergedId?: string | undefined;
  /** Identifies the delivery of this event, for de-duplication of replays. */
  eventKey: string;
  /** When QBO changed the entity (classic `lastUpdated`, CloudEvents `time`), as QBO spelled it. */
  lastUpdated?: string | undefined;
}

const Id = z.union([z.string().min(1).max(64), z.number().int().nonnegative()]).transform(String);

const ClassicEntity = z.object({
  name: z.string().min(1).max(64),
  id: Id,
  operation: z.string().min(1).max(32),
  lastUpdated: z.string().max(64).optional(),
  deletedId: Id.nullish(),
});

const ClassicBody = z.object({
  eventNotifications: z.array(z.unknown()),
});

const ClassicNotification = z.object({
  realmId: Id,
  dataChangeEvent: z.object({ entities: z.array(z.unknown()) }),
});

const CloudEvent = z.object({
  id: z.string().min(1).max(128),
  type: z.string().regex(/^qbo\.[a-z]+\.[a-z]+\.v\d+$/),
  intuitaccountid: Id,
  intuitentityid: Id,
  // ISO text in Intuit's samples; epoch milliseconds have been seen too. Anything else is dropped.
  time: z
    .union([z.string().max(64), z.number()])
    .nullish()
    .catch(null),
  // `data` may hold content (qbo-api.md A2: alternative_ids, deletedid): only `deletedid` is read.
  data: z
    .object({ deletedid: Id.nullish().catch(null) })
    .nullish()
    .catch(null),
});

/** CloudEvents name entities in lower case (`qbo.creditmemo.created.v1`); ours are QBO's names. */
const ENTITIES: Record<string, string> = {
  invoice: "Invoice",
  payment: "Payment",
  creditmemo: "CreditMemo",
  customer: "Customer",
  salesreceipt: "SalesReceipt",
  refundreceipt: "RefundReceipt",
  journalentry: "JournalEntry",
  deposit: "Deposit",
};

const OPERATIONS: Record<string, string> = {
  created: "Create",
  updated: "Update",
  deleted: "Delete",
  voided: "Void",
  void: "Void",
  emailed: "Emailed",
  merged: "Merge",
};

/**
 * Every well-formed entity event in the body, in either format. Malformed parts are skipped
 * (and counted), never fatal: Intuit must get its 200 and not retry a body we cannot read.
 */
export function parseWebhookEvents(body: unknown): { events: EntityEvent[]; skipped: number } {
  const events: EntityEvent[] = [];
  let skipped = 0;
  if (Array.isArray(body)) {
    for (const item of body) {
      const ce = CloudEvent.safeParse(item);
      if (!ce.success) {
        skipped++;
        continue;
      }
      const [, entity = "", verb = ""] = ce.data.type.split(".");
      events.push({
        realmId: ce.data.intuitaccountid,
        entity: ENTITIES[entity] ?? entity.charAt(0).toUpperCase() + entity.slice(1),
        id: ce.data.intuitentityid,
        operation: OPERATIONS[verb] ?? verb,
        mergedId: ce.data.data?.deletedid ?? undefined,
        eventKey: `ce:${ce.data.id}`,
        lastUpdated: ce.data.time == null ? undefined : String(ce.data.time),
      });
    }
    return { events, skipped };
  }
  const classic = ClassicBody.safeParse(body);
  if (!classic.success) return { events, skipped: 1 };
  for (const raw of classic.data.eventNotifications) {
    const n = ClassicNotification.safeParse(raw);
    if (!n.success) {
      skipped++;
      continue;
    }
    for (const rawEntity of n.data.dataChangeEvent.entities) {
      const e = ClassicEntity.safeParse(rawEntity);
      if (!e.success) {
        skipped++;
        continue;
      }
      events.push({
        realmId: n.data.realmId,
        entity: e.data.name,
        id: e.data.id,
        operation: e.data.operation,
        mergedId: e.data.deletedId ?? undefined,
        eventKey: `classic:${n.data.realmId}:${e.data.name}:${e.data.id}:${e.data.operation}:${e.data.lastUpdated ?? ""}`,
        lastUpdated: e.data.lastUpdated,
      });
    }
  }
  return { events, skipped };
}

/** A customer merged into another in QBO: remembered ids must follow (SPEC §8). */
export function isCustomerMerge(e: EntityEvent): e is EntityEvent & { mergedId: string } {
  return e.entity === "Customer" && e.operation === "Merge" && Boolean(e.mergedId);
}

/**
 * The events that change what a PO has been paid, or which customer it belongs to. Every
 * Payment and CreditMemo operation counts: a deleted or voided one is traced to the POs whose
 * rows carry its id (sync/consumer.ts), so its counterpart is voided here too.
 */
export function isOfInterest(e: EntityEvent): boolean {
  if (isCustomerMerge(e)) return true;
  if (e.entity === "Payment" || e.entity === "CreditMemo")
    return ["Create", "Update", "Delete", "Void"].includes(e.operation);
  if (e.entity === "Invoice") return ["Update", "Void", "Delete", "Emailed"].includes(e.operation);
  return false;
}
