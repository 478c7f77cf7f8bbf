#!/usr/bin/env node
/**
 * `npm run test:e2e` (second part): the operator console (SPEC §13) in a real browser. Starts the
 * sandbox (emulator + `wrangler dev`, own state directory) and drives headless Chromium as a new
 * finance admin would: sign in with a fresh conference key, connect QuickBooks on the emulator's
 * consent page, create an invoice, see a customer's QuickBooks payment arrive by webhook, record
 * a wire, acknowledge a discrepancy (an invoice voided in QuickBooks), sign out.
 *
 * On every page visited, axe-core (the npm package, injected from node_modules) must find no
 * serious or critical violation, the page must have one h1, and nothing may be loaded from another
 * origin. Screenshots go to docs/screenshots/ (shown in the README); E2E_SCREENSHOTS overrides.
 */
import assert from "node:assert/strict";
import { existsSync, mkdirSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
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
const AXE = createRequire(import.meta.url).resolve("axe-core/axe.min.js");

const secrets = sandboxSecrets("console-e2e");
const persistTo = join(root, ".wrangler", "e2e-console-state");
rmSync(persistTo, { recursive: true, force: true });
const shots = process.env.E2E_SCREENSHOTS ?? join(root, "docs", "screenshots");
mkdirSync(shots, { recursive: true });

const results = [];
async function check(name, fn) {
  try {
    await fn();
    results.push([name, true]);
    console.log(`  ✓ ${name}`);
  } catch (err) {
    results.push([name, false]);
    console.log(`  ✗ ${name}\n    ${err instanceof Error ? (err.stack ?? err.message) : err}`);
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

/** Pages checked with axe, by URL path. */
const audited = [];
async function audit(page, shot) {
  assert.ok(await page.getAttribute("html", "lang"), "html has a lang attribute");
  assert.equal(await page.locator("h1").count(), 1, "page has exactly one h1");
  await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    // `axe` is the global that addScriptTag injected.
    const r = await axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      nodes: v.nodes.map((n) => n.target.join(" ")),
    }));
  });
  const grave = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of violations.filter((x) => !grave.includes(x)))
    console.log(
      `    axe (${v.impact}) ${v.id} on ${new URL(page.url()).pathname}: ${v.nodes.slice(0, 3).join(", ")}`,
    );
  assert.deepEqual(grave, [], `axe found serious or critical violations on ${page.url()}`);
  audited.push(new URL(page.url()).pathname);
  if (shot) await page.screenshot({ path: join(shots, `${shot}.png`), fullPage: true });
}

try {
  const api = apiClient(sandbox.workerUrl, secrets.API_TOKEN);
  const emulator = async (method, path, body) => {
    const res = await fetch(`${sandbox.emulatorUrl}/__control${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    assert.ok(res.ok, `${method} ${path} → ${res.status}`);
    return res.json();
  };
  const slug = "pycon-e2e";
  await api("PUT", `/api/conferences/${slug}`, { name: "PyCon E2E 2027" });
  const { key } = await api("POST", `/api/conferences/${slug}/api-keys`, {
    name: "Grace Hopper",
    role: "admin",
  });
  const realm = await emulator("POST", "/realms", { companyName: "PyCon Foundation Books" });
  await emulator("PUT", "/consent-realm", { realmId: realm.realmId });
  const orgs = ["Initech LLC", "Globex Corporation", "Umbrella Health", "Stark Industries", "Acme Widgets"];
  const pos = [];
  for (const [i, organizationName] of orgs.entries()) {
    pos.push(
      await api("POST", `/api/conferences/${slug}/purchase-orders`, {
        organizationName,
        contactName: "Accounts Payable",
        contactEmail: `ap${i}@example.test`,
        billingAddress: "1 Main St\nSpringfield, IL 62701",
        lineItems: [
          { description: "Gold sponsorship", quantity: 1, unitPrice: `${5000 + i * 750}.00` },
          { description: "Booth passes", quantity: 4, unitPrice: "299.99" },
        ],
      }),
    );
  }
  const [main, second] = pos;

  const context = await browser.newContext({
    bypassCSP: true, // only so that axe-core can be injected; the pages themselves load nothing foreign
    viewport: { width: 1280, height: 900 },
  });
  const page = await context.newPage();
  const foreign = [];
  page.on("request", (r) => {
    const url = r.url();
    if (!url.startsWith(sandbox.workerUrl) && !url.startsWith(sandbox.emulatorUrl)) foreign.push(url);
  });
  const base = `${sandbox.workerUrl}/console/c/${slug}`;
  const notice = () => page.locator(".notice").first().textContent();

  console.log("Operator console in Chromium");

  await check("a new user signs in with a conference key", async () => {
    await page.goto(`${sandbox.workerUrl}/console`);
    await audit(page, "console-sign-in");
    await page.fill("#token", "qpo_not-a-key");
    await page.click("button[type=submit]");
    assert.match((await notice()) ?? "", /not valid/);
    await page.fill("#token", key);
    await page.click("button[type=submit]");
    await page.waitForURL(`${base}`);
    const [cookie] = await context.cookies(`${sandbox.workerUrl}/console`);
    assert.equal(cookie?.name, "qpo_console");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Lax");
    assert.ok(!cookie.value.includes(key.slice(4)), "the key is sealed in the cookie");
  });

  await check("connects QuickBooks on the consent page", async () => {
    await page.goto(`${base}/qbo`);
    assert.match((await page.textContent("main")) ?? "", /not connected/);
    await audit(page);
    await page.click("#connect");
    await page.waitForURL((u) => u.origin === sandbox.emulatorUrl);
    await page.click("#connect");
    await page.waitForURL(/\/oauth\/qbo\/callback/);
    assert.equal((await page.textContent("#title"))?.trim(), "QuickBooks connected");
    await page.goto(`${base}/qbo`);
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /connected/);
    assert.ok(text.includes(realm.realmId), "the realm is shown");
    assert.match(text, /Reconnect QuickBooks/);
    await audit(page);
  });

  await check("creates an invoice from the PO page", async () => {
    await page.goto(`${base}/pos`);
    await audit(page);
    await page.click(`text=${main.reference}`);
    await page.waitForURL(`${base}/pos/${main.reference}`);
    await audit(page);
    await page.click("#create-invoice");
    await page.waitForURL(/done=invoice/);
    assert.match((await notice()) ?? "", /invoice was created/);
    assert.match((await page.textContent("main")) ?? "", /in QuickBooks/);
    const po = await api("GET", `/api/conferences/${slug}/purchase-orders/${main.reference}`);
    assert.ok(po.qbo?.invoiceId, "the PO has its QuickBooks invoice");
  });

  await check("sees a QuickBooks payment arrive after the webhook", async () => {
    const po = await api("GET", `/api/conferences/${slug}/purchase-orders/${main.reference}`);
    await emulator("POST", `/realms/${realm.realmId}/invoices/${po.qbo.invoiceId}/payments`, {
      amount: "1000.00",
      webhook: true,
    });
    const start = Date.now();
    for (;;) {
      await page.goto(`${base}/pos/${main.reference}`);
      const rows = await page
        .locator("#money ~ table tbody tr, section[aria-labelledby=money] tbody tr")
        .allTextContents();
      if (rows.some((r) => r.includes("1,000.00") && r.includes("qbo"))) break;
      assert.ok(Date.now() - start < 30_000, "no QuickBooks payment within 30 s");
      await page.waitForTimeout(500);
    }
    assert.match((await page.textContent("main")) ?? "", /partially paid/);
  });

  await check("records a wire", async () => {
    await page.fill("#pay-amount", "2500.00");
    await page.selectOption("#pay-method", "wire");
    await page.fill("#pay-ref", "FEDWIRE 20261130-7781");
    await page.click("#record-payment");
    await page.waitForURL(/done=payment/);
    assert.match((await notice()) ?? "", /payment was recorded/);
    const po = await api("GET", `/api/conferences/${slug}/purchase-orders/${main.reference}`);
    assert.ok(
      po.payments.some((p) => p.source === "qbo" && p.amount === "1000.00"),
      "the QuickBooks payment",
    );
    assert.ok(
      po.payments.some((p) => p.source === "manual" && p.method === "wire" && p.amount === "2500.00"),
    );
    await audit(page, "console-purchase-order");
  });

  await check("acknowledges a discrepancy (an invoice voided in QuickBooks)", async () => {
    const invoiced = await api(
      "POST",
      `/api/conferences/${slug}/purchase-orders/${second.reference}/qbo-invoice`,
      {},
    );
    await emulator("POST", `/realms/${realm.realmId}/invoices/${invoiced.qbo.invoiceId}/void`, {
      webhook: true,
    });
    const start = Date.now();
    for (;;) {
      const po = await api("GET", `/api/conferences/${slug}/purchase-orders/${second.reference}`);
      if (po.qbo?.discrepancy) break;
      assert.ok(Date.now() - start < 30_000, "no discrepancy within 30 s");
      await new Promise((r) => setTimeout(r, 500));
    }
    await page.goto(`${base}/pos?filter=discrepancy`);
    await audit(page);
    await page.click(`text=${second.reference}`);
    await page.waitForURL(`${base}/pos/${second.reference}`);
    assert.match((await page.textContent("main")) ?? "", /Discrepancy: invoice voided/);
    await audit(page, "console-discrepancy");
    await page.fill("#ack-note", "Voided on purpose: the sponsor moved to next year's conference.");
    await page.click("text=Acknowledge");
    await page.waitForURL(/done=acknowledge/);
    assert.match((await notice()) ?? "", /discrepancy was acknowledged/);
    assert.match((await page.textContent("main")) ?? "", /qbo\.discrepancy_acknowledged/);
    const po = await api("GET", `/api/conferences/${slug}/purchase-orders/${second.reference}`);
    assert.equal(po.qbo.discrepancy, null);
  });

  await check("the summary and the list show it all; then signs out", async () => {
    await page.goto(`${base}/pos`);
    await audit(page, "console-purchase-orders");
    await page.goto(base);
    const text = (await page.textContent("main")) ?? "";
    assert.match(text, /Payments by method/);
    assert.match(text, /wire/);
    await audit(page, "console-summary");
    await page.goto(`${base}/qbo`);
    await page.click("text=Sync every outstanding invoice now");
    await page.waitForURL(/done=sync-all/);
    await page.waitForTimeout(1500);
    await page.goto(`${base}/qbo`);
    assert.match((await page.textContent("main")) ?? "", /Last sync runs/);
    await audit(page, "console-quickbooks");
    await page.click("text=Sign out");
    await page.waitForURL(/\/console\?done=signed-out/);
    await audit(page);
    assert.deepEqual(
      await context
        .cookies(`${sandbox.workerUrl}/console`)
        .then((cs) => cs.filter((c) => c.name === "qpo_console")),
      [],
    );
    const back = await page.goto(`${base}/pos`);
    assert.equal(new URL(page.url()).pathname, "/console");
    assert.equal(back?.status(), 200);
  });

  await check("nothing was loaded from another origin", async () => {
    assert.deepEqual(foreign, []);
    assert.ok(audited.length >= 10, `axe ran on ${audited.length} pages`);
  });
  await context.close();
} finally {
  await browser.close();
  sandbox.stop();
}

const failed = results.filter(([, ok]) => !ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
