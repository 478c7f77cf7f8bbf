/**
 * SPEC §10 "Rate budget" and "Metered reads": every QBO request of a realm, from any conference
 * and any path, waits on the realm's QboRealmBudget; queue and cron work waits for its slot, an
 * API request answers 503 with Retry-After; reads are counted per month and raise
 * `qbo.read_budget` at 80% and 100%.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { z } from "zod";
import { asBackgroundWork, CONNECTIONS_PER_INVOCATION, Permits } from "../../src/budget";
import { monthOf } from "../../src/budget/window";
import { qboClientFor } from "../../src/connections";
import { makeDb } from "../../src/db/client";
import { listConferenceEvents } from "../../src/db/conference-events";
import {
  call,
  connectedConference,
  createConference,
  emulator,
  expectError,
  invoicedPo,
  paths,
  unique,
} from "../helpers";

const DEFAULTS = { perSecond: 10, perMinute: 500 };

/** Books `n` slots of the realm's budget that no request will use: the next one is ~n/10 × 1.15 s away. */
async function occupy(realmId: string, n: number) {
  const stub = env.QBO_BUDGETS.getByName(realmId);
  for (let i = 0; i < n; i++)
    await stub.acquire({ read: false, maxWaitMs: 600_000, limits: DEFAULTS, readBudget: 500_000 });
}

/** One metered read (a query) through the Worker's QBO client, as the conference. */
function readAs(slug: string, envOverride: Partial<Env> = {}) {
  return qboClientFor({ ...env, ...envOverride }, { slug, qboEnvironment: null }).json(z.unknown(), {
    method: "POST",
    path: "query",
    text: "SELECT * FROM Customer",
  });
}

/** A second conference on the first one's company, with the same grant. */
async function sameRealmConference(grant: Awaited<ReturnType<ReturnType<typeof emulator>["createRealm"]>>) {
  const slug = await createConference();
  const res = await call("PUT", paths.qboTokens(slug), {
    realmId: grant.realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: grant.accessTokenExpiresAt,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return slug;
}

describe("the per-realm rate budget", () => {
  it("is shared by two conferences on one company: their reads add up in one meter, shown to both", async () => {
    const a = await connectedConference();
    const b = await sameRealmConference(a.grant);
    await Promise.all([readAs(a.slug), readAs(a.slug), readAs(a.slug), readAs(b), readAs(b)]);

    const [statusA, statusB] = await Promise.all([
      call("GET", paths.qboSync(a.slug)),
      call("GET", paths.qboSync(b)),
    ]);
    const meter = { month: monthOf(Date.now()), count: 5, budget: 500_000 };
    expect(statusA.body.qboReads).toEqual(meter);
    expect(statusB.body.qboReads).toEqual(meter);
    expect((await emulator().stats(a.realmId)).requests.total).toBe(5);
  });

  it("makes one conference's request wait for the slots the other conference's work took", async () => {
    const a = await connectedConference();
    const b = await sameRealmConference(a.grant);
    await occupy(a.realmId, 10); // conference A's burst: this second is spent
    const started = Date.now();
    await asBackgroundWork(() => readAs(b));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it("answers 503 qbo_unavailable with Retry-After when an API request cannot get a slot within 1.5 s", async () => {
    const { slug, realmId } = await connectedConference();
    await occupy(realmId, 30);
    const po = await call("POST", paths.pos(slug), {
      organizationName: "Budget Corp",
      contactName: "Ada",
      contactEmail: "ada@budget.test",
      lineItems: [{ description: "Booth", quantity: 1, unitPrice: "100.00" }],
    });

    const res = await call("POST", paths.qboInvoice(slug, po.body.reference), {});

    expectError(res, 503, "qbo_unavailable");
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThanOrEqual(2);
    expect(retryAfter).toBeLessThanOrEqual(4);
    // Nothing reached QuickBooks, and the PO has no invoice.
    expect((await emulator().stats(realmId)).requests.total).toBe(0);
    expect((await call("GET", paths.po(slug, po.body.reference))).body.qbo).toBeNull();
  });

  it("lets queue work wait for its slot: a sync queued behind a spent budget completes, nothing throttled", async () => {
    const { slug, realmId } = await invoicedPo();
    await occupy(realmId, 20); // the next slot is ~2.3 s away
    const queuedAt = Date.now();

    expect((await call("POST", paths.qboSync(slug))).status).toBe(202);

    const run = await vi.waitFor(
      async () => {
        const { body } = await call("GET", paths.qboSync(slug));
        const done = body.lastRuns.find((r: { trigger: string; finishedAt: string | null }) => r.finishedAt);
        if (!done) throw new Error("sync not finished yet");
        expect(body.failures).toEqual([]);
        return done;
      },
      { timeout: 15_000, interval: 200 },
    );
    expect(run.invoicesChecked).toBe(1);
    expect(Date.parse(run.finishedAt) - queuedAt).toBeGreaterThanOrEqual(1500);
    expect((await emulator().stats(realmId)).limitThrottled).toBe(0);
  });

  it("spaces a burst of background requests to the realm's 10 per second instead of earning 429s", async () => {
    const { slug, realmId } = await connectedConference();
    const started = Date.now();
    await asBackgroundWork(() => Promise.all(Array.from({ length: 15 }, () => readAs(slug))));
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    const stats = await emulator().stats(realmId);
    expect(stats.requests.total).toBe(15);
    expect(stats.limitThrottled).toBe(0);
  });
});

describe("connections and late departures", () => {
  it("hands out permits up to the count, then one per permit given back, each given back once", async () => {
    const permits = new Permits(2);
    const a = await permits.take();
    const b = await permits.take();
    let third = false;
    const c = permits.take().then((give) => {
      third = true;
      return give;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(third).toBe(false);
    a();
    a(); // a second give-back of the same permit changes nothing
    const giveC = await c;
    expect(third).toBe(true);
    let fourth = false;
    void permits.take().then(() => {
      fourth = true;
    });
    await new Promise((r) => setTimeout(r, 10));
    expect(fourth).toBe(false); // still two out: b and c
    b();
    await new Promise((r) => setTimeout(r, 10));
    expect(fourth).toBe(true);
    giveC();
  });

  it("keeps at most six of a background invocation's QBO requests waiting for headers (Cloudflare queues the seventh)", async () => {
    const { slug, realmId } = await connectedConference();
    await emulator().setLimits(realmId, {}); // this test counts connections, not the realm's rate
    await emulator().setFaults(realmId, { rules: [{ kind: "latency", ms: 150, times: 20 }] });
    let inFlight = 0;
    let most = 0;
    const original = globalThis.fetch;
    const countingFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
      inFlight++;
      most = Math.max(most, inFlight);
      try {
        return await original(input, init);
      } finally {
        inFlight--;
      }
    };
    globalThis.fetch = countingFetch as typeof fetch;
    try {
      await asBackgroundWork(() => Promise.all(Array.from({ length: 14 }, () => readAs(slug))));
    } finally {
      globalThis.fetch = original;
    }
    expect(most).toBe(CONNECTIONS_PER_INVOCATION);
    expect((await emulator().stats(realmId)).requests.total).toBe(14);
  });

  it("asks again on waking: a slot booked ahead is rebooked when an earlier request turned out to leave late", async () => {
    const realmId = unique("confirm");
    const stub = env.QBO_BUDGETS.getByName(realmId);
    const onePerSecond = { perSecond: 1, perMinute: 500 };
    const ask = () =>
      stub.acquire({ read: false, maxWaitMs: 600_000, limits: onePerSecond, readBudget: 500_000 });
    const first = await ask();
    const second = await ask();
    if (!first.ok || !second.ok) throw new Error("booking refused");
    expect(second.slot - first.slot).toBeGreaterThanOrEqual(1000);
    expect(await stub.confirm({ slot: second.slot, limits: onePerSecond })).toEqual({
      slot: second.slot,
      waitMs: 0,
    });
    await stub.answeredSlowly(first.slot, 500); // the first may have reached QBO 500 ms after its slot
    const again = await stub.confirm({ slot: second.slot, limits: onePerSecond });
    expect(again.slot).toBeGreaterThanOrEqual(first.slot + 500 + 1000);
  });
});

describe("metered reads", () => {
  it("counts reads and raises qbo.read_budget once at 80% and once at 100% of the month's budget", async () => {
    const { slug, realmId } = await connectedConference();
    const receiver = unique("rcv");
    const endpoint = await call("PUT", `${paths.conference(slug)}/event-endpoint`, {
      url: emulator().receiverUrl(receiver),
      events: ["qbo.read_budget"],
    });
    expect(endpoint.status).toBe(200);
    const tiny = { QBO_MONTHLY_READ_BUDGET: "5" };

    for (let i = 0; i < 7; i++) await readAs(slug, tiny);

    const events = (await listConferenceEvents(makeDb(env.DB), slug)).filter(
      (e) => e.type === "qbo.read_budget",
    );
    expect(events.map((e) => JSON.parse(e.data))).toEqual([
      { realmId, month: monthOf(Date.now()), threshold: 80, count: 4, budget: 5 },
      { realmId, month: monthOf(Date.now()), threshold: 100, count: 5, budget: 5 },
    ]);
    const received = await vi.waitFor(
      async () => {
        const { received } = await emulator().received(receiver);
        if (received.length < 2) throw new Error(`${received.length} of 2 delivered`);
        return received;
      },
      { timeout: 15_000, interval: 100 },
    );
    expect(received.map((r) => JSON.parse(r.body).type)).toEqual(["qbo.read_budget", "qbo.read_budget"]);
    const status = await call("GET", paths.qboSync(slug), undefined, { env: tiny });
    expect(status.body.qboReads).toEqual({ month: monthOf(Date.now()), count: 7, budget: 5 });
  });
});
