import { z } from "zod";

/** A `platform-events` queue message: the delivery row to attempt. Everything else is read from D1. */
export const DeliveryMessage = z.object({ deliveryId: z.number().int().positive() });
export type DeliveryMessage = z.infer<typeof DeliveryMessage>;

/** Sends in batches of 100 (the Queues limit per sendBatch). */
export async function enqueueDeliveries(queue: Queue, ids: number[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 100) {
    await queue.sendBatch(ids.slice(i, i + 100).map((deliveryId) => ({ body: { deliveryId } })));
  }
}
