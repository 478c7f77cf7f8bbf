import { env, exports } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  bindingCookie,
  call,
  consent,
  createConference,
  emulator,
  expectError,
  followCallback,
  openConnectLink,
  paths,
} from "./helpers";
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
  it("gives a link to the Worker's start page, which binds the browser and redirects to Intuit", async () => {
    const { url } = await startConnect();
    const link = new URL(url);
    expect(`${link.origin}${link.pathname}`).toBe("http://worker.test/oauth/qbo/start");
    expect(link.searchParams.get("state")).toMatch(/^[\w-]+\.[\w-]+$/);

    const { consentUrl, setCookie } = await openConnectLink(url);
    expect(`${consentUrl.origin}${consentUrl.pathname}`).toBe(`${env.QBO_EMULATOR_URL}/connect/oauth2`);
    expect(Object.fromEntries(consentUrl.searchParams)).toEqual({
      client_id: TEST_SECRETS.QBO_CLIENT_ID,
      response_type: "code",
      scope: "com.intuit.quickbooks.accounting",
      redirect_uri: "http://worker.test/oauth/qbo/callback",
      state: link.searchParams.get("state"),
    });
    const attributes = setCookie.split(/;\s*/).slice(1);
    expect(attributes).toEqual(
      expect.arrayContaining(["Max-Age=600", "Path=/oauth/qbo", "HttpOnly", "Secure", "SameSite=Lax"]),
    );
  });

  it("sets the cookie holding SHA-256 of the state's nonce, base64url", async () => {
    const { url } = await startConnect();
    const state = new URL(url).searchParams.get("state") ?? "";
    const nonce = JSON.parse(atob((state.split(".")[0] ?? "").replace(/-/g, "+").replace(/_/g, "/"))).n;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(nonce)));
    const expected = btoa(String.fromCharCode(...digest))
      .replace(/\+/g, "-")
      .replace(/\//g, "_")
      .replace(/=+$/, "");
    expect((await openConnectLink(url)).cookie).toBe(`qbo_oauth_binding=${expected}`);
  });

  it("omits Secure from the cookie only on plain http to a loopback host", async () => {
    const { url } = await startConnect();
    const link = new URL(url);
    const local = await call("GET", `${link.pathname}${link.search}`, undefined, { token: null });
    expect(local.headers.get("set-cookie")).toContain("Secure");
    const viaLoopback = await exports.default.fetch(
      new Request(`http://127.0.0.1:8787${link.pathname}${link.search}`, { redirect: "manual" }),
    );
    expect(viaLoopback.status).toBe(302);
    expect(viaLoopback.headers.get("set-cookie")).not.toContain("Secure");
    expect(viaLoopback.headers.get("set-cookie")).toContain("HttpOnly");
  });

  it("refuses to open a consent page for a state that is not valid (400 page, no cookie)", async () => {
    const res = await call("GET", "/oauth/qbo/start?state=not.valid", undefined, { token: null });
    expect(res.status).toBe(400);
    expect(res.body).toContain("not valid");
    expect(res.headers.get("set-cookie")).toBeNull();
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
    const cookie = bindingCookie(back);
    const done = await followCallback(back);
    expect(done.status).toBe(200);
    expect(done.headers.get("set-cookie")).toMatch(/^qbo_oauth_binding=; Max-Age=0; Path=\/oauth\/qbo/);

    // The same browser: its cookie was cleared by the first callback.
    const again = await followCallback(back);
    expect(again.status).toBe(400);
    expect(again.body).toContain("not started in this browser");
    // Even with the cookie kept (copied by hand), the state is spent.
    const replay = await followCallback(back, { cookie: cookie ?? null });
    expect(replay.status).toBe(400);
    expect(replay.body).toContain("already used");
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code).toBe(1);
  });

  it("refuses a callback without the browser's cookie (400 page, no code exchange), and the browser that started it still finishes", async () => {
    const { slug, realmId, url } = await startConnect();
    const back = await consent(url, realmId, "connect");

    const elsewhere = await followCallback(back, { cookie: null });

    expect(elsewhere.status).toBe(400);
    expect(elsewhere.headers.get("content-type")).toContain("text/html");
    expect(elsewhere.body).toContain("Connection failed");
    expect(elsewhere.body).toContain("not started in this browser");
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code ?? 0).toBe(0);
    expect((await call("GET", paths.conference(slug))).body.qbo.connected).toBe(false);

    const home = await followCallback(back);
    expect(home.status).toBe(200);
    expect((await emulator().stats(realmId)).tokenCalls.authorization_code).toBe(1);
  });

  it("refuses a callback carrying the cookie of another consent (login CSRF)", async () => {
    const victim = await startConnect();
    const attacker = await startConnect();
    const victimCookie = bindingCookie(await consent(victim.url, victim.realmId));
    // The attacker's own consent, finished in the victim's browser.
    const attackerBack = await consent(attacker.url, attacker.realmId);

    const res = await followCallback(attackerBack, { cookie: victimCookie ?? null });

    expect(res.status).toBe(400);
    expect(res.body).toContain("not started in this browser");
    expect((await emulator().stats(attacker.realmId)).tokenCalls.authorization_code ?? 0).toBe(0);
    expect((await call("GET", paths.conference(victim.slug))).body.qbo.connected).toBe(false);
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
