/**
 * SPEC §10 "Refresh-token hard cap": the grant's 5-year expiry is asked for, stored and shown;
 * 30 days before it the conference emits `qbo.reconnect_required` once; a refresh whose answer
 * was lost is retried with the previous refresh token before anyone is told to reconnect.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { connectionFor, qboClientFor } from "../../src/connections";
import { makeDb } from "../../src/db/client";
import { listConferenceEvents } from "../../src/db/conference-events";
import { call, connectedConference, createConference, createPo, emulator, paths } from "../helpers";

const DAY_MS = 86_400_000;

async function connectWithHardExpiry(hardExpiresAt: string) {
  const slug = await createConference();
  const grant = await emulator().createRealm({});
  const res = await call("PUT", paths.qboTokens(slug), {
    realmId: grant.realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: grant.accessTokenExpiresAt,
    refreshTokenHardExpiresAt: hardExpiresAt,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { slug, realmId: grant.realmId, conference: res.body };
}

const read = (slug: string) =>
  qboClientFor(env, { slug, qboEnvironment: null }).json(z.unknown(), {
    method: "POST",
    path: "query",
    text: "SELECT * FROM Customer",
  });

async function hardExpiryEvents(slug: string) {
  return (await listConferenceEvents(makeDb(env.DB), slug))
    .filter((e) => e.type === "qbo.reconnect_required")
    .map((e) => JSON.parse(e.data));
}

describe("the refresh token's hard cap", () => {
  it("stores the hard expiry and shows it as qbo.refreshTokenHardExpiresAt", async () => {
    const at = new Date(Date.now() + 4 * 365 * DAY_MS).toISOString();
    const { slug, conference } = await connectWithHardExpiry(at);
    expect(conference.qbo.refreshTokenHardExpiresAt).toBe(at);
    expect((await call("GET", paths.conference(slug))).body.qbo.refreshTokenHardExpiresAt).toBe(at);
    // Far away: calls go on and nobody is told anything.
    await read(slug);
    expect(await hardExpiryEvents(slug)).toEqual([]);
  });

  it("asks Intuit for the hard expiry on refresh, stores it and shows it", async () => {
    const slug = await createConference();
    const grant = await emulator().createRealm({ refreshTokenHardTtlSeconds: 4 * 365 * 86_400 });
    await call("PUT", paths.qboTokens(slug), {
      realmId: grant.realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: new Date(Date.now() - 60_000).toISOString(),
    });
    expect((await call("GET", paths.conference(slug))).body.qbo.refreshTokenHardExpiresAt).toBeNull();

    await read(slug); // refreshes first: the access token has expired

    const shown = (await call("GET", paths.conference(slug))).body.qbo.refreshTokenHardExpiresAt;
    expect(Math.abs(Date.parse(shown) - (Date.now() + 4 * 365 * DAY_MS))).toBeLessThan(60_000);
    expect(await hardExpiryEvents(slug)).toEqual([]);
  });

  it("emits qbo.reconnect_required once, 30 days before the hard expiry, however many calls and crons notice", async () => {
    const at = new Date(Date.now() + 10 * DAY_MS).toISOString();
    const { slug, realmId } = await connectWithHardExpiry(at);

    await read(slug);
    await read(slug);
    const keepAlive = await connectionFor(env, slug).refreshIfLapsing(7 * DAY_MS);
    expect(keepAlive.hardExpiryNear).toEqual({ realmId, hardExpiresAt: at });

    expect(await hardExpiryEvents(slug)).toEqual([
      expect.objectContaining({ cause: "refresh_token_hard_expiry", realmId, refreshTokenHardExpiresAt: at }),
    ]);
  });

  it("recovers a refresh whose answer was lost by retrying with the previous refresh token", async () => {
    const { slug, realmId } = await connectedConference({
      accessTokenExpiresAt: new Date(Date.now() - 60_000).toISOString(),
    });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { path: "/oauth2/v1/tokens/bearer" } }],
    });
    const po = await createPo(slug);

    const res = await call("POST", paths.qboInvoice(slug, po.reference), {});

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(2);
    const conference = await call("GET", paths.conference(slug));
    expect(conference.body.qbo).toMatchObject({ connected: true, needsReconnect: false });
    expect(await hardExpiryEvents(slug)).toEqual([]);
  });
});
