/**
 * SYNC_QUEUE consumer. Messages of one batch are coalesced: webhook events per realm (the
 * payments read with one query, followed through LinkedTxn), invoice batches per conference.
 * Each group is reconciled through the same `reconcilePurchaseOrders` as the API route.
 * Every message is acked or retried on its own; nothing throws out of the handler.
 */
import { qboClientFor } from "../connections";
import { type D1Counter, type Db, makeDb } from "../db/client";
import { findConference, findConferencesByRealm } from "../db/conferences";
import { failPendingOfPo } from "../db/ledger-outbox";
import {
  findPosByInvoiceIds,
  forgetMessageError,
  recordDeadLetter,
  recordSyncRun,
  rememberMessageError,
} from "../db/sync-bookkeeping";
import { SYSTEM_CONTEXT } from "../domain/events";
import { pushPurchaseOrder } from "../ledger/push";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { QboError } from "../qbo/client";
import { posConcernedBy, reconcilePurchaseOrders, syncBatchSize } from "../services/reconcile";
import { type EventsMessage, type InvoicesMessage, SyncMessage } from "./messages";

const DEAD_LETTER_QUEUE = "qbo-sync-dlq";

/** Seconds before retry: honours Retry-After, else 1, 2, 4… capped at 5 minutes. */
export function retryDelaySeconds(attempts: number, retryAfterSeconds: number | null): number {
  const backoff = Math.min(2 ** Math.max(0, attempts - 1), 300);
  return Math.ceil(Math.max(backoff, retryAfterSeconds ?? 0));
}

export async function handleQueueBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  if (batch.queue === DEAD_LETTER_QUEUE) return handleDeadLetters(batch, env);
  const db = makeDb(env.DB);
  const events = new Map<string, Message<unknown>[]>();
  const invoices = new Map<string, Message<unknown>[]>();
  const ledger = new Map<number, Message<unknown>[]>();
  const bodies = new Map<Message<unknown>, SyncMessage>();
  for (const msg of batch.messages) {
    const parsed = SyncMessage.safeParse(msg.body);
    if (!parsed.success) {
      log("error", "sync.invalid_message", { id: msg.id, issues: parsed.error.issues.length });
      msg.ack();
      continue;
    }
    bodies.set(msg, parsed.data);
    if (parsed.data.type === "ledger") {
      const poId = parsed.data.purchaseOrderId;
      ledger.set(poId, [...(ledger.get(poId) ?? []), msg]);
      continue;
    }
    const group = parsed.data.type === "events" ? events : invoices;
    const key = parsed.data.type === "events" ? parsed.data.realmId : parsed.data.conference;
    group.set(key, [...(group.get(key) ?? []), msg]);
  }
  // Each group gets its own D1 counter, so its sync run records its own statements.
  const counted = () => {
    const counter: D1Counter = { statements: 0 };
    return { gdb: makeDb(env.DB, counter), counter };
  };
  const work: Promise<void>[] = [];
  for (const [realmId, msgs] of events) {
    const { gdb, counter } = counted();
    const list = msgs.map((m) => bodies.get(m) as EventsMessage);
    work.push(settle(db, msgs, bodies, () => syncRealmEvents(env, gdb, counter, realmId, list)));
  }
  for (const [slug, msgs] of invoices) {
    const { gdb, counter } = counted();
    const list = msgs.map((m) => bodies.get(m) as InvoicesMessage);
    work.push(settle(db, msgs, bodies, () => syncConferenceInvoices(env, gdb, counter, slug, list)));
  }
  // One push run per PO however many messages name it: the outbox rows say what to do.
  for (const [poId, msgs] of ledger)
    work.push(settle(db, msgs, bodies, () => pushPurchaseOrder(env, db, poId)));
  await Promise.all(work);
}

/** Acks the group's messages on success; otherwise retries them (transient) or records the failure (permanent). */
async function settle(
  db: Db,
  msgs: Message<unknown>[],
  bodies: Map<Message<unknown>, SyncMessage>,
  run: () => Promise<void>,
): Promise<void> {
  try {
    await run();
    for (const msg of msgs) {
      if (msg.attempts > 1)
        await forgetMessageError(db, (bodies.get(msg) as SyncMessage).key).catch(() => undefined);
      msg.ack();
    }
  } catch (err) {
    const description = describe(err);
    const transient =
      !(err instanceof QboError || err instanceof ApiError) || (err instanceof QboError && err.transient);
    const retryAfter = err instanceof QboError ? err.retryAfterSeconds : null;
    const now = new Date().toISOString();
    for (const msg of msgs) {
      const body = bodies.get(msg) as SyncMessage;
      log("warn", "sync.message_failed", {
        key: body.key,
        attempts: msg.attempts,
        transient,
        error: description,
      });
      try {
        if (transient) {
          await rememberMessageError(db, body.key, description, msg.attempts, now);
          msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, retryAfter) });
        } else {
          await recordDeadLetter(db, { ...failureOf(body, msg.attempts), error: description }, now);
          msg.ack();
        }
      } catch (bookkeeping) {
        log("error", "sync.bookkeeping_failed", { key: body.key, error: describe(bookkeeping) });
        msg.retry({ delaySeconds: retryDelaySeconds(msg.attempts, retryAfter) });
      }
    }
  }
}

/**
 * Webhook events of one realm: payments → their invoices, credit memos and payments → the POs
 * whose rows carry them, plus invoices named directly; each reconciled whatever its status
 * (a payment voided in QBO reopens a paid PO).
 */
async function syncRealmEvents(
  env: Env,
  db: Db,
  counter: D1Counter,
  realmId: string,
  messages: EventsMessage[],
): Promise<void> {
  const startedAt = new Date().toISOString();
  const conferences = await findConferencesByRealm(db, realmId);
  const [first] = conferences;
  if (!first) {
    log("info", "sync.realm_unknown", { realmId });
    return;
  }
  // Pinned to the webhook's realm: a conference whose tokens now open another company must
  // not read that company's payments with these ids.
  const { pos, qboReads, paymentsRead } = await posConcernedBy(
    db,
    qboClientFor(env, first, realmId),
    realmId,
    {
      invoiceIds: messages.flatMap((m) => m.invoiceIds),
      paymentIds: messages.flatMap((m) => m.paymentIds),
      creditMemoIds: messages.flatMap((m) => m.creditMemoIds),
    },
  );
  let paymentReads = qboReads;
  const byConference = groupBy(pos, (po) => po.conferenceSlug);
  for (const conference of conferences) {
    const mine = byConference.get(conference.slug);
    if (!mine) continue;
    const client = qboClientFor(env, conference);
    const outcome = await reconcilePurchaseOrders(db, client, mine, syncBatchSize(env), SYSTEM_CONTEXT, {
      includeSettled: true,
      paymentsRead,
    });
    await recordSyncRun(db, {
      conferenceSlug: conference.slug,
      trigger: messages[0]?.trigger ?? "webhook",
      startedAt,
      finishedAt: new Date().toISOString(),
      invoicesChecked: outcome.invoicesChecked,
      paymentsRecorded: outcome.paymentsRecorded,
      creditNotesRecorded: outcome.creditNotesRecorded,
      ledgerFallback: outcome.ledgerFallback,
      qboRequests: client.requests + paymentReads,
      d1Statements: counter.statements + 1,
    });
    paymentReads = 0;
    counter.statements = 0;
  }
}

/** Invoice batches planned by cron or the sync route, for one conference. */
async function syncConferenceInvoices(
  env: Env,
  db: Db,
  counter: D1Counter,
  slug: string,
  messages: InvoicesMessage[],
): Promise<void> {
  const startedAt = new Date().toISOString();
  const conference = await findConference(db, slug);
  if (!conference) {
    log("info", "sync.conference_gone", { conference: slug });
    return;
  }
  const pos = await findPosByInvoiceIds(
    db,
    { conferenceSlug: slug },
    messages.flatMap((m) => m.invoiceIds),
  );
  const client = qboClientFor(env, conference);
  const outcome = await reconcilePurchaseOrders(db, client, pos, syncBatchSize(env), SYSTEM_CONTEXT);
  await recordSyncRun(db, {
    conferenceSlug: slug,
    trigger: messages[0]?.trigger ?? "cron",
    startedAt,
    finishedAt: new Date().toISOString(),
    invoicesChecked: outcome.invoicesChecked,
    paymentsRecorded: outcome.paymentsRecorded,
    creditNotesRecorded: outcome.creditNotesRecorded,
    ledgerFallback: outcome.ledgerFallback,
    qboRequests: client.requests,
    d1Statements: counter.statements + 1,
  });
}

/** Dead-letter consumer: makes each exhausted message visible in sync_failures, once. */
async function handleDeadLetters(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const db = makeDb(env.DB);
  for (const msg of batch.messages) {
    const parsed = SyncMessage.safeParse(msg.body);
    try {
      if (parsed.success && parsed.data.type === "ledger") {
        // A push that exhausted its retries: its entries show `failed`, listed and retryable.
        const reason = `QuickBooks could not be reached after ${msg.attempts} attempts.`;
        await failPendingOfPo(db, parsed.data.purchaseOrderId, reason, new Date().toISOString());
      } else if (parsed.success)
        await recordDeadLetter(db, failureOf(parsed.data, msg.attempts), new Date().toISOString());
      else log("error", "sync.invalid_dead_letter", { id: msg.id });
      msg.ack();
    } catch (err) {
      log("error", "sync.dead_letter_failed", { id: msg.id, error: describe(err) });
      msg.retry({ delaySeconds: 30 });
    }
  }
}

function failureOf(body: SyncMessage, attempts: number) {
  if (body.type === "ledger") {
    return { messageKey: body.key, conferenceSlug: body.conference, realmId: null, invoiceIds: [], attempts };
  }
  return body.type === "events"
    ? {
        messageKey: body.key,
        conferenceSlug: null,
        realmId: body.realmId,
        invoiceIds: body.invoiceIds,
        attempts,
      }
    : {
        messageKey: body.key,
        conferenceSlug: body.conference,
        realmId: null,
        invoiceIds: body.invoiceIds,
        attempts,
      };
}

function describe(err: unknown): string {
  if (err instanceof QboError) {
    return `${err.message}${err.intuitTid ? ` (intuit_tid ${err.intuitTid})` : ""}`.slice(0, 500);
  }
  if (err instanceof Error) return `${err.name}: ${err.message}`.slice(0, 500);
  return "unknown error";
}

function groupBy<T>(items: T[], key: (item: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) map.set(key(item), [...(map.get(key(item)) ?? []), item]);
  return map;
}
