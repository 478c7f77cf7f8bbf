import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { call, consent, createConference, emulator, expectError, followCallback, paths } from "./helpers";
import { TEST_SECRETS } from "./secrets";

async function startConnect() {
  const slug = await createConference();
  const realm = await emulator().createRealm({});
  const res = await call("POST", paths.qboConnect(slug));
  expect(res.status).toBe(200);
  return { slug, realmId: realm.realmId, url: res.body.url as string };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("connecting QuickBooks with OAuth", () => {
  it("gives a consent link with the client id, scope, redirect URI and a state", async () => {
    const { url } = await startConnect();
    const link = new URL(url);
    expect(`${link.origin}${link.pathname}`).toBe(`${env.QBO_EMULATOR_URL}/connect/oauth2`);
    expect(Object.fromEntries(link.searchParams)).toMatchObject({
      client_id: TEST_SECRETS.QBO_CLIENT_ID,
      response_type: "code",
      scope: "com.intuit.quickbooks.accounting",
      redirect_uri: "http://worker.test/oauth/qbo/callback",
    });
    expect(link.searchParams.get("state")).toMatch(/^[\w-]+\.[\w-]+$/);
  });

  it("stores the tokens and realm from the callback and shows a confirmation page", async () => {
    const { slug, realmId, url } = await startConnect();
    const res = await followCallback(await consent(url, realmId, "connect"));
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.body).toContain("QuickBooks connected");
    const conference = await call("GET", paths.conference(slug));
    expect(conference.body.qbo).toMatchObject({ realmId, connected: true, needsReconnect: false });
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code).toBe(1);
  });

  it("refuses a replayed callback without exchanging the code again", async () => {
    const { realmId, url } = await startConnect();
    const back = await consent(url, realmId, "connect");
    expect((await followCallback(back)).status).toBe(200);
    const replay = await followCallback(back);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain("already used");
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code).toBe(1);
  });

  it("refuses a tampered state, and a state moved to another conference", async () => {
    const { realmId, url } = await startConnect();
    const back = await consent(url, realmId, "connect");
    const state = back.searchParams.get("state") ?? "";
    const [payload, mac] = state.split(".");
    const forged = JSON.parse(atob((payload ?? "").replace(/-/g, "+").replace(/_/g, "/")));
    forged.s = "someone-else";
    const forgedPayload = btoa(JSON.stringify(forged))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    back.searchParams.set("state", `${forgedPayload}.${mac}`);
    const res = await followCallback(back);
    expect(res.status).toBe(400);
    expect(res.body).toContain("not valid");
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code ?? 0).toBe(0);
  });

  it("refuses a state older than 10 minutes", async () => {
    const { slug, realmId, url } = await startConnect();
    const back = await consent(url, realmId, "connect");
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 11 * 60_000);
    const res = await followCallback(back);
    vi.useRealTimers();
    expect(res.status).toBe(400);
    expect(res.body).toContain("expired");
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code ?? 0).toBe(0);
    expect((await call("GET", paths.conference(slug))).body.qbo.connected).toBe(false);
  });

  it("reports a denied consent and stores nothing", async () => {
    const { slug, realmId, url } = await startConnect();
    const res = await followCallback(await consent(url, realmId, "cancel"));
    expect(res.status).toBe(400);
    expect(res.body).toContain("not granted");
    expect((await call("GET", paths.conference(slug))).body.qbo.connected).toBe(false);
  });

  it("answers 404 for the connect link of an unknown conference", async () => {
    const res = await call("POST", paths.qboConnect("no-such-conf"));
    expectError(res, 404, "not_found");
  });
});
