import { describe, expect, it } from "vitest";
import { basic, QboClient, readResponse, useEmulator } from "./harness.ts";

const emulator = useEmulator();

async function tokenCall(
  form: Record<string, string>,
  authorization = basic(),
  extraHeaders: Record<string, string> = {},
) {
  const response = await fetch(`${emulator.url}/oauth2/v1/tokens/bearer`, {
    method: "POST",
    headers: {
      authorization,
      "content-type": "application/x-www-form-urlencoded",
      accept: "application/json",
      ...extraHeaders,
    },
    body: new URLSearchParams(form),
  });
  return readResponse(response);
}

const refresh = (refreshToken: string, authorization?: string, headers?: Record<string, string>) =>
  tokenCall({ grant_type: "refresh_token", refresh_token: refreshToken }, authorization, headers);

describe("API authentication", () => {
  it("answers 401 with the gateway's lower-case fault for a missing, unknown or expired token", async () => {
    const { tokens, qbo } = await emulator.realm();
    const stranger = new QboClient(emulator.url, tokens.realmId, "not-a-token");
    const unknown = await stranger.get("/invoice/1");
    expect(unknown.status).toBe(401);
    expect(unknown.body.fault).toMatchObject({
      type: "AUTHENTICATION",
      error: [{ message: "message=AuthenticationFailed; errorCode=003200; statusCode=401", code: "3200" }],
    });
    expect(unknown.headers.get("intuit_tid")).toEqual(expect.any(String));

    const missing = await new QboClient(emulator.url, tokens.realmId, "").get("/invoice/1");
    expect(missing.status).toBe(401);

    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
    await emulator.control.expireAccessTokens(tokens.realmId);
    const expired = await qbo.query("SELECT * FROM Customer");
    expect(expired.status).toBe(401);
    expect(expired.body.fault.error[0]).toMatchObject({ code: "3200", detail: "Token expired" });
  });

  it("answers 403 (3100) for a valid token of another company", async () => {
    const a = await emulator.realm();
    const b = await emulator.realm();
    const crossed = new QboClient(emulator.url, b.tokens.realmId, a.tokens.accessToken);
    const response = await crossed.get("/invoice/1");
    expect(response.status).toBe(403);
    expect(response.body.fault.error[0]).toMatchObject({ code: "3100" });
  });

  it("expires access tokens after the realm's TTL", async () => {
    const { qbo } = await emulator.realm({ accessTokenTtlSeconds: 0.2 });
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(401);
  });
});

describe("the token endpoint", () => {
  it("rotates the refresh token: the new one works, the old one dies once the new one is used, old access tokens live on", async () => {
    const { tokens, qbo } = await emulator.realm();
    const first = await refresh(tokens.refreshToken);
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      token_type: "bearer",
      expires_in: 3600,
      x_refresh_token_expires_in: 8726400,
    });
    expect(first.body.access_token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(first.body.refresh_token).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(first.body.refresh_token).not.toBe(tokens.refreshToken);

    const second = await refresh(first.body.refresh_token);
    expect(second.status).toBe(200);
    const reused = await refresh(tokens.refreshToken);
    expect(reused.status).toBe(400);
    expect(reused.body).toEqual({ error: "invalid_grant", error_description: "Token invalid" });
    expect((await refresh(first.body.refresh_token)).status).toBe(200); // the grace of the previous one
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(200);
    const fresh = new QboClient(emulator.url, tokens.realmId, first.body.access_token);
    expect((await fresh.query("SELECT * FROM Customer")).status).toBe(200);

    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.tokenCalls).toEqual({ total: 4, refresh_token: 4, authorization_code: 0 });
  });

  it("keeps the refresh token just used valid until its successor is used (a lost answer is retried)", async () => {
    const { tokens } = await emulator.realm();
    const lost = await refresh(tokens.refreshToken);
    const retried = await refresh(tokens.refreshToken);
    expect(retried.status).toBe(200);
    // The answer that was lost is superseded by the retry's; the retry's token is the one to keep.
    expect((await refresh(lost.body.refresh_token)).status).toBe(400);
    expect((await refresh(retried.body.refresh_token)).status).toBe(200);
    expect((await refresh(tokens.refreshToken)).status).toBe(400);
  });

  it("is strict about rotation when previousRefreshTokenGrace is off", async () => {
    const { tokens } = await emulator.realm({ settings: { previousRefreshTokenGrace: false } });
    expect((await refresh(tokens.refreshToken)).status).toBe(200);
    expect((await refresh(tokens.refreshToken)).status).toBe(400);
  });

  it("gives the 5-year hard expiry only when asked, and never refreshes past it", async () => {
    const { tokens } = await emulator.realm();
    const hardAt = Date.parse(tokens.refreshTokenHardExpiresAt);
    expect(hardAt - Date.now()).toBeGreaterThan(5 * 365 * 86_400_000 - 60_000);
    const plain = await refresh(tokens.refreshToken);
    expect(plain.body.x_refresh_token_hard_expires_in).toBeUndefined();
    const asked = await refresh(plain.body.refresh_token, basic(), {
      "x-include-refresh-token-hard-expires-in": "true",
    });
    expect(asked.body.x_refresh_token_hard_expires_in).toBeGreaterThan(157_679_000);
    // What the Worker's parser (src/qbo/intuit-oauth.ts) reads: a positive integer.
    expect(Number.isInteger(asked.body.x_refresh_token_hard_expires_in)).toBe(true);
    expect(asked.body.x_refresh_token_hard_expires_in).toBeLessThanOrEqual(157_680_000);

    const capped = await emulator.realm({ refreshTokenHardTtlSeconds: 0.3 });
    const soon = await refresh(capped.tokens.refreshToken, basic(), {
      "x-include-refresh-token-hard-expires-in": "true",
    });
    expect(soon.body.x_refresh_token_expires_in).toBe(1); // capped by the hard expiry, not 100 days
    expect(soon.body.x_refresh_token_hard_expires_in).toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 350));
    expect((await refresh(soon.body.refresh_token)).body).toMatchObject({ error: "invalid_grant" });
  });

  it("answers 401 invalid_client for wrong client credentials", async () => {
    const { tokens } = await emulator.realm();
    const wrong = await refresh(tokens.refreshToken, basic("test-client-id", "wrong"));
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: "invalid_client" });
    expect((await refresh(tokens.refreshToken, "Bearer nonsense")).status).toBe(401);
    // The refresh token was not used up by the refused call.
    expect((await refresh(tokens.refreshToken)).status).toBe(200);
  });

  it("refuses unknown, revoked and other clients' refresh tokens with invalid_grant", async () => {
    expect((await refresh("no-such-token")).body).toEqual({
      error: "invalid_grant",
      error_description: "Token invalid",
    });
    const { tokens } = await emulator.realm();
    await emulator.control.registerClient({ clientId: "other-app", clientSecret: "other-secret" });
    expect((await refresh(tokens.refreshToken, basic("other-app", "other-secret"))).body).toMatchObject({
      error: "invalid_grant",
    });
    await emulator.control.revokeRefreshTokens(tokens.realmId);
    expect((await refresh(tokens.refreshToken)).body).toEqual({
      error: "invalid_grant",
      error_description: "Token invalid",
    });
  });

  it("rejects an expired refresh token", async () => {
    const { tokens } = await emulator.realm({ refreshTokenTtlSeconds: 0.2 });
    await new Promise((resolve) => setTimeout(resolve, 250));
    expect((await refresh(tokens.refreshToken)).body).toEqual({
      error: "invalid_grant",
      error_description: "Token invalid",
    });
  });
});

describe("revocation", () => {
  it("revokes the whole grant: its refresh token and access tokens stop working", async () => {
    const { tokens, qbo } = await emulator.realm();
    const response = await fetch(`${emulator.url}/v2/oauth2/tokens/revoke`, {
      method: "POST",
      headers: { authorization: basic(), "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ token: tokens.refreshToken }),
    });
    expect(response.status).toBe(200);
    expect((await refresh(tokens.refreshToken)).body).toEqual({
      error: "invalid_grant",
      error_description: "Token invalid",
    });
    expect((await qbo.query("SELECT * FROM Customer")).status).toBe(401);
    expect((await emulator.control.stats(tokens.realmId)).revokeCalls).toBe(1);
  });

  it("requires client authentication", async () => {
    const { tokens } = await emulator.realm();
    const response = await fetch(`${emulator.url}/v2/oauth2/tokens/revoke`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: tokens.refreshToken }),
    });
    expect(response.status).toBe(401);
    expect((await refresh(tokens.refreshToken)).status).toBe(200);
  });
});

describe("the consent page and authorization codes", () => {
  const redirectUri = "https://worker.test/oauth/qbo/callback";

  function consentUrl(overrides: Record<string, string> = {}) {
    const url = new URL(`${emulator.url}/connect/oauth2`);
    const params = {
      client_id: "test-client-id",
      response_type: "code",
      scope: "com.intuit.quickbooks.accounting",
      redirect_uri: redirectUri,
      state: "state-123",
      ...overrides,
    };
    for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
    return url;
  }

  async function decide(decision: "connect" | "cancel", page: string) {
    const form = new URLSearchParams();
    for (const match of page.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
      form.set(match[1] ?? "", (match[2] ?? "").replaceAll("&amp;", "&"));
    }
    form.set("decision", decision);
    const response = await fetch(`${emulator.url}/connect/oauth2/decision`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: form,
      redirect: "manual",
    });
    return response;
  }

  it("shows the company it will connect, and Connect redirects with code, state and realmId", async () => {
    const { tokens } = await emulator.realm({ companyName: "Consent Co" });
    await emulator.control.registerClient({
      clientId: "consent-app",
      clientSecret: "s3cret",
      appName: "PO Invoicing",
    });
    await emulator.control.setConsentRealm(tokens.realmId, "consent-app");

    const page = await fetch(consentUrl({ client_id: "consent-app" }));
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain("Connect PO Invoicing to QuickBooks");
    expect(html).toContain("Consent Co");
    expect(html).toContain('<button id="connect"');
    expect(html).toContain('<button id="cancel"');

    const redirect = await decide("connect", html);
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get("location") ?? "");
    expect(`${location.origin}${location.pathname}`).toBe(redirectUri);
    expect(location.searchParams.get("state")).toBe("state-123");
    expect(location.searchParams.get("realmId")).toBe(tokens.realmId);
    const code = location.searchParams.get("code") ?? "";

    const exchange = (form: Record<string, string>) =>
      tokenCall({ grant_type: "authorization_code", ...form }, basic("consent-app", "s3cret"));
    expect((await exchange({ code, redirect_uri: "https://evil.test/cb" })).body).toMatchObject({
      error: "invalid_grant",
    });
    const granted = await exchange({ code, redirect_uri: redirectUri });
    expect(granted.status).toBe(200);
    const api = new QboClient(emulator.url, tokens.realmId, granted.body.access_token);
    expect((await api.query("SELECT * FROM Customer")).status).toBe(200);
    // Single use.
    expect((await exchange({ code, redirect_uri: redirectUri })).body).toEqual({
      error: "invalid_grant",
      error_description: "Token invalid",
    });
    expect((await emulator.control.stats(tokens.realmId)).tokenCalls.authorization_code).toBe(3);
  });

  it("creates a new company when no consent realm is set, and binds the code to its client", async () => {
    const html = await (await fetch(consentUrl())).text();
    const location = new URL((await decide("connect", html)).headers.get("location") ?? "");
    const realmId = location.searchParams.get("realmId") ?? "";
    expect(realmId).toMatch(/^\d{16}$/);
    const code = location.searchParams.get("code") ?? "";
    await emulator.control.registerClient({ clientId: "thief", clientSecret: "thief" });
    const stolen = await tokenCall(
      { grant_type: "authorization_code", code, redirect_uri: redirectUri },
      basic("thief", "thief"),
    );
    expect(stolen.body).toEqual({ error: "invalid_grant", error_description: "Token invalid" });
    expect((await emulator.control.stats(realmId)).tokenCalls.authorization_code).toBe(1);
  });

  it("Cancel redirects with error=access_denied and the state", async () => {
    const html = await (await fetch(consentUrl())).text();
    const response = await decide("cancel", html);
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get("location") ?? "");
    expect(location.searchParams.get("error")).toBe("access_denied");
    expect(location.searchParams.get("state")).toBe("state-123");
    expect(location.searchParams.get("code")).toBeNull();
  });

  it.each([
    [{ client_id: "unknown-client" }, "Unknown client_id"],
    [{ scope: "openid" }, "scope must include"],
    [{ response_type: "token" }, "response_type"],
    [{ redirect_uri: "not a url" }, "redirect_uri"],
  ])("shows an error page for %j", async (overrides, message) => {
    const response = await fetch(consentUrl(overrides));
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(await response.text()).toContain(message);
  });
});
