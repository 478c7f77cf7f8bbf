import { describe, expect, it } from "vitest";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

describe("event receivers", () => {
  it("record each POST's headers and raw body, answering the configured statuses in order, then 200", async () => {
    await emulator.control.configureReceiver("orders", [500, 410]);
    const url = emulator.control.receiverUrl("orders");
    const post = (body: string) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "webhook-id": "evt_1" },
        body,
      });

    const statuses = [
      (await post('{"n":1}')).status,
      (await post('{"n":2}')).status,
      (await post('{"n":3}')).status,
    ];

    expect(statuses).toEqual([500, 410, 200]);
    const { received } = await emulator.control.received("orders");
    expect(received.map((r) => [r.body, r.status, r.headers["webhook-id"]])).toEqual([
      ['{"n":1}', 500, "evt_1"],
      ['{"n":2}', 410, "evt_1"],
      ['{"n":3}', 200, "evt_1"],
    ]);
    expect((await emulator.control.received("another")).received).toEqual([]);
  });
});
