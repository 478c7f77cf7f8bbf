#!/usr/bin/env node
/**
 * `npm run test:e2e`: the OAuth connect flow in a real browser. Starts the sandbox (emulator +
 * `wrangler dev` with its own state directory), asks the API for a connect link, and drives
 * headless Chromium through Intuit's (emulated) consent page and back to the callback.
 * Checks: connect → the Worker's start page (binding cookie) → consent → callback connects the
 * conference; replaying the callback URL is refused without a code exchange; a callback opened in
 * another browser (no binding cookie) is refused while the one that started it still finishes;
 * "Cancel" on the consent page is reported as not granted;
 * picking another company while invoices are open is refused (409 page) unless the link was
 * asked with `force`; /docs renders Swagger UI from the Worker alone, under its CSP.
 * Screenshots go to E2E_SCREENSHOTS (default .wrangler/e2e-screenshots) to be looked at.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";
import { apiClient, freePort, root, sandboxSecrets, startSandbox } from "../../scripts/lib/sandbox.mjs";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
if (!existsSync(CHROMIUM)) {
  console.error(
    `✖ Chromium not found at ${CHROMIUM}. Install it (apt-get install chromium) or set CHROMIUM_PATH.`,
  );
  process.exit(1);
}

const secrets = sandboxSecrets("e2e");
const persistTo = join(root, ".wrangler", "e2e-state");
rmSync(persistTo, { recursive: true, force: true });

const shots = process.env.E2E_SCREENSHOTS ?? join(root, ".wrangler", "e2e-screenshots");
mkdirSync(shots, { recursive: true });

/** The few accessibility basics a plain server page must have: a language, a title, one h1. */
async function assertPageBasics(page) {
  assert.ok(await page.getAttribute("html", "lang"), "html has a lang attribute");
  assert.ok((await page.title()).trim().length > 0, "page has a title");
  assert.equal(await page.locator("h1").count(), 1, "page has exactly one h1");
}

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`  ✓ ${name}`);
  } catch (err) {
    results.push([name, false]);
    console.log(`  ✗ ${name}\n    ${err instanceof Error ? err.message : err}`);
  }
}

const sandbox = await startSandbox({
  workerPort: await freePort(),
  emulatorPort: await freePort(),
  secrets,
  secretsAsVars: true,
  persistTo,
  stdio: "ignore",
});
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
  ],
});

try {
  const api = apiClient(sandbox.workerUrl, secrets.API_TOKEN);
  const control = (path, body) =>
    fetch(`${sandbox.emulatorUrl}${path}`, {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  console.log("OAuth connect flow in Chromium");

  await check("connect → consent → callback connects the conference", async () => {
    await api("PUT", "/api/conferences/e2e-conf", { name: "E2E Conference" });
    const realm = await (
      await fetch(`${sandbox.emulatorUrl}/__control/realms`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ companyName: "E2E Sandbox Company" }),
      })
    ).json();
    await control("/__control/consent-realm", { realmId: realm.realmId });
    const { url } = await api("POST", "/api/conferences/e2e-conf/qbo/connect");
    const link = new URL(url);
    assert.equal(`${link.origin}${link.pathname}`, `${sandbox.workerUrl}/oauth/qbo/start`);

    const page = await browser.newPage();
    await page.goto(url);
    // The start page redirected to Intuit's consent page and left the binding cookie behind.
    const target = new URL(page.url());
    assert.equal(target.origin, sandbox.emulatorUrl);
    assert.equal(target.searchParams.get("scope"), "com.intuit.quickbooks.accounting");
    assert.equal(target.searchParams.get("response_type"), "code");
    assert.equal(target.searchParams.get("state"), link.searchParams.get("state"));
    const [cookie] = await page.context().cookies(`${sandbox.workerUrl}/oauth/qbo/callback`);
    assert.equal(cookie?.name, "qbo_oauth_binding");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.equal(cookie.path, "/oauth/qbo");
    // http://127.0.0.1: the one place the cookie goes without Secure (README, connect flow).
    assert.equal(cookie.secure, false);
    await page.click("#connect");
    await page.waitForURL(/\/oauth\/qbo\/callback/);
    assert.equal((await page.textContent("#title"))?.trim(), "QuickBooks connected");
    const conference = await api("GET", "/api/conferences/e2e-conf");
    assert.equal(conference.qbo.connected, true);
    assert.equal(conference.qbo.realmId, realm.realmId);
    assert.deepEqual(await page.context().cookies(`${sandbox.workerUrl}/oauth/qbo/callback`), []);

    // The tokens work: an invoice can be made.
    const po = await api("POST", "/api/conferences/e2e-conf/purchase-orders", {
      organizationName: "Browser Test Inc",
      contactName: "E2E",
      contactEmail: "e2e@example.test",
      lineItems: [{ description: "Ticket", quantity: 2, unitPrice: "99.50" }],
    });
    const invoiced = await api(
      "POST",
      `/api/conferences/e2e-conf/purchase-orders/${po.reference}/qbo-invoice`,
      {},
    );
    // The emulated company taxes like a US one (8.875% Automated Sales Tax): 199.00 + 17.66.
    assert.equal(invoiced.subtotal, "199.00");
    assert.equal(invoiced.tax, "17.66");
    assert.equal(invoiced.qbo.totalAmt, "216.66");

    await assertPageBasics(page);
    // Replaying the callback URL (same state) is refused: the callback cleared the cookie.
    const replay = await page.goto(page.url());
    assert.equal(replay?.status(), 400);
    assert.match((await page.textContent("#message")) ?? "", /not started in this browser/);
    await page.close();
  });

  await check(
    "a callback opened in another browser is refused; the one that started it finishes",
    async () => {
      await api("PUT", "/api/conferences/e2e-other-browser", { name: "Other Browser Conference" });
      const realm = await (
        await fetch(`${sandbox.emulatorUrl}/__control/realms`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ companyName: "E2E Other Browser Company" }),
        })
      ).json();
      await control("/__control/consent-realm", { realmId: realm.realmId });
      const { url } = await api("POST", "/api/conferences/e2e-other-browser/qbo/connect");

      // The operator's browser consents; Intuit's redirect back is caught before it is followed
      // (Playwright does not intercept redirect hops, so the consent form's answer is taken whole).
      const operator = await browser.newPage();
      let callback = "";
      const isDecision = (u) => u.pathname === "/connect/oauth2/decision";
      await operator.route(isDecision, async (route) => {
        const answer = await route.fetch({ maxRedirects: 0 });
        callback = answer.headers().location ?? "";
        return route.fulfill({
          status: 200,
          contentType: "text/html",
          body: "<!doctype html><title>held</title>",
        });
      });
      await operator.goto(url);
      await operator.click("#connect");
      await operator.waitForLoadState();
      assert.match(callback, /\/oauth\/qbo\/callback\?/, "the consent page redirected to the callback");
      await operator.unroute(isDecision);

      // Someone else's browser (its own context: no cookie) follows the same callback URL.
      const stranger = await browser.newPage();
      const refused = await stranger.goto(callback);
      assert.equal(refused?.status(), 400);
      assert.equal((await stranger.textContent("#title"))?.trim(), "Connection failed");
      assert.match((await stranger.textContent("#message")) ?? "", /not started in this browser/);
      await assertPageBasics(stranger);
      await stranger.screenshot({ path: join(shots, "oauth-other-browser-refused.png") });
      assert.equal((await api("GET", "/api/conferences/e2e-other-browser")).qbo.connected, false);
      await stranger.close();

      const done = await operator.goto(callback);
      assert.equal(done?.status(), 200);
      assert.equal((await operator.textContent("#title"))?.trim(), "QuickBooks connected");
      assert.equal((await api("GET", "/api/conferences/e2e-other-browser")).qbo.connected, true);
      await operator.close();
    },
  );

  await check("Cancel on the consent page is reported as not granted", async () => {
    await api("PUT", "/api/conferences/e2e-denied", { name: "Denied Conference" });
    const { url } = await api("POST", "/api/conferences/e2e-denied/qbo/connect");
    const page = await browser.newPage();
    await page.goto(url);
    await page.click("#cancel");
    await page.waitForURL(/\/oauth\/qbo\/callback/);
    assert.equal((await page.textContent("#title"))?.trim(), "Connection failed");
    assert.match((await page.textContent("#message")) ?? "", /not granted/);
    assert.equal((await api("GET", "/api/conferences/e2e-denied")).qbo.connected, false);
    await page.close();
  });

  await check("a tampered state is refused", async () => {
    await api("PUT", "/api/conferences/e2e-tamper", { name: "Tamper Conference" });
    const { url } = await api("POST", "/api/conferences/e2e-tamper/qbo/connect");
    const state = new URL(url).searchParams.get("state");
    const forged = `${state.slice(0, -2)}${state.endsWith("A") ? "B" : "A"}A`;
    const page = await browser.newPage();
    const res = await page.goto(
      `${sandbox.workerUrl}/oauth/qbo/callback?code=x&realmId=1&state=${encodeURIComponent(forged)}`,
    );
    assert.equal(res?.status(), 400);
    assert.match((await page.textContent("#message")) ?? "", /not valid/);
    await page.close();
  });
  await check(
    "another company is refused while invoices are open, and connects when asked with force",
    async () => {
      const other = await (
        await fetch(`${sandbox.emulatorUrl}/__control/realms`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ companyName: "E2E Other Company" }),
        })
      ).json();
      const before = await api("GET", "/api/conferences/e2e-conf");
      await control("/__control/consent-realm", { realmId: other.realmId });

      const page = await browser.newPage();
      const { url } = await api("POST", "/api/conferences/e2e-conf/qbo/connect");
      await page.goto(url);
      const [refused] = await Promise.all([
        page.waitForResponse((r) => r.url().includes("/oauth/qbo/callback")),
        page.click("#connect"),
      ]);
      assert.equal(refused.status(), 409);
      assert.equal((await page.textContent("#title"))?.trim(), "Connection failed");
      assert.match((await page.textContent("#message")) ?? "", /force/);
      await assertPageBasics(page);
      await page.screenshot({ path: join(shots, "oauth-realm-change-refused.png") });
      assert.equal((await api("GET", "/api/conferences/e2e-conf")).qbo.realmId, before.qbo.realmId);

      const forced = await api("POST", "/api/conferences/e2e-conf/qbo/connect", { force: true });
      await page.goto(forced.url);
      await page.click("#connect");
      await page.waitForURL(/\/oauth\/qbo\/callback/);
      assert.equal((await page.textContent("#title"))?.trim(), "QuickBooks connected");
      const after = await api("GET", "/api/conferences/e2e-conf");
      assert.equal(after.qbo.realmId, other.realmId);
      assert.deepEqual(after.qbo.previousRealms, [{ realmId: before.qbo.realmId, openInvoices: 1 }]);
      await page.close();
    },
  );

  await check("/docs renders Swagger UI from the Worker alone, with no CSP violation", async () => {
    const page = await browser.newPage();
    const foreign = [];
    const problems = [];
    page.on("request", (r) => {
      if (!r.url().startsWith(sandbox.workerUrl)) foreign.push(r.url());
    });
    page.on("console", (m) => {
      if (m.type() === "error" && !/status of 404/.test(m.text())) problems.push(m.text());
    });
    page.on("response", (r) => {
      if (r.status() >= 400 && !r.url().endsWith("/favicon.ico")) problems.push(`${r.status()} ${r.url()}`);
    });
    const res = await page.goto(`${sandbox.workerUrl}/docs`);
    assert.match(res?.headers()["content-security-policy"] ?? "", /script-src 'self'/);
    await page.waitForSelector(".opblock", { timeout: 15_000 });
    const operations = await page.locator(".opblock").count();
    assert.ok(operations >= 20, `expected every operation, saw ${operations}`);
    assert.ok(
      await page.getByText("/api/conferences/{slug}/purchase-orders/{reference}/payments/{id}/void").count(),
    );
    await page.screenshot({ path: join(shots, "docs.png") });
    assert.deepEqual(foreign, []);
    assert.deepEqual(problems, []);
    await page.close();
  });
} finally {
  await browser.close();
  sandbox.stop();
}

const failed = results.filter(([, ok]) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
