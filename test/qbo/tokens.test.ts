import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { QboConnection } from "../../src/connections/qbo-connection";
import {
  call,
  connectedConference,
  createConference,
  createPo,
  emulator,
  expectError,
  paths,
  ROOMY_BUDGET,
} from "../helpers";
import { TEST_SECRETS } from "../secrets";

const past = () => new Date(Date.now() - 60_000).toISOString();

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the conference's token vault", () => {
  it("stores tokens and reports the connection without returning any token", async () => {
    const slug = await createConference();
    const grant = await emulator().createRealm({});
    const res = await call("PUT", paths.qboTokens(slug), {
      realmId: grant.realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
      refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
      clientId: TEST_SECRETS.QBO_CLIENT_ID,
      clientSecret: TEST_SECRETS.QBO_CLIENT_SECRET,
    });
    expect(res.status).toBe(200);
    expect(res.body.qbo).toMatchObject({
      realmId: grant.realmId,
      connected: true,
      needsReconnect: false,
      accessTokenExpiresAt: new Date(grant.accessTokenExpiresAt).toISOString(),
    });
    const text = JSON.stringify(res.body) + JSON.stringify((await call("GET", paths.conference(slug))).body);
    for (const secret of [grant.accessToken, grant.refreshToken, TEST_SECRETS.QBO_CLIENT_SECRET])
      expect(text).not.toContain(secret);
  });

  it("keeps tokens encrypted at rest: no token appears in the Durable Object's storage", async () => {
    const { slug, grant } = await connectedConference();
    const stub = env.QBO_CONNECTIONS.getByName(slug);
    const dump = await runInDurableObject(stub, (_instance: QboConnection, state) =>
      JSON.stringify(state.storage.sql.exec("SELECT * FROM connection").toArray()),
    );
    expect(dump).toContain(grant.realmId);
    expect(dump).not.toContain(grant.accessToken);
    expect(dump).not.toContain(grant.refreshToken);
    expect(dump).toMatch(/v2\.[A-Za-z0-9_-]{11}\.[A-Za-z0-9+/=]+\.[A-Za-z0-9+/=]+/);
  });

  it("refreshes an expired token once, stores the rotated refresh token, and keeps working", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    const po = await createPo(slug);
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
    let stats = await emulator().stats(realmId);
    expect(stats.tokenCalls.refresh_token).toBe(1);
    const conf = await call("GET", paths.conference(slug));
    expect(Date.parse(conf.body.qbo.accessTokenExpiresAt)).toBeGreaterThan(Date.now() + 50 * 60_000);
    expect(conf.body.qbo.lastRefreshedAt).not.toBeNull();

    // The next refresh must use the rotated refresh token (the emulator rejects the old one).
    await runInDurableObject(env.QBO_CONNECTIONS.getByName(slug), (_i: QboConnection, state) => {
      state.storage.sql.exec("UPDATE connection SET access_expires_at = 0");
    });
    const po2 = await createPo(slug);
    expect((await call("POST", paths.qboInvoice(slug, po2.reference), {})).status).toBe(201);
    stats = await emulator().stats(realmId);
    expect(stats.tokenCalls.refresh_token).toBe(2);
  });

  it("makes exactly one token call for 20 concurrent requests with an expired token", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "latency", ms: 200, times: 1, match: { path: "/oauth2/v1/tokens/bearer" } }],
    });
    const pos = await Promise.all(
      Array.from({ length: 20 }, (_, i) => createPo(slug, { organizationName: `Storm ${i}` })),
    );
    // 20 invoices at once are ~80 QBO calls in one company, 8 s of its real budget (10/s): an
    // API request waits 1.5 s at most, so most would rightly answer 503. This test is about
    // the single refresh, so it lifts this company's limits (emulator) and budget (these requests).
    await emulator().setLimits(realmId, {});
    const results = await Promise.all(
      pos.map((po) => call("POST", paths.qboInvoice(slug, po.reference), {}, { env: ROOMY_BUDGET })),
    );
    expect(results.map((r) => r.status)).toEqual(Array(20).fill(201));
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(1);
  });

  it("refreshes once after a 401 mid-life and retries the call", async () => {
    const { slug, realmId } = await connectedConference();
    await emulator().expireAccessTokens(realmId);
    const po = await createPo(slug);
    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expect(res.status).toBe(201);
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(1);
  });

  it("answers qbo_reconnect_required after invalid_grant, and fails fast without calling Intuit again", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    await emulator().revokeRefreshTokens(realmId);
    const po = await createPo(slug);
    const first = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(first, 409, "qbo_reconnect_required");
    const second = await call("POST", paths.qboInvoice(slug, po.reference), {});
    expectError(second, 409, "qbo_reconnect_required");
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(1);
    expect((await call("GET", paths.conference(slug))).body.qbo).toMatchObject({
      needsReconnect: true,
      connected: false,
    });

    // New tokens clear the flag.
    const grant = await emulator().issueTokens(realmId);
    const stored = await call("PUT", paths.qboTokens(slug), {
      realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
    });
    expect(stored.body.qbo.needsReconnect).toBe(false);
    expect((await call("POST", paths.qboInvoice(slug, po.reference), {})).status).toBe(201);
  });

  it("answers qbo_not_configured, without calling Intuit, when an expired token has no client credentials", async () => {
    const { slug, realmId } = await connectedConference({ accessTokenExpiresAt: past() });
    const stub = env.QBO_CONNECTIONS.getByName(slug);
    await runInDurableObject(stub, (instance: QboConnection) => {
      // This object's own view of its bindings: the app credentials are missing.
      Object.assign((instance as unknown as { env: Env }).env, { QBO_CLIENT_ID: "", QBO_CLIENT_SECRET: "" });
    });
    try {
      const po = await createPo(slug);
      const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
      expectError(res, 409, "qbo_not_configured");
      expect((await emulator().stats(realmId)).tokenCalls.total).toBe(0);
    } finally {
      await runInDurableObject(stub, (instance: QboConnection) => {
        Object.assign((instance as unknown as { env: Env }).env, {
          QBO_CLIENT_ID: TEST_SECRETS.QBO_CLIENT_ID,
          QBO_CLIENT_SECRET: TEST_SECRETS.QBO_CLIENT_SECRET,
        });
      });
    }
  });

  it("answers 503 not_configured, storing nothing, when TOKEN_ENCRYPTION_KEY is missing or malformed", async () => {
    const slug = await createConference();
    for (const key of ["", "c2hvcnQ="]) {
      const res = await call(
        "PUT",
        paths.qboTokens(slug),
        {
          realmId: "123",
          accessToken: "a",
          refreshToken: "r",
          accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
        },
        { env: { TOKEN_ENCRYPTION_KEY: key } },
      );
      expectError(res, 503, "not_configured");
    }
    expect((await call("GET", paths.conference(slug))).body.qbo.connected).toBe(false);
  });

  it("disconnects: revokes at Intuit, forgets the tokens, and later calls are not configured", async () => {
    const { slug, realmId } = await connectedConference();
    const res = await call("DELETE", paths.qboTokens(slug));
    expect(res.status).toBe(204);
    expect((await emulator().stats(realmId)).revokeCalls).toBe(1);
    expect((await call("GET", paths.conference(slug))).body.qbo.connected).toBe(false);
    const po = await createPo(slug);
    expectError(await call("POST", paths.qboInvoice(slug, po.reference), {}), 409, "qbo_not_configured");
  });

  it("never writes a token or secret to a log line", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => {
        lines.push(args.map(String).join(" "));
      });
    }
    const { slug, realmId, grant } = await connectedConference({ accessTokenExpiresAt: past() });
    const po = await createPo(slug);
    await call("POST", paths.qboInvoice(slug, po.reference), { send: true });
    await emulator().expireAccessTokens(realmId);
    await call("POST", paths.qboInvoiceSync(slug, po.reference));
    await emulator().revokeRefreshTokens(realmId);
    await emulator().expireAccessTokens(realmId);
    await call("POST", paths.qboInvoiceSync(slug, po.reference));
    expect(lines.length).toBeGreaterThan(3);
    const all = lines.join("\n");
    for (const secret of [
      grant.accessToken,
      grant.refreshToken,
      TEST_SECRETS.QBO_CLIENT_SECRET,
      TEST_SECRETS.TOKEN_ENCRYPTION_KEY,
    ]) {
      expect(all).not.toContain(secret);
    }
  });
});
