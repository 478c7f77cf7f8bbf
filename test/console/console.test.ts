/**
 * The operator console (SPEC §13): sessions (sealed cookie, expiry, tampering, revocation), CSRF
 * on every form, roles, escaping, and the discrepancy acknowledgement it uses.
 */
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SESSION_TTL_MS } from "../../src/console/session";
import { call, createConference, createPo, expectError, paths, unique } from "../helpers";
import { ConsoleBrowser, csrfOf } from "./browser";

async function key(slug: string, role: "viewer" | "finance" | "admin") {
  const res = await call("POST", `${paths.conference(slug)}/api-keys`, { name: `${role} person`, role });
  expect(res.status).toBe(201);
  return res.body as { id: string; key: string };
}

async function paymentsOf(slug: string, reference: string): Promise<unknown[]> {
  return (await call("GET", paths.po(slug, reference))).body.payments;
}

const paymentForm = (csrf: string) => ({
  _csrf: csrf,
  _idem: crypto.randomUUID(),
  amount: "100.00",
  method: "wire",
  paymentDate: "2026-11-30",
  reference: "WIRE-1",
  note: "",
});

afterEach(() => vi.restoreAllMocks());

describe("console sessions", () => {
  it("signs a finance key in with a sealed HttpOnly SameSite=Lax cookie and shows its conference", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const browser = new ConsoleBrowser();
    const first = await browser.get("/console");
    const res = await browser.post("/console/sign-in", {
      _csrf: csrfOf(first.html),
      token: (await key(slug, "finance")).key,
    });
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith("qpo_console="));
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Lax/);
    expect(cookie).toMatch(/Path=\/console/);
    expect(cookie).toMatch(/Secure/); // worker.test is not a loopback host
    expect(cookie?.slice("qpo_console=".length)).not.toContain("qpo_"); // the key is sealed, not readable
    const home = await browser.get("/console");
    expect(home.location).toBe(`/console/c/${slug}`);
    const list = await browser.get(`/console/c/${slug}/pos`);
    expect(list.status).toBe(200);
    expect(list.html).toContain(reference);
    expect(list.headers.get("content-security-policy")).toContain("default-src 'none'");
  });

  it("refuses an unknown key and a sign-in form without its token", async () => {
    const browser = new ConsoleBrowser();
    const page = await browser.get("/console");
    expect(
      (await browser.post("/console/sign-in", { _csrf: csrfOf(page.html), token: "qpo_nope" })).status,
    ).toBe(401);
    expect((await browser.post("/console/sign-in", { token: env.API_TOKEN ?? "" })).status).toBe(403);
    expect(browser.cookies.has("qpo_console")).toBe(false);
  });

  it("signs out after the session's 8 hours, and a tampered cookie is no session", async () => {
    const slug = await createConference();
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "viewer")).key);
    expect((await browser.get(`/console/c/${slug}`)).status).toBe(200);

    const sealed = browser.cookies.get("qpo_console") ?? "";
    const flipped = `${sealed.slice(0, 20)}${sealed[20] === "A" ? "B" : "A"}${sealed.slice(21)}`;
    const tampered = new ConsoleBrowser();
    tampered.cookies.set("qpo_console", flipped);
    const refused = await tampered.get(`/console/c/${slug}`);
    expect(refused.status).toBe(303);
    expect(refused.location).toBe("/console");
    expect(tampered.cookies.has("qpo_console")).toBe(false);

    const now = Date.now();
    vi.spyOn(Date, "now").mockReturnValue(now + SESSION_TTL_MS + 1000);
    const expired = await browser.get(`/console/c/${slug}`);
    expect(expired.status).toBe(303);
    expect(expired.location).toBe("/console");
  });

  it("a revoked key is signed out at its next click", async () => {
    const slug = await createConference();
    const k = await key(slug, "finance");
    const browser = new ConsoleBrowser();
    await browser.signIn(k.key);
    expect((await browser.get(`/console/c/${slug}/pos`)).status).toBe(200);
    expect((await call("DELETE", `${paths.conference(slug)}/api-keys/${k.id}`)).status).toBe(204);
    const after = await browser.get(`/console/c/${slug}/pos`);
    expect(after.status).toBe(303);
    expect(after.location).toBe("/console");
  });

  it("signs out only with the form's token, and then the cookie is gone", async () => {
    const slug = await createConference();
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "viewer")).key);
    const page = await browser.get(`/console/c/${slug}`);
    expect((await browser.post("/console/sign-out", { _csrf: "forged" })).status).toBe(403);
    expect(browser.cookies.has("qpo_console")).toBe(true);
    const out = await browser.post("/console/sign-out", { _csrf: csrfOf(page.html) });
    expect(out.status).toBe(303);
    expect(browser.cookies.has("qpo_console")).toBe(false);
    expect((await browser.get(`/console/c/${slug}`)).location).toBe("/console");
  });

  it("serves its pinned stylesheet and nothing under another version", async () => {
    const browser = new ConsoleBrowser();
    const page = await browser.get("/console");
    const href = /<link rel="stylesheet" href="([^"]+)"/.exec(page.html)?.[1] ?? "";
    const css = await browser.get(href);
    expect(css.status).toBe(200);
    expect(css.headers.get("content-type")).toContain("text/css");
    expect(css.headers.get("cache-control")).toContain("immutable");
    expect((await browser.get("/console/assets/0/console.css")).status).toBe(404);
  });

  it("a key sees no other conference", async () => {
    const slug = await createConference();
    const other = await createConference();
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "admin")).key);
    expect((await browser.get(`/console/c/${other}`)).status).toBe(404);
  });
});

describe("console forms", () => {
  it("refuses a POST without or with a wrong CSRF token, and changes nothing", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "finance")).key);
    const page = await browser.get(`/console/c/${slug}/pos/${reference}`);
    const csrf = csrfOf(page.html);
    const action = `/console/c/${slug}/pos/${reference}/payment`;

    const { _csrf, ...withoutToken } = paymentForm(csrf);
    expect((await browser.post(action, withoutToken)).status).toBe(403);
    expect((await browser.post(action, paymentForm(`${csrf.slice(0, -1)}x`))).status).toBe(403);
    // Another browser's session token does not fit this session.
    const other = new ConsoleBrowser();
    await other.signIn((await key(slug, "finance")).key);
    const otherCsrf = csrfOf((await other.get(`/console/c/${slug}/pos/${reference}`)).html);
    expect((await browser.post(action, paymentForm(otherCsrf))).status).toBe(403);
    // A cross-site Origin is refused even with the right token.
    expect((await browser.post(action, paymentForm(csrf), { origin: "https://evil.example" })).status).toBe(
      403,
    );
    expect(await paymentsOf(slug, reference)).toEqual([]);

    const ok = await browser.post(action, paymentForm(csrf));
    expect(ok.status, ok.html).toBe(303);
    expect(ok.location).toBe(`/console/c/${slug}/pos/${reference}?done=payment`);
    const payments = (await paymentsOf(slug, reference)) as { amount: string; method: string }[];
    expect(payments.map((p) => [p.amount, p.method])).toEqual([["100.00", "wire"]]);
    const shown = await browser.get(ok.location ?? "");
    expect(shown.html).toContain("The payment was recorded.");
  });

  it("a double-submitted form records once (its Idempotency-Key)", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const browser = new ConsoleBrowser();
    await browser.signIn(env.API_TOKEN ?? "");
    const csrf = csrfOf((await browser.get(`/console/c/${slug}/pos/${reference}`)).html);
    const form = paymentForm(csrf);
    const action = `/console/c/${slug}/pos/${reference}/payment`;
    expect((await browser.post(action, form)).status).toBe(303);
    expect((await browser.post(action, form)).status).toBe(303);
    expect(await paymentsOf(slug, reference)).toHaveLength(1);
  });

  it("a viewer sees no action and cannot act", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "viewer")).key);
    const page = await browser.get(`/console/c/${slug}/pos/${reference}`);
    expect(page.status).toBe(200);
    expect(page.html).not.toContain("Record payment");
    expect(page.html).not.toContain("Cancel purchase order");
    const res = await browser.post(
      `/console/c/${slug}/pos/${reference}/payment`,
      paymentForm(csrfOf(page.html)),
    );
    expect(res.status).toBe(403);
    expect(res.html).toContain("may not call this operation");
    expect(await paymentsOf(slug, reference)).toEqual([]);
    const connection = await browser.get(`/console/c/${slug}/qbo`);
    expect(connection.status).toBe(200);
    expect(connection.html).not.toContain("Connect QuickBooks</button>");
    const connect = await browser.post(`/console/c/${slug}/qbo/connect`, { _csrf: csrfOf(connection.html) });
    expect(connect.status).toBe(403);
  });

  it("an admin's Connect goes to the Worker's consent start page; finance sees no Connect", async () => {
    const slug = await createConference();
    const finance = new ConsoleBrowser();
    await finance.signIn((await key(slug, "finance")).key);
    const financePage = await finance.get(`/console/c/${slug}/qbo`);
    expect(financePage.html).toContain("Sync every outstanding invoice now");
    expect(financePage.html).not.toContain("Connect QuickBooks</button>");
    const refused = await finance.post(`/console/c/${slug}/qbo/connect`, { _csrf: csrfOf(financePage.html) });
    expect(refused.status).toBe(403);
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "admin")).key);
    const page = await browser.get(`/console/c/${slug}/qbo`);
    expect(page.html).toContain("Connect QuickBooks</button>");
    const res = await browser.post(`/console/c/${slug}/qbo/connect`, { _csrf: csrfOf(page.html) });
    expect(res.status, res.html).toBe(303);
    expect(res.location).toMatch(/^http:\/\/worker\.test\/oauth\/qbo\/start\?state=/);
  });

  it("shows an API refusal on the page with the API's status", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "finance")).key);
    const csrf = csrfOf((await browser.get(`/console/c/${slug}/pos/${reference}`)).html);
    const res = await browser.post(`/console/c/${slug}/pos/${reference}/payment`, {
      ...paymentForm(csrf),
      amount: "-5",
    });
    expect(res.status).toBe(400);
    expect(res.html).toContain('role="alert"');
    expect(res.html).toContain("amount");
  });
});

describe("console rendering", () => {
  it("renders an organization named like a script as text", async () => {
    const slug = await createConference(unique("conf"), { name: "<b>Conf</b>" });
    const evil = "<script>alert(1)</script>";
    const { reference } = await createPo(slug, {
      organizationName: evil,
      notes: '"><img src=x onerror=alert(1)>',
    });
    const browser = new ConsoleBrowser();
    await browser.signIn(env.API_TOKEN ?? "");
    for (const path of [
      `/console/c/${slug}/pos`,
      `/console/c/${slug}/pos/${reference}`,
      `/console/c/${slug}`,
      "/console",
    ]) {
      const page = await browser.get(path);
      expect(page.status, path).toBe(200);
      expect(page.html, path).not.toContain("<script>");
      expect(page.html, path).not.toContain("<b>Conf</b>");
      expect(page.html, path).not.toContain("<img src=x");
    }
    expect((await browser.get(`/console/c/${slug}/pos`)).html).toContain(
      "&lt;script&gt;alert(1)&lt;/script&gt;",
    );
  });

  it("searches by organization and reference, and filters by status", async () => {
    const slug = await createConference();
    const a = await createPo(slug, { organizationName: "Zebra 100% Ltd" });
    const b = await createPo(slug, { organizationName: "Yak Inc" });
    const browser = new ConsoleBrowser();
    await browser.signIn(env.API_TOKEN ?? "");
    const byName = (await browser.get(`/console/c/${slug}/pos?q=${encodeURIComponent("100%")}`)).html;
    expect(byName).toContain(a.reference);
    expect(byName).not.toContain(b.reference);
    const byRef = (await browser.get(`/console/c/${slug}/pos?q=${b.reference.slice(3).toLowerCase()}`)).html;
    expect(byRef).toContain(b.reference);
    expect(byRef).not.toContain(a.reference);
    expect((await browser.get(`/console/c/${slug}/pos?status=paid`)).html).not.toContain(a.reference);
    expect((await browser.get(`/console/c/${slug}/pos?status=nonsense`)).status).toBe(400);
  });
});

describe("acknowledging a discrepancy", () => {
  async function poWithDiscrepancy() {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    // A discrepancy as reconciliation leaves one (its own tests make them through QBO).
    await env.DB.prepare(
      "UPDATE purchase_orders SET qbo_invoice_id = '9' || id, qbo_realm_id = '1', qbo_discrepancy_kind = 'unexplained_balance', qbo_discrepancy_message = 'QuickBooks shows 50.00 more paid', qbo_discrepancy_at = '2026-11-30T10:00:00.000Z' WHERE reference = ?",
    )
      .bind(reference)
      .run();
    return { slug, reference };
  }

  it("clears it and writes the note into the timeline; a second time is 409", async () => {
    const { slug, reference } = await poWithDiscrepancy();
    const url = `${paths.po(slug, reference)}/discrepancy/acknowledge`;
    const res = await call("POST", url, { note: "Deposit taken at the booth" });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.qbo.discrepancy).toBeNull();
    const events = (await call("GET", `${paths.po(slug, reference)}/events`)).body as {
      type: string;
      data: any;
    }[];
    expect(events.at(-1)).toMatchObject({
      type: "qbo.discrepancy_acknowledged",
      data: { reference, kind: "unexplained_balance", note: "Deposit taken at the booth" },
    });
    expectError(await call("POST", url, { note: "again" }), 409, "invalid_state");
    expectError(await call("POST", url, {}), 400, "validation_failed");
  });

  it("needs the finance role, and works from the console", async () => {
    const { slug, reference } = await poWithDiscrepancy();
    const url = `${paths.po(slug, reference)}/discrepancy/acknowledge`;
    expectError(
      await call("POST", url, { note: "x" }, { token: (await key(slug, "viewer")).key }),
      403,
      "forbidden",
    );
    const browser = new ConsoleBrowser();
    await browser.signIn((await key(slug, "finance")).key);
    const page = await browser.get(`/console/c/${slug}/pos/${reference}`);
    expect(page.html).toContain("QuickBooks shows 50.00 more paid");
    const res = await browser.post(`/console/c/${slug}/pos/${reference}/acknowledge`, {
      _csrf: csrfOf(page.html),
      _idem: crypto.randomUUID(),
      note: "Checked with the bank",
    });
    expect(res.status, res.html).toBe(303);
    const events = (await call("GET", `${paths.po(slug, reference)}/events`)).body as {
      type: string;
      actor: any;
    }[];
    expect(events.at(-1)).toMatchObject({
      type: "qbo.discrepancy_acknowledged",
      actor: { type: "api_key", name: "finance person" },
    });
  });
});
