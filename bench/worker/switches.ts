/**
 * Switches of the bench Worker, set through `POST /__bench/queue-failing` (./routes.ts) and read
 * by its fetch handler (./index.ts). Module state: `wrangler dev` runs the bench Worker in one
 * isolate, which is all a benchmark needs.
 */
export const benchSwitches = { queueFailing: false };

/** A SYNC_QUEUE whose every send fails, as a Queues outage would. */
export const failingQueue = {
  send: async () => {
    throw new Error("bench: queue sends are switched off");
  },
  sendBatch: async () => {
    throw new Error("bench: queue sends are switched off");
  },
} as unknown as Queue;
