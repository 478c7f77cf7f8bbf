/**
 * Conference API keys and roles (SPEC §11): keys shown once and stored hashed, listed without
 * secrets, revoked at once, bound to their conference, limited on QuickBooks calls. The
 * route × role table over every operation is in security.test.ts.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { FRESH_SYNC_MS } from "../../src/http/rate-limit";
import {
  call,
  connectedConference,
  createConference,
  createPo,
  emulator,
  expectError,
  invoicedPo,
  paths,
  UNTAXED,
  unique,
} from "../helpers";

const apiKeys = (slug: string) => `${paths.conference(slug)}/api-keys`;

async function createKey(slug: string, role: string, token?: string) {
  const res = await call("POST", apiKeys(slug), { name: `${role} key`, role }, token ? { token } : {});
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as {
    id: string;
    name: string;
    role: string;
    key: string;
    prefix: string;
    createdAt: string;
  };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Every row and column of api_keys, as text, to search for a secret. */
async function apiKeysTableDump(): Promise<string> {
  const { results } = await env.DB.prepare("SELECT * FROM api_keys").all();
  return JSON.stringify(results);
}

/**
 * The local rate limiter counts in wall-clock-aligned minutes: wait for a fresh minute when the
 * current one is nearly over, so a test's requests all fall in one window.
 */
async function startOfAWindow(needMs = 20_000): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < needMs) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

describe("creating an API key", () => {
  it("shows the key once, as qpo_ and 43 base62 characters, and stores only its SHA-256", async () => {
    const slug = await createConference();
    const created = await createKey(slug, "finance");

    expect(created).toEqual({
      id: expect.any(String),
      name: "finance key",
      role: "finance",
      key: expect.stringMatching(/^qpo_[0-9A-Za-z]{43}$/),
      prefix: created.key.slice(0, 12),
      createdAt: expect.any(String),
    });
    const dump = await apiKeysTableDump();
    expect(dump).not.toContain(created.key);
    expect(dump).not.toContain(created.key.slice(4));
    const row = await env.DB.prepare("SELECT key_hash, prefix FROM api_keys WHERE id = ?")
      .bind(created.id)
      .first();
    expect(row).toEqual({ key_hash: await sha256Hex(created.key), prefix: created.key.slice(0, 12) });
  });

  it("mints a different key every time", async () => {
    const slug = await createConference();
    const keys = await Promise.all(Array.from({ length: 5 }, () => createKey(slug, "viewer")));

    expect(new Set(keys.map((k) => k.key)).size).toBe(5);
  });

  it("validates the name and role, and 404s for an unknown conference", async () => {
    const slug = await createConference();
    expectError(await call("POST", apiKeys(slug), { name: "x", role: "owner" }), 400, "validation_failed");
    expectError(await call("POST", apiKeys(slug), { name: " ", role: "viewer" }), 400, "validation_failed");
    expectError(await call("POST", apiKeys(unique("nope")), { name: "x", role: "viewer" }), 404, "not_found");
  });

  it("lets an admin key create keys for its own conference only", async () => {
    const slug = await createConference();
    const other = await createConference();
    const admin = await createKey(slug, "admin");

    const mine = await createKey(slug, "viewer", admin.key);
    expect((await call("GET", paths.conference(slug), undefined, { token: mine.key })).status).toBe(200);
    const theirs = await call("POST", apiKeys(other), { name: "x", role: "admin" }, { token: admin.key });
    expectError(theirs, 404, "not_found");
    const finance = await createKey(slug, "finance");
    expectError(
      await call("POST", apiKeys(slug), { name: "x", role: "viewer" }, { token: finance.key }),
      403,
      "forbidden",
    );
  });
});

describe("listing API keys", () => {
  it("lists the conference's keys, newest first, with no key and no hash", async () => {
    const slug = await createConference();
    const first = await createKey(slug, "viewer");
    const second = await createKey(slug, "admin");
    await createKey(await createConference(), "viewer");

    const res = await call("GET", apiKeys(slug), undefined, { token: second.key });

    expect(res.status).toBe(200);
    expect(res.body.items.map((k: { id: string }) => k.id).sort()).toEqual([first.id, second.id].sort());
    for (const item of res.body.items) {
      expect(Object.keys(item).sort()).toEqual(
        ["createdAt", "id", "lastUsedAt", "name", "prefix", "revokedAt", "role"].sort(),
      );
    }
    const text = JSON.stringify(res.body);
    expect(text).not.toContain(first.key);
    expect(text).not.toContain(second.key);
    expect(text).not.toContain(await sha256Hex(first.key));
  });

  it("records lastUsedAt on use, at most once a minute", async () => {
    const slug = await createConference();
    const viewer = await createKey(slug, "viewer");
    const listed = async () =>
      (await call("GET", apiKeys(slug))).body.items.find((k: { id: string }) => k.id === viewer.id);
    expect((await listed()).lastUsedAt).toBeNull();

    await call("GET", paths.conference(slug), undefined, { token: viewer.key });
    const firstUse = (await listed()).lastUsedAt;
    await call("GET", paths.conference(slug), undefined, { token: viewer.key });

    expect(firstUse).toEqual(expect.any(String));
    expect((await listed()).lastUsedAt).toBe(firstUse);
  });
});

describe("revoking an API key", () => {
  it("refuses the key with 401 on the very next request", async () => {
    const slug = await createConference();
    const viewer = await createKey(slug, "viewer");
    expect((await call("GET", paths.conference(slug), undefined, { token: viewer.key })).status).toBe(200);

    const revoked = await call("DELETE", `${apiKeys(slug)}/${viewer.id}`);

    expect(revoked.status).toBe(204);
    expectError(
      await call("GET", paths.conference(slug), undefined, { token: viewer.key }),
      401,
      "unauthorized",
    );
    const listed = (await call("GET", apiKeys(slug))).body.items[0];
    expect(listed).toEqual(expect.objectContaining({ id: viewer.id, revokedAt: expect.any(String) }));
    expect((await call("DELETE", `${apiKeys(slug)}/${viewer.id}`)).status).toBe(204);
  });

  it("does not revoke another conference's key (404)", async () => {
    const slug = await createConference();
    const other = await createConference();
    const theirs = await createKey(other, "viewer");

    expectError(await call("DELETE", `${apiKeys(slug)}/${theirs.id}`), 404, "not_found");
    expect((await call("GET", paths.conference(other), undefined, { token: theirs.key })).status).toBe(200);
  });
});

describe("a key on another conference", () => {
  it("gets 404 not_found, as if the conference did not exist, whatever its role", async () => {
    const slug = await createConference();
    const other = await createConference();
    const po = await createPo(other);
    const admin = await createKey(slug, "admin");

    expectError(
      await call("GET", paths.conference(other), undefined, { token: admin.key }),
      404,
      "not_found",
    );
    expectError(
      await call("GET", paths.po(other, po.reference), undefined, { token: admin.key }),
      404,
      "not_found",
    );
    expectError(
      await call("PUT", paths.conference(other), { name: "Taken" }, { token: admin.key }),
      404,
      "not_found",
    );
    expectError(
      await call("GET", paths.conference(unique("absent")), undefined, { token: admin.key }),
      404,
      "not_found",
    );
    expect((await call("GET", paths.conference(other))).body.name).toBe("Test Conf");
  });

  it("cannot reach it through a percent-encoded slug", async () => {
    const slug = await createConference("keys-abc");
    await createConference("keys-abd");
    const viewer = await createKey(slug, "viewer");

    const res = await call("GET", "/api/conferences/keys-ab%64", undefined, { token: viewer.key });
    expectError(res, 404, "not_found");
  });
});

describe("roles", () => {
  it("lets a viewer read a PO and its PDF but not record a payment", async () => {
    const { slug, reference } = await invoicedPo(undefined, UNTAXED);
    const viewer = await createKey(slug, "viewer");
    const opts = { token: viewer.key };

    expect((await call("GET", paths.po(slug, reference), undefined, opts)).status).toBe(200);
    expect((await call("GET", paths.qboInvoicePdf(slug, reference), undefined, opts)).status).toBe(200);
    const payment = { amount: "1.00", method: "wire", paymentDate: "2026-11-01" };
    expectError(await call("POST", paths.payments(slug, reference), payment, opts), 403, "forbidden");
  });

  it("lets a finance key create a PO but not change the conference or its QuickBooks tokens", async () => {
    const slug = await createConference();
    const finance = await createKey(slug, "finance");
    const opts = { token: finance.key };

    const po = await call(
      "POST",
      paths.pos(slug),
      {
        organizationName: "Acme",
        contactName: "Ada",
        contactEmail: "ada@acme.test",
        lineItems: [{ description: "Booth", quantity: 1, unitPrice: "10.00" }],
      },
      opts,
    );
    expect(po.status).toBe(201);
    expectError(await call("PUT", paths.conference(slug), { name: "Renamed" }, opts), 403, "forbidden");
    expectError(await call("DELETE", paths.qboTokens(slug), undefined, opts), 403, "forbidden");
  });
});

describe("QuickBooks calls by API keys", () => {
  it("answers a per-PO sync younger than 5 s from D1, without asking QuickBooks", async () => {
    const { slug, realmId, reference } = await invoicedPo(undefined, UNTAXED);
    const finance = await createKey(slug, "finance");
    const before = (await call("GET", paths.po(slug, reference))).body;
    await emulator().resetStats(realmId);

    const res = await call("POST", paths.qboInvoiceSync(slug, reference), undefined, { token: finance.key });

    expect(res.status).toBe(200);
    expect(res.body).toEqual(before);
    expect(Date.now() - Date.parse(before.qbo.lastSyncedAt)).toBeLessThan(FRESH_SYNC_MS);
    expect((await emulator().stats(realmId)).requests.total).toBe(0);
  });

  it("asks QuickBooks again once the last sync is 5 s old", async () => {
    const { slug, realmId, reference } = await invoicedPo(undefined, UNTAXED);
    const finance = await createKey(slug, "finance");
    const old = new Date(Date.now() - FRESH_SYNC_MS - 1000).toISOString();
    await env.DB.prepare("UPDATE purchase_orders SET qbo_last_synced_at = ? WHERE reference = ?")
      .bind(old, reference)
      .run();
    await emulator().resetStats(realmId);

    const res = await call("POST", paths.qboInvoiceSync(slug, reference), undefined, { token: finance.key });

    expect(res.status).toBe(200);
    expect(res.body.qbo.lastSyncedAt > old).toBe(true);
    expect((await emulator().stats(realmId)).requests.byOperation["query:Invoice"]).toBe(1);
  });

  it("answers 429 rate_limited with Retry-After once a key has made 60 calls in a minute", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const finance = await createKey(slug, "finance");
    const absent = paths.qboInvoiceSend(slug, "PO-NOPE00");
    await startOfAWindow();

    const first = await Promise.all(
      Array.from({ length: 60 }, () => call("POST", absent, undefined, { token: finance.key })),
    );
    const refused = await call("POST", absent, undefined, { token: finance.key });

    expect(first.map((r) => r.status)).toEqual(Array(60).fill(404));
    expectError(refused, 429, "rate_limited");
    expect(refused.headers.get("retry-after")).toBe("60");
    // The key is limited on QuickBooks calls only, and the deployment token not at all.
    expect((await call("GET", paths.conference(slug), undefined, { token: finance.key })).status).toBe(200);
    expect((await call("POST", absent)).status).toBe(404);
  }, 40_000);

  it("answers 429 once a conference's keys together have made 120 calls in a minute", async () => {
    const slug = await createConference();
    const [a, b, c] = await Promise.all([
      createKey(slug, "viewer"),
      createKey(slug, "viewer"),
      createKey(slug, "viewer"),
    ]);
    const pdf = paths.qboInvoicePdf(slug, "PO-NOPE00");
    await startOfAWindow();

    const allowed = await Promise.all(
      [a, b].flatMap((k) => Array.from({ length: 60 }, () => call("GET", pdf, undefined, { token: k.key }))),
    );
    const refused = await call("GET", pdf, undefined, { token: c.key });

    expect(allowed.every((r) => r.status === 404)).toBe(true);
    expectError(refused, 429, "rate_limited");
    expect(refused.body.error.message).toMatch(/conference/);
    expect(refused.headers.get("retry-after")).toBe("60");
  }, 40_000);
});
