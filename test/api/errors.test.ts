/** The public surface and the cross-cutting HTTP contract: health, docs, auth, request ids, error bodies. */
import { describe, expect, it } from "vitest";
import { API_TOKEN, call, createConference, createPo, expectError, paths, poBody, unique } from "../helpers";

describe("public routes", () => {
  it("answers GET /health with status ok and no token", async () => {
    const res = await call("GET", paths.health, undefined, { token: null });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });

  it("serves an OpenAPI 3.1 document listing the conference and purchase-order paths", async () => {
    const res = await call("GET", paths.openapi, undefined, { token: null });

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(res.body.openapi).toBe("3.1.0");
    expect(res.body.info.title).toEqual(expect.any(String));
    const documented = Object.keys(res.body.paths);
    expect(documented).toEqual(
      expect.arrayContaining([
        "/api/conferences/{slug}",
        "/api/conferences/{slug}/purchase-orders",
        "/api/conferences/{slug}/purchase-orders/{reference}",
        "/api/conferences/{slug}/purchase-orders/{reference}/send",
        "/api/conferences/{slug}/purchase-orders/{reference}/cancel",
        "/api/conferences/{slug}/purchase-orders/{reference}/payments",
        "/api/conferences/{slug}/purchase-orders/{reference}/credit-notes",
      ]),
    );
    expect(Object.keys(res.body.paths["/api/conferences/{slug}"])).toEqual(
      expect.arrayContaining(["put", "get"]),
    );
    expect(res.body.paths["/api/conferences/{slug}/purchase-orders"].post.requestBody).toBeDefined();
    expect(res.body.components.schemas).toHaveProperty("PurchaseOrder");
    expect(res.body.components.schemas).toHaveProperty("Error");
  });

  it("documents the list filter's status values from the same enum that validates them", async () => {
    const res = await call("GET", paths.openapi, undefined, { token: null });

    const params: any[] = res.body.paths["/api/conferences/{slug}/purchase-orders"].get.parameters;
    const status = params.find((p) => p.name === "status" && p.in === "query");
    expect(status.schema.enum).toEqual(["draft", "sent", "partially_paid", "paid", "overpaid", "cancelled"]);
  });

  it("serves an HTML documentation page at /docs that loads /openapi.json", async () => {
    const res = await call("GET", paths.docs, undefined, { token: null });

    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/text\/html/);
    expect(res.body).toMatch(/^<!doctype html>/i);
    expect(res.body).toContain("/openapi.json");
  });

  it("answers an unknown route with a 404 not_found error body", async () => {
    const res = await call("GET", "/no/such/route", undefined, { token: null });

    expectError(res, 404, "not_found");
  });

  it("answers a known path with an unsupported method with a 404 error body, not a 500", async () => {
    const res = await call("DELETE", paths.health, undefined, { token: null });

    expectError(res, 404, "not_found");
  });
});

describe("request ids", () => {
  it("puts a fresh x-request-id on every response", async () => {
    const a = await call("GET", paths.health, undefined, { token: null });
    const b = await call("GET", paths.health, undefined, { token: null });

    expect(a.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{8,}$/);
    expect(b.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{8,}$/);
    expect(a.headers.get("x-request-id")).not.toBe(b.headers.get("x-request-id"));
  });

  it("echoes the x-request-id the client sent", async () => {
    const res = await call("GET", paths.health, undefined, {
      token: null,
      headers: { "x-request-id": "client-req-42" },
    });

    expect(res.headers.get("x-request-id")).toBe("client-req-42");
  });

  it("carries the request id on error responses too: 404, 401 and 400", async () => {
    const notFound = await call("GET", "/nope", undefined, {
      token: null,
      headers: { "x-request-id": "r-404" },
    });
    const unauthorized = await call("GET", paths.conference("x"), undefined, {
      token: null,
      headers: { "x-request-id": "r-401" },
    });
    const invalid = await call("PUT", paths.conference("x"), {}, { headers: { "x-request-id": "r-400" } });

    expect([notFound.status, unauthorized.status, invalid.status]).toEqual([404, 401, 400]);
    expect(notFound.headers.get("x-request-id")).toBe("r-404");
    expect(unauthorized.headers.get("x-request-id")).toBe("r-401");
    expect(invalid.headers.get("x-request-id")).toBe("r-400");
  });

  it("replaces a sent request id that could forge log lines with a fresh one", async () => {
    const res = await call("GET", paths.health, undefined, {
      token: null,
      headers: { "x-request-id": `evil id ${"x".repeat(200)}` },
    });

    expect(res.status).toBe(200);
    expect(res.headers.get("x-request-id")).toMatch(/^[A-Za-z0-9._:-]{8,128}$/);
    expect(res.headers.get("x-request-id")).not.toContain("evil");
  });
});

describe("bearer authentication on /api/*", () => {
  it("answers 401 unauthorized when the Authorization header is missing", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, { token: null });

    expectError(res, 401, "unauthorized");
  });

  it("answers 401 unauthorized for a wrong token", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, { token: "not-the-token" });

    expectError(res, 401, "unauthorized");
  });

  it("answers 401 unauthorized for a prefix of the right token", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, { token: API_TOKEN.slice(0, -2) });

    expectError(res, 401, "unauthorized");
  });

  it("answers 401 unauthorized for the right token under a non-Bearer scheme", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, {
      token: null,
      headers: { authorization: `Basic ${API_TOKEN}` },
    });

    expectError(res, 401, "unauthorized");
  });

  it("answers 401 unauthorized for a bare token with no scheme", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, {
      token: null,
      headers: { authorization: API_TOKEN },
    });

    expectError(res, 401, "unauthorized");
  });

  it("checks the token before validating the body, so an anonymous caller learns nothing", async () => {
    const res = await call("POST", paths.pos("BAD SLUG"), { nonsense: true }, { token: null });

    expectError(res, 401, "unauthorized");
  });

  it("creates nothing for an unauthenticated write", async () => {
    const slug = unique("conf");
    const res = await call("PUT", paths.conference(slug), { name: "Sneaky" }, { token: "wrong" });
    const after = await call("GET", paths.conference(slug));

    expectError(res, 401, "unauthorized");
    expectError(after, 404, "not_found");
  });

  it("answers an unknown /api route with 401 to anonymous callers and 404 to authenticated ones", async () => {
    const anonymous = await call("GET", "/api/whatever", undefined, { token: null });
    const authenticated = await call("GET", "/api/whatever");

    expectError(anonymous, 401, "unauthorized");
    expectError(authenticated, 404, "not_found");
  });

  it("answers 503 not_configured (fail closed) on /api/* when API_TOKEN is unset", async () => {
    const res = await call("GET", paths.conference("anything"), undefined, {
      token: "",
      env: { API_TOKEN: "" },
    });

    expectError(res, 503, "not_configured");
    expect(res.headers.get("x-request-id")).toBeTruthy();
  });

  it("keeps /health open when API_TOKEN is unset", async () => {
    const res = await call("GET", paths.health, undefined, { token: null, env: { API_TOKEN: "" } });

    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: "ok" });
  });
});

describe("request bodies that are not what the route expects", () => {
  it("answers malformed JSON with 400 invalid_json and creates nothing", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), undefined, { rawBody: '{"organizationName": "Acme",' });
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "invalid_json");
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ items: [], nextCursor: null });
  });

  it("answers malformed JSON on PUT conference with 400 invalid_json and creates nothing", async () => {
    const slug = unique("conf");

    const res = await call("PUT", paths.conference(slug), undefined, { rawBody: "{name: 'x'}" });
    const after = await call("GET", paths.conference(slug));

    expectError(res, 400, "invalid_json");
    expectError(after, 404, "not_found");
  });

  it("answers an empty body sent as JSON with 400 invalid_json", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), undefined, { rawBody: "" });

    expectError(res, 400, "invalid_json");
  });

  it("takes an empty body sent as JSON as no body where the body is optional (connect, cancel)", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);

    const connect = await call("POST", `/api/conferences/${slug}/qbo/connect`, undefined, { rawBody: "" });
    const cancel = await call("POST", `${paths.po(slug, reference)}/cancel`, undefined, { rawBody: "" });
    const broken = await call("POST", `/api/conferences/${slug}/qbo/connect`, undefined, { rawBody: "{" });

    expect(connect.status, JSON.stringify(connect.body)).toBe(200);
    expect(connect.body.url).toMatch(/^http/);
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe("cancelled");
    expectError(broken, 400, "invalid_json");
  });

  it("answers a JSON array body with 400 validation_failed and creates nothing", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), [poBody()]);
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "", message: expect.any(String) }]);
    expect(list.body).toEqual({ items: [], nextCursor: null });
  });

  it("answers a JSON null body with 400 validation_failed and creates nothing", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), undefined, { rawBody: "null" });
    const list = await call("GET", paths.pos(slug));

    expectError(res, 400, "validation_failed");
    expect(list.body).toEqual({ items: [], nextCursor: null });
  });

  it("answers a JSON string or number body with 400 validation_failed", async () => {
    const slug = await createConference();

    const asString = await call("POST", paths.pos(slug), "a purchase order");
    const asNumber = await call("POST", paths.pos(slug), 42);

    expectError(asString, 400, "validation_failed");
    expectError(asNumber, 400, "validation_failed");
  });

  it("rejects a body sent as text/plain with a 4xx error body and creates nothing", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), undefined, {
      rawBody: JSON.stringify(poBody()),
      headers: { "content-type": "text/plain" },
    });
    const list = await call("GET", paths.pos(slug));

    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expect(res.body.error.code).toEqual(expect.stringMatching(/^[a-z_]+$/));
    expect(list.body).toEqual({ items: [], nextCursor: null });
  });

  it("never puts an internal error in an error body's message", async () => {
    const slug = await createConference();

    const res = await call("POST", paths.pos(slug), poBody({ lineItems: [{ quantity: 1 }] }));

    expectError(res, 400, "validation_failed");
    expect(JSON.stringify(res.body)).not.toMatch(/ZodError|at .*\.ts|stack/i);
  });
});
