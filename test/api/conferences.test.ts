/** PUT/GET /api/conferences/{slug}: create, update, read, and validation. */
import { describe, expect, it } from "vitest";
import { call, expectError, paths, unique } from "../helpers";

const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

const disconnected = {
  realmId: null,
  environment: null,
  itemId: null,
  taxCodeId: null,
  allowOnlinePayment: { card: false, ach: false },
  depositAccountId: null,
  connected: false,
  needsReconnect: false,
  accessTokenExpiresAt: null,
  refreshTokenExpiresAt: null,
  refreshTokenHardExpiresAt: null,
  lastRefreshedAt: null,
  previousRealms: [],
};

describe("creating and updating a conference", () => {
  it("creates a conference with 201 and returns it with a disconnected qbo block", async () => {
    const slug = unique("pycon");

    const res = await call("PUT", paths.conference(slug), { name: "PyCon US 2027" });

    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      slug,
      name: "PyCon US 2027",
      currency: "USD",
      qbo: disconnected,
      createdAt: expect.stringMatching(ISO_INSTANT),
      updatedAt: expect.stringMatching(ISO_INSTANT),
    });
    expect(res.body.createdAt).toBe(res.body.updatedAt);
  });

  it("updates an existing conference with 200, keeping createdAt and moving updatedAt", async () => {
    const slug = unique("pycon");
    const created = await call("PUT", paths.conference(slug), { name: "First name" });
    await new Promise((r) => setTimeout(r, 5));

    const updated = await call("PUT", paths.conference(slug), { name: "Second name", currency: "EUR" });

    expect(created.status).toBe(201);
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ slug, name: "Second name", currency: "EUR", qbo: disconnected });
    expect(updated.body.createdAt).toBe(created.body.createdAt);
    expect(updated.body.updatedAt > created.body.updatedAt).toBe(true);
  });

  it("answers 200, not 201, to an update sent immediately after the create", async () => {
    // Repeated to catch a created/updated decision that depends on the clock's resolution.
    for (let i = 0; i < 10; i++) {
      const slug = unique("fast");
      const created = await call("PUT", paths.conference(slug), { name: "Fast" });
      const updated = await call("PUT", paths.conference(slug), { name: "Faster" });

      expect(created.status).toBe(201);
      expect(updated.status, `attempt ${i}`).toBe(200);
    }
  });

  it("answers one 201 and one 200 to two concurrent PUTs creating the same conference", async () => {
    // Repeated: a created/updated decision that compares timestamps fails only when both land in one ms.
    for (let i = 0; i < 60; i++) {
      const slug = unique("race");

      const results = await Promise.all([
        call("PUT", paths.conference(slug), { name: "One" }),
        call("PUT", paths.conference(slug), { name: "Two" }),
      ]);

      expect(results.map((r) => r.status).sort(), `attempt ${i}`).toEqual([200, 201]);
    }
  });

  it("stores the QuickBooks company and environment given on PUT, still not connected", async () => {
    const slug = unique("conf");

    const res = await call("PUT", paths.conference(slug), {
      name: "DjangoCon",
      qbo: { realmId: "9130354321", environment: "sandbox", itemId: "42" },
    });

    expect(res.status).toBe(201);
    expect(res.body.qbo).toEqual({
      ...disconnected,
      realmId: "9130354321",
      environment: "sandbox",
      itemId: "42",
    });
  });

  it("keeps the QuickBooks settings when an update does not mention them", async () => {
    const slug = unique("conf");
    await call("PUT", paths.conference(slug), {
      name: "A",
      qbo: { realmId: "123", environment: "production" },
    });

    const res = await call("PUT", paths.conference(slug), { name: "B" });

    expect(res.status).toBe(200);
    expect(res.body.qbo).toMatchObject({ realmId: "123", environment: "production", connected: false });
  });

  it("trims the name", async () => {
    const res = await call("PUT", paths.conference(unique("conf")), { name: "  Spaced Out  " });

    expect(res.status).toBe(201);
    expect(res.body.name).toBe("Spaced Out");
  });
});

describe("reading a conference", () => {
  it("returns the stored conference", async () => {
    const slug = unique("conf");
    const created = await call("PUT", paths.conference(slug), { name: "EuroPython", currency: "EUR" });

    const res = await call("GET", paths.conference(slug));

    expect(res.status).toBe(200);
    expect(res.body).toEqual(created.body);
  });

  it("answers 404 not_found for an unknown slug", async () => {
    const res = await call("GET", paths.conference(unique("missing")));

    expect(res.status).toBe(404);
    expect(res.body).toEqual({ error: { code: "not_found", message: expect.stringContaining("missing") } });
  });

  it("never returns a stored token or client secret", async () => {
    const slug = unique("conf");
    await call("PUT", paths.conference(slug), { name: "Vault" });
    const stored = await call("PUT", paths.qboTokens(slug), {
      realmId: "4620816365",
      accessToken: "AT-very-private-value",
      refreshToken: "RT-very-private-value",
      accessTokenExpiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      clientId: "CID-very-private-value",
      clientSecret: "CS-very-private-value",
    });

    const res = await call("GET", paths.conference(slug));

    expect(stored.status, JSON.stringify(stored.body)).toBe(200);
    expect(res.status).toBe(200);
    expect(res.body.qbo).toMatchObject({ realmId: "4620816365", connected: true, needsReconnect: false });
    for (const body of [stored.body, res.body]) {
      expect(JSON.stringify(body)).not.toMatch(/very-private-value/);
    }
  });
});

describe("conference validation", () => {
  it("rejects a missing name with validation_failed naming the field", async () => {
    const slug = unique("conf");

    const res = await call("PUT", paths.conference(slug), { currency: "USD" });
    const after = await call("GET", paths.conference(slug));

    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      error: {
        code: "validation_failed",
        message: expect.any(String),
        details: [{ path: "name", message: expect.any(String) }],
      },
    });
    expect(after.status).toBe(404);
  });

  it("rejects a blank name", async () => {
    const res = await call("PUT", paths.conference(unique("conf")), { name: "   " });

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "name", message: expect.any(String) }]);
  });

  it.each([["usd"], ["US"], ["USDX"], ["12$"]])("rejects the currency %j", async (currency) => {
    const res = await call("PUT", paths.conference(unique("conf")), { name: "X", currency });

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "currency", message: expect.any(String) }]);
  });

  it.each([["Upper-Case"], ["under_score"], ["-leading-dash"], ["a".repeat(64)], ["sp%20ace"]])(
    "rejects the slug %j",
    async (slug) => {
      const res = await call("PUT", paths.conference(slug), { name: "X" });

      expectError(res, 400, "validation_failed");
      expect(res.body.error.details).toEqual([{ path: "slug", message: expect.any(String) }]);
    },
  );

  it("rejects a bad slug on GET with validation_failed", async () => {
    const res = await call("GET", paths.conference("Not_A_Slug"));

    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: "slug", message: expect.any(String) }]);
  });

  it("rejects a non-numeric realm id and an unknown environment, naming both fields", async () => {
    const res = await call("PUT", paths.conference(unique("conf")), {
      name: "X",
      qbo: { realmId: "abc", environment: "staging" },
    });

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual(
      expect.arrayContaining([
        { path: "qbo.realmId", message: expect.any(String) },
        { path: "qbo.environment", message: expect.any(String) },
      ]),
    );
  });

  it("reports every offending field at once", async () => {
    const res = await call("PUT", paths.conference(unique("conf")), { name: 7, currency: "dollars" });

    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(["currency", "name"]);
  });
});
