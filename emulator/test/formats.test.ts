import { describe, expect, it } from "vitest";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

const LOCAL_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}-07:00$/;
const LOCAL_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}-07:00$/;
const UTC_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

describe("timestamps", () => {
  it("are in the company's offset by default: MetaData to the second, the body's time with milliseconds", async () => {
    const { qbo } = await emulator.realm();
    const before = Date.now();
    const created = await qbo.post("/customer", { DisplayName: "Offset Co" });
    const { MetaData } = created.body.Customer;
    expect(MetaData.CreateTime).toMatch(LOCAL_SECONDS);
    expect(MetaData.LastUpdatedTime).toMatch(LOCAL_SECONDS);
    expect(created.body.time).toMatch(LOCAL_MILLIS);
    // The same instant, written in local time: 07:00 behind UTC.
    expect(Math.abs(Date.parse(created.body.time) - before)).toBeLessThan(5000);
    expect(created.body.time.slice(11, 13)).toBe(
      new Date(Date.parse(created.body.time) - 7 * 3_600_000).toISOString().slice(11, 13),
    );
    const fault = await qbo.post("/customer", { DisplayName: "Offset Co" });
    expect(fault.body.time).toMatch(LOCAL_MILLIS);
  });

  it("find a MetaData time queried in the offset it was answered in", async () => {
    const { qbo } = await emulator.realm();
    const created = (await qbo.post("/customer", { DisplayName: "When" })).body.Customer;
    const found = await qbo.query(
      `SELECT * FROM Customer WHERE MetaData.CreateTime = '${created.MetaData.CreateTime}'`,
    );
    expect(found.body.QueryResponse.Customer).toMatchObject([{ Id: created.Id }]);
  });

  it('are UTC with milliseconds, as before, with timestampOffset "Z"', async () => {
    const { qbo } = await emulator.realm({ settings: { timestampOffset: "Z" } });
    const created = await qbo.post("/customer", { DisplayName: "UTC Co" });
    expect(created.body.Customer.MetaData.CreateTime).toMatch(UTC_MILLIS);
    expect(created.body.time).toMatch(UTC_MILLIS);
  });

  it("follow the offset on injected faults too", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { timestampOffset: "+05:30" } });
    await emulator.control.setFaults(tokens.realmId, { rules: [{ kind: "throttle" }] });
    const throttled = await qbo.query("SELECT * FROM Invoice");
    expect(throttled.body.time).toMatch(/\.\d{3}\+05:30$/);
  });
});
