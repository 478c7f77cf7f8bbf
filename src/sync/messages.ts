/**
 * Queue message bodies of SYNC_QUEUE. Every message carries a `key` (a UUID made when it was
 * enqueued) so its failures can be recorded once, even across retries and the dead-letter queue.
 */
import { z } from "zod";
import { SYNC_TRIGGERS } from "../domain/reconcile";

const InvoiceId = z.string().min(1).max(64);

export const EventsMessage = z.object({
  type: z.literal("events"),
  key: z.string().min(1).max(64),
  realmId: z.string().min(1).max(32),
  paymentIds: z.array(InvoiceId).max(1000),
  invoiceIds: z.array(InvoiceId).max(1000),
  /** CreditMemo events (absent in messages queued before credit memos were followed). */
  creditMemoIds: z.array(InvoiceId).max(1000).default([]),
  /** Who found the changes: a webhook (absent) or the change feed (src/sync/change-feed.ts). */
  trigger: z.enum(["webhook", "cdc"]).optional(),
});

export const InvoicesMessage = z.object({
  type: z.literal("invoices"),
  key: z.string().min(1).max(64),
  conference: z.string().min(1).max(63),
  trigger: z.enum(SYNC_TRIGGERS).exclude(["webhook"]),
  invoiceIds: z.array(InvoiceId).min(1).max(1000),
});

/** The ledger outbox (src/ledger): push the pending entries of one PO to QuickBooks. */
export const LedgerMessage = z.object({
  type: z.literal("ledger"),
  key: z.string().min(1).max(64),
  conference: z.string().min(1).max(63),
  purchaseOrderId: z.number().int().positive(),
});

export const SyncMessage = z.discriminatedUnion("type", [EventsMessage, InvoicesMessage, LedgerMessage]);
export type SyncMessage = z.infer<typeof SyncMessage>;
export type EventsMessage = z.infer<typeof EventsMessage>;
export type InvoicesMessage = z.infer<typeof InvoicesMessage>;
export type LedgerMessage = z.infer<typeof LedgerMessage>;

/** Queues' sendBatch limits: 100 messages and 256 KB per call; we stay well inside both. */
const MAX_BATCH_MESSAGES = 100;
const MAX_BATCH_BYTES = 200_000;

export async function enqueueAll(queue: Queue, messages: SyncMessage[]): Promise<void> {
  let batch: MessageSendRequest[] = [];
  let bytes = 0;
  for (const body of messages) {
    const size = JSON.stringify(body).length + 100;
    if (batch.length === MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES) {
      await queue.sendBatch(batch);
      batch = [];
      bytes = 0;
    }
    batch.push({ body, contentType: "json" });
    bytes += size;
  }
  if (batch.length > 0) await queue.sendBatch(batch);
}
