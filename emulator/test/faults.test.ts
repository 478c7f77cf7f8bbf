import { describe, expect, it } from "vitest";
import { basic, readResponse, useEmulator } from "./harness.ts";

const emulator = useEmulator();

describe("fault rules", () => {
  it("throttle: 429 with Intuit's ThrottleExceeded fault, Retry-After when the rule sets it, then normal service", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "throttle", times: 2, retryAfterSeconds: 7, match: { operation: "query:Customer" } }],
    });
    const invoices = await qbo.query("SELECT * FROM Invoice");
    expect(invoices.status).toBe(200);
    const throttled = await qbo.query("SELECT * FROM Customer");
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBe("7");
    expect(throttled.body.Fault).toEqual({
      Error: [
        {
          Message: "message=ThrottleExceeded; errorCode=003001; statusCode=429",
          Detail: "The request limit was reached. Try again later",
          code: "3001",
        },
      ],
      type: "SERVICE",
    });
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(429);
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.faultsInjected).toBe(2);
    expect(stats.requests.byOperation["query:Customer"]).toBe(3);
  });

  it("throttle without retryAfterSeconds: no Retry-After, as Intuit only says to wait 60 seconds", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "throttle" }, { kind: "status", status: 429 }],
    });
    for (let index = 0; index < 2; index++) {
      const throttled = await qbo.query("SELECT * FROM Invoice");
      expect(throttled.status).toBe(429);
      expect(throttled.headers.get("retry-after")).toBeNull();
      expect(throttled.body.Fault.Error[0].code).toBe("3001");
    }
  });

  it("status: 500 answers a SystemFault, 503 an HTML gateway page, and nothing changes", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [
        { kind: "status", status: 500, times: 1, match: { method: "POST", path: "/customer" } },
        { kind: "status", status: 503, times: 1, match: { operation: "create:customer" } },
      ],
    });
    const systemFault = await qbo.post("/customer", { DisplayName: "A" });
    expect(systemFault.status).toBe(500);
    expect(systemFault.body.Fault.type).toBe("SystemFault");
    const gateway = await qbo.post("/customer", { DisplayName: "A" });
    expect(gateway.status).toBe(503);
    expect(gateway.headers.get("content-type")).toContain("text/html");
    expect((await emulator.control.customers(tokens.realmId)).customers).toHaveLength(0);
    expect((await qbo.post("/customer", { DisplayName: "A" })).status).toBe(200);
  });

  it("commit-then-fail: the write happens, the answer is a 500, and a requestid retry gets the original", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { customTransactionNumbers: false } });
    const customer = await qbo.customer("Committed");
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "commit-then-fail", times: 1, match: { operation: "create:invoice" } }],
    });
    const failed = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "r-1" });
    expect(failed.status).toBe(500);
    expect(failed.body.Fault.type).toBe("SystemFault");
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(1);
    const retry = await qbo.invoice(customer, [[1, 10, 10]], { requestid: "r-1" });
    expect(retry.status).toBe(200);
    expect((await emulator.control.invoices(tokens.realmId)).invoices).toHaveLength(1);
    expect(retry.body.Invoice.DocNumber).toBe("1001");
  });

  it("commit-then-drop: the write happens and the connection is cut without an answer", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { operation: "create:customer" } }],
    });
    await expect(qbo.post("/customer", { DisplayName: "Dropped" }, { requestid: "d-1" })).rejects.toThrow();
    expect((await emulator.control.customers(tokens.realmId)).customers).toMatchObject([
      { DisplayName: "Dropped" },
    ]);
    const retry = await qbo.post("/customer", { DisplayName: "Dropped" }, { requestid: "d-1" });
    expect(retry.status).toBe(200);
    expect(retry.body.Customer.DisplayName).toBe("Dropped");
  });

  it("drop: the connection is cut before anything happens", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, { rules: [{ kind: "drop", times: 1 }] });
    await expect(qbo.post("/customer", { DisplayName: "Never" })).rejects.toThrow();
    expect((await emulator.control.customers(tokens.realmId)).customers).toHaveLength(0);
  });

  it("latency: waits, then answers normally", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, { rules: [{ kind: "latency", ms: 150, times: 1 }] });
    const started = Date.now();
    expect((await qbo.query("SELECT * FROM Invoice")).status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });

  it("body: answers the given JSON (here a customer without an Id) and changes nothing", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "body", status: 200, times: 1, body: { Customer: { DisplayName: "x" } } }],
    });
    const response = await qbo.post("/customer", { DisplayName: "Real" });
    expect(response.status).toBe(200);
    expect(response.body.Customer).toEqual({ DisplayName: "x" });
    expect((await emulator.control.customers(tokens.realmId)).customers).toHaveLength(0);
  });

  it("applies to the token endpoint in the realm of the refresh token, and DELETE clears", async () => {
    const { tokens } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      rules: [{ kind: "status", status: 503, times: 5, match: { path: "/oauth2/v1/tokens/bearer" } }],
    });
    const refresh = () =>
      fetch(`${emulator.url}/oauth2/v1/tokens/bearer`, {
        method: "POST",
        headers: { authorization: basic(), "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refreshToken }),
      }).then(readResponse);
    expect((await refresh()).status).toBe(503);
    await emulator.control.clearFaults(tokens.realmId);
    expect((await refresh()).status).toBe(200);
    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.tokenCalls.refresh_token).toBe(2);
    expect(stats.faultsInjected).toBe(1);
  });

  it("keeps faults per realm", async () => {
    const a = await emulator.realm();
    const b = await emulator.realm();
    await emulator.control.setFaults(a.tokens.realmId, {
      rules: [{ kind: "status", status: 500, times: 10 }],
    });
    expect((await b.qbo.query("SELECT * FROM Invoice")).status).toBe(200);
    expect((await a.qbo.query("SELECT * FROM Invoice")).status).toBe(500);
  });
});

describe("random faults", () => {
  async function outcomes(seed: number): Promise<number[]> {
    const { tokens, qbo } = await emulator.realm();
    // 40 requests in a row: Intuit's 10/s limit would add its own 429s to the seeded ones.
    await emulator.control.setLimits(tokens.realmId, {});
    await emulator.control.setFaults(tokens.realmId, {
      random: { rate: 0.3, seed, kinds: ["throttle", "status"] },
    });
    const statuses: number[] = [];
    for (let index = 0; index < 40; index++) statuses.push((await qbo.query("SELECT * FROM Invoice")).status);
    return statuses;
  }

  it("inject the same faults for the same seed, at about the given rate", async () => {
    const first = await outcomes(42);
    const second = await outcomes(42);
    expect(second).toEqual(first);
    const failures = first.filter((status) => status !== 200).length;
    expect(failures).toBeGreaterThan(3);
    expect(failures).toBeLessThan(25);
    expect(first.every((status) => [200, 429, 500, 502, 503].includes(status))).toBe(true);
  });

  it("send Retry-After on every injected fault when retryAfterSeconds is set", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setFaults(tokens.realmId, {
      random: { rate: 1, seed: 7, kinds: ["throttle", "status"], retryAfterSeconds: 2 },
    });
    for (let index = 0; index < 5; index++) {
      const response = await qbo.query("SELECT * FROM Invoice");
      expect(response.status).not.toBe(200);
      expect(response.headers.get("retry-after")).toBe("2");
    }
  });
});

describe("rate limits", () => {
  it("answers 429 without Retry-After beyond maxConcurrent requests in flight", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setLimits(tokens.realmId, { maxConcurrent: 2 });
    await emulator.control.setFaults(tokens.realmId, { rules: [{ kind: "latency", ms: 150, times: 2 }] });
    const results = await Promise.all(Array.from({ length: 4 }, () => qbo.query("SELECT * FROM Invoice")));
    const statuses = results.map((result) => result.status).sort();
    expect(statuses).toEqual([200, 200, 429, 429]);
    const throttled = results.find((result) => result.status === 429);
    expect(throttled?.headers.get("retry-after")).toBeNull();
    expect(throttled?.body.Fault.Error[0].code).toBe("3001");
    expect((await emulator.control.stats(tokens.realmId)).limitThrottled).toBe(2);
    expect((await qbo.query("SELECT * FROM Invoice")).status).toBe(200);
  });

  it("answers 429 beyond perMinute requests, without Retry-After", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setLimits(tokens.realmId, { perMinute: 3 });
    for (let index = 0; index < 3; index++)
      expect((await qbo.query("SELECT * FROM Invoice")).status).toBe(200);
    const throttled = await qbo.query("SELECT * FROM Invoice");
    expect(throttled.status).toBe(429);
    expect(throttled.headers.get("retry-after")).toBeNull();
    await emulator.control.setLimits(tokens.realmId, {});
    expect((await qbo.query("SELECT * FROM Invoice")).status).toBe(200);
  });
});

describe("Intuit's limits, on by default", () => {
  it("admits 10 requests per second per realm, then answers 429 without Retry-After", async () => {
    const { tokens, qbo } = await emulator.realm();
    expect(await emulator.control.limits(tokens.realmId)).toEqual({
      maxConcurrent: null,
      perSecond: 10,
      perMinute: 500,
    });
    const statuses = await Promise.all(Array.from({ length: 12 }, () => qbo.query("SELECT * FROM Invoice")));
    expect(statuses.filter((response) => response.status === 200)).toHaveLength(10);
    const throttled = statuses.filter((response) => response.status === 429);
    expect(throttled).toHaveLength(2);
    expect(throttled[0]?.headers.get("retry-after")).toBeNull();
    expect(throttled[0]?.body.Fault).toMatchObject({ type: "SERVICE", Error: [{ code: "3001" }] });
    expect((await emulator.control.stats(tokens.realmId)).limitThrottled).toBe(2);
    // Another realm has its own budget.
    const other = await emulator.realm();
    expect((await other.qbo.query("SELECT * FROM Invoice")).status).toBe(200);
  });

  it("admits 500 requests per minute per realm, whatever the pace", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.setLimits(tokens.realmId, { perSecond: 1000, perMinute: 500 });
    const first = await Promise.all(Array.from({ length: 500 }, () => qbo.query("SELECT * FROM Invoice")));
    expect(first.every((response) => response.status === 200)).toBe(true);
    const refused = await qbo.query("SELECT * FROM Invoice");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBeNull();
    expect(await emulator.control.setLimits(tokens.realmId, { perSecond: 2 })).toEqual({
      maxConcurrent: null,
      perSecond: 2,
      perMinute: null,
    });
    await expect(emulator.control.setLimits(tokens.realmId, { perHour: 3 } as never)).rejects.toMatchObject({
      status: 400,
    });
  });
});
