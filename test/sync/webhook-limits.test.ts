/** The webhook's body ceiling: 1 MB, enforced before any signature work, however the body arrives. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/app";
import { WEBHOOK_MAX_BYTES } from "../../src/http/webhooks";
import { createConference, sign } from "../helpers";

const MB = 1024 * 1024;
const REALM = "4620816365300999";
let invoiceId = 0;

/** A classic delivery naming one invoice of a known realm, padded with JSON whitespace to `size` bytes. */
function deliveryOfSize(size: number): string {
  invoiceId++;
  const json = JSON.stringify({
    eventNotifications: [
      {
        realmId: REALM,
        dataChangeEvent: {
          entities: [{ name: "Invoice", id: `${900_000 + invoiceId}`, operation: "Update" }],
        },
      },
    ],
  });
  return json + " ".repeat(size - new TextEncoder().encode(json).byteLength);
}

/** A queue that only records what it is given, so a test sees exactly what would be queued. */
function recordingQueue() {
  const sent: unknown[] = [];
  const queue = {
    send: async (body: unknown) => void sent.push(body),
    sendBatch: async (messages: { body: unknown }[]) => void sent.push(...messages.map((m) => m.body)),
  } as unknown as Queue;
  return { queue, sent };
}

async function post(body: BodyInit, headers: Record<string, string>) {
  const { queue, sent } = recordingQueue();
  const ctx = createExecutionContext();
  const res = await createApp().fetch(
    new Request("http://worker.test/webhooks/qbo", { method: "POST", body, headers }),
    { ...env, SYNC_QUEUE: queue },
    ctx,
  );
  await waitOnExecutionContext(ctx);
  return { status: res.status, body: (await res.json()) as any, sent };
}

async function storedEventCount(): Promise<number> {
  const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_events").first<{ n: number }>();
  return row?.n ?? 0;
}

/** A body that arrives in `chunk`-byte pieces with no Content-Length; `pulls` counts pieces read. */
function chunkedStream(text: string, chunk: number) {
  const bytes = new TextEncoder().encode(text);
  const state = { pulls: 0 };
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const start = state.pulls * chunk;
        if (start >= bytes.byteLength) return controller.close();
        state.pulls++;
        controller.enqueue(bytes.slice(start, start + chunk));
      },
    },
    { highWaterMark: 0 }, // pulled only when the reader asks
  );
  return { stream, state };
}

beforeAll(async () => {
  await createConference("limits-conf", {
    name: "Limits Conf",
    qbo: { realmId: REALM, environment: "sandbox" },
  });
});

describe("the webhook body limit", () => {
  it("is 1 MB", () => {
    expect(WEBHOOK_MAX_BYTES).toBe(MB);
  });

  it("answers 413 payload_too_large to a validly signed body of 1 MB + 1 byte, and queues and records nothing", async () => {
    const body = deliveryOfSize(MB + 1);
    const before = await storedEventCount();
    const res = await post(body, {
      "content-type": "application/json",
      "content-length": String(MB + 1),
      "intuit-signature": await sign(body),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
    expect(res.sent).toEqual([]);
    expect(await storedEventCount()).toBe(before);
  });

  it("accepts a validly signed body of exactly 1 MB and queues its event", async () => {
    const body = deliveryOfSize(MB);
    const before = await storedEventCount();
    const res = await post(body, {
      "content-type": "application/json",
      "content-length": String(MB),
      "intuit-signature": await sign(body),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ status: "accepted", received: 1 });
    expect(res.sent).toHaveLength(1);
    expect(await storedEventCount()).toBe(before + 1);
  });

  it("answers 413 before looking at the signature", async () => {
    const res = await post(deliveryOfSize(MB + 1), { "intuit-signature": "bm90IGEgc2lnbmF0dXJl" });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
  });

  it("refuses a declared Content-Length over 1 MB without reading the body", async () => {
    let pulled = false;
    const endless = new ReadableStream<Uint8Array>(
      {
        pull() {
          pulled = true;
          return new Promise(() => {}); // never delivers: reading it would hang the test
        },
      },
      { highWaterMark: 0 },
    );
    const res = await post(endless, { "content-length": String(MB + 1), "intuit-signature": "x" });
    expect(res.status).toBe(413);
    expect(pulled).toBe(false);
  });

  it("answers 413 to a chunked body without Content-Length once it passes 1 MB, and stops reading there", async () => {
    const body = deliveryOfSize(2 * MB);
    const { stream, state } = chunkedStream(body, 64 * 1024);
    const before = await storedEventCount();
    const res = await post(stream, {
      "content-type": "application/json",
      "intuit-signature": await sign(body),
    });
    expect(res.status).toBe(413);
    expect(res.body.error.code).toBe("payload_too_large");
    expect(res.sent).toEqual([]);
    expect(await storedEventCount()).toBe(before);
    // 16 pieces make 1 MB; the 17th crosses the limit and nothing after it is read.
    expect(state.pulls).toBe(17);
  });

  it("accepts a chunked body without Content-Length under the limit, verifying the signature over all of it", async () => {
    const body = deliveryOfSize(MB - 10);
    const { stream } = chunkedStream(body, 64 * 1024);
    const res = await post(stream, {
      "content-type": "application/json",
      "intuit-signature": await sign(body),
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ received: 1 });
    expect(res.sent).toHaveLength(1);
  });
});
