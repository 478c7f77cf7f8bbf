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

  it("misbehaves at random when told, seeded, and at most maxFailuresPerId times for one webhook-id", async () => {
    const chaos = { seed: 7, failRate: 0.5, hangRate: 0.2, hangMs: 300, maxFailuresPerId: 2 };
    const run = async (name: string) => {
      await emulator.control.configureReceiver(name, [], chaos);
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const res = await fetch(emulator.control.receiverUrl(name), {
          method: "POST",
          headers: { "webhook-id": `evt_${i % 5}` },
          body: "{}",
        });
        statuses.push(res.status);
        await res.body?.cancel();
      }
      return (await emulator.control.received(name)).received;
    };

    const first = await run("chaotic");
    const again = await run("chaotic-replay");
    const outcome = (r: { status: number; hung?: true }) => (r.hung ? "hang" : String(r.status));
    expect(first.map(outcome)).toEqual(again.map(outcome));
    expect(first.some((r) => r.status === 500)).toBe(true);
    expect(first.some((r) => r.hung)).toBe(true);
    const failuresById = new Map<string, number>();
    for (const r of first.filter((r) => r.status !== 200 || r.hung)) {
      const id = r.headers["webhook-id"] ?? "";
      failuresById.set(id, (failuresById.get(id) ?? 0) + 1);
    }
    for (const n of failuresById.values()) expect(n).toBeLessThanOrEqual(2);
  });
});
