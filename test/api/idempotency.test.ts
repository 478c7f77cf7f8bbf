/** Idempotency-Key on POST /api/* (SPEC §11): replay, reuse, concurrency, 5xx release, pruning. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { makeDb } from "../../src/db/client";
import { claimIdempotencyKey, IDEMPOTENCY_RETENTION_MS } from "../../src/db/idempotency";
import { STALE_CLAIM_MS } from "../../src/http/idempotency";
import { pruneStorage } from "../../src/sync/pruning";
import {
  call,
  createConference,
  createPo,
  emulator,
  expectError,
  invoicedPo,
  paths,
  poBody,
  UNTAXED,
} from "../helpers";

const payment = (amount = "100.00") => ({ amount, method: "wire", paymentDate: "2026-03-01" });
const withKey = (key: string) => ({ headers: { "Idempotency-Key": key } });
const newKey = () => `key-${crypto.randomUUID()}`;

async function paymentsOf(slug: string, reference: string): Promise<unknown[]> {
  return (await call("GET", paths.po(slug, reference))).body.payments;
}

describe("a POST with an Idempotency-Key", () => {
  it("replays the first answer with Idempotent-Replayed: true and records the payment once", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const key = newKey();

    const first = await call("POST", paths.payments(slug, reference), payment(), withKey(key));
    const again = await call("POST", paths.payments(slug, reference), payment(), withKey(key));

    expect(first.status).toBe(201);
    expect(first.headers.get("idempotent-replayed")).toBeNull();
    expect(again.status).toBe(201);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.headers.get("content-type")).toBe(first.headers.get("content-type"));
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("x-request-id")).toBeTruthy();
    expect(await paymentsOf(slug, reference)).toHaveLength(1);
  });

  it("hands the untouched body to the route's JSON validation", async () => {
    const slug = await createConference();
    const body = poBody({ organizationName: "Keyed Org" });

    const res = await call("POST", paths.pos(slug), body, withKey(newKey()));

    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ organizationName: "Keyed Org", total: "1200.00", status: "draft" });
  });

  it("keeps a 4xx answer: the same invalid request gets the same 400 again, replayed", async () => {
    const slug = await createConference();
    const key = newKey();
    const first = await call("POST", paths.pos(slug), undefined, { ...withKey(key), rawBody: "{not json" });
    const again = await call("POST", paths.pos(slug), undefined, { ...withKey(key), rawBody: "{not json" });

    expectError(first, 400, "invalid_json");
    expectError(again, 400, "invalid_json");
    expect(again.body).toEqual(first.body);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
  });

  it("answers 422 idempotency_key_reused for another body, path or method with the key", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const key = newKey();
    expect((await call("POST", paths.payments(slug, reference), payment(), withKey(key))).status).toBe(201);

    const otherBody = await call("POST", paths.payments(slug, reference), payment("99.00"), withKey(key));
    const otherPath = await call("POST", paths.creditNotes(slug, reference), payment(), withKey(key));

    expectError(otherBody, 422, "idempotency_key_reused");
    expectError(otherPath, 422, "idempotency_key_reused");
    expect(await paymentsOf(slug, reference)).toHaveLength(1);
  });

  it("runs one of two concurrent requests with one key: the other gets 409 in use or the replay", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const key = newKey();

    const answers = await Promise.all([
      call("POST", paths.payments(slug, reference), payment(), withKey(key)),
      call("POST", paths.payments(slug, reference), payment(), withKey(key)),
    ]);

    const statuses = answers.map((a) => a.status).sort();
    expect([
      [201, 409],
      [201, 201],
    ]).toContainEqual(statuses);
    const conflict = answers.find((a) => a.status === 409);
    if (conflict) expectError(conflict, 409, "idempotency_key_in_use");
    else expect(answers.filter((a) => a.headers.get("idempotent-replayed") === "true")).toHaveLength(1);
    expect(await paymentsOf(slug, reference)).toHaveLength(1);
  });

  it("emails the QuickBooks invoice once for two sends with one key", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    const key = newKey();

    const first = await call("POST", paths.qboInvoiceSend(slug, reference), undefined, withKey(key));
    const again = await call("POST", paths.qboInvoiceSend(slug, reference), undefined, withKey(key));

    expect(first.status).toBe(200);
    expect(again.status).toBe(200);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(again.body).toEqual(first.body);
    expect((await emulator().stats(realmId)).requests.byOperation["send:invoice"]).toBe(1);
  });

  it("does not keep a 5xx: the retry with the same key runs again and succeeds", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    const key = newKey();
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 503, times: 1, match: { operation: "send:invoice" } }],
    });

    const failed = await call("POST", paths.qboInvoiceSend(slug, reference), undefined, withKey(key));
    const retried = await call("POST", paths.qboInvoiceSend(slug, reference), undefined, withKey(key));
    const replayed = await call("POST", paths.qboInvoiceSend(slug, reference), undefined, withKey(key));

    expectError(failed, 503, "qbo_unavailable");
    expect(retried.status).toBe(200);
    expect(retried.headers.get("idempotent-replayed")).toBeNull();
    expect(retried.body.qbo.emailStatus).toBe("EmailSent");
    expect(replayed.headers.get("idempotent-replayed")).toBe("true");
    expect((await emulator().stats(realmId)).requests.byOperation["send:invoice"]).toBe(2);
  });

  it.each([
    ["a space inside", "two words"],
    ["256 characters", "k".repeat(256)],
    ["a tab inside", "two\twords"],
  ])("refuses a key with %s (400 validation_failed) and does nothing", async (_name, key) => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const res = await call("POST", paths.payments(slug, reference), payment(), withKey(key));
    expectError(res, 400, "validation_failed");
    expect(res.body.error.details).toEqual([{ path: "header.Idempotency-Key", message: expect.any(String) }]);
    expect(await paymentsOf(slug, reference)).toHaveLength(0);
  });

  it("accepts a key of 255 visible characters, quotes included", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const key = `"${"k".repeat(253)}"`;
    const res = await call("POST", paths.payments(slug, reference), payment(), withKey(key));
    expect(res.status).toBe(201);
  });
});

describe("requests the middleware leaves alone", () => {
  it("runs every POST without the header, as before", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    await call("POST", paths.payments(slug, reference), payment());
    const second = await call("POST", paths.payments(slug, reference), payment());
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBeNull();
    expect(await paymentsOf(slug, reference)).toHaveLength(2);
  });

  it("ignores the header on a GET", async () => {
    const slug = await createConference();
    const res = await call("GET", paths.conference(slug), undefined, withKey("not valid at all"));
    expect(res.status).toBe(200);
  });

  it("checks the bearer token before the key (401, nothing stored)", async () => {
    const slug = await createConference();
    const key = newKey();
    const res = await call("POST", paths.pos(slug), poBody(), { ...withKey(key), token: "wrong" });
    expectError(res, 401, "unauthorized");
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = ?")
      .bind(key)
      .first<{ n: number }>();
    expect(row?.n).toBe(0);
  });
});

describe("the key store", () => {
  const request = (caller: string, key: string, now: Date, fingerprint = "f1") => ({
    caller,
    key,
    fingerprint,
    now,
    staleClaimMs: STALE_CLAIM_MS,
    retentionMs: IDEMPOTENCY_RETENTION_MS,
  });

  it("keeps the keys of different callers apart", async () => {
    const db = makeDb(env.DB);
    const key = newKey();
    const now = new Date();
    expect(await claimIdempotencyKey(db, request("deployment", key, now))).toMatchObject({ kind: "claimed" });
    expect(await claimIdempotencyKey(db, request("key:k1", key, now, "f2"))).toMatchObject({
      kind: "claimed",
    });
    expect(await claimIdempotencyKey(db, request("key:k1", key, now, "f2"))).toEqual({ kind: "in_use" });
    expect(await claimIdempotencyKey(db, request("key:k1", key, now, "f1"))).toEqual({ kind: "reused" });
  });

  it("lets a claim without an answer be taken over once it is older than 60 seconds", async () => {
    const db = makeDb(env.DB);
    const key = newKey();
    const t0 = Date.now();
    expect(await claimIdempotencyKey(db, request("deployment", key, new Date(t0)))).toMatchObject({
      kind: "claimed",
    });
    const soon = await claimIdempotencyKey(db, request("deployment", key, new Date(t0 + 10_000)));
    expect(soon).toEqual({ kind: "in_use" });
    const later = new Date(t0 + STALE_CLAIM_MS + 1000);
    const [a, b] = await Promise.all([
      claimIdempotencyKey(db, request("deployment", key, later)),
      claimIdempotencyKey(db, request("deployment", key, later)),
    ]);
    expect([a?.kind, b?.kind].sort()).toEqual(["claimed", "in_use"]);
  });

  it("forgets an answer after 24 hours, and the daily pruning deletes it", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const key = newKey();
    await call("POST", paths.payments(slug, reference), payment(), withKey(key));
    const db = makeDb(env.DB);
    const tomorrow = new Date(Date.now() + IDEMPOTENCY_RETENTION_MS + 60_000);

    // Past the retention the same key is a new request, even with another body.
    expect(await claimIdempotencyKey(db, request("deployment", key, tomorrow, "other"))).toMatchObject({
      kind: "claimed",
    });
    const counts = await pruneStorage(db, new Date(tomorrow.getTime() + IDEMPOTENCY_RETENTION_MS + 60_000));
    expect(counts.idempotencyKeys).toBeGreaterThanOrEqual(1);
    const left = await env.DB.prepare("SELECT COUNT(*) AS n FROM idempotency_keys WHERE key = ?")
      .bind(key)
      .first<{ n: number }>();
    expect(left?.n).toBe(0);
  });
});

describe("the OpenAPI document", () => {
  it("offers the Idempotency-Key header, Idempotent-Replayed and 422/409 on every POST under /api", async () => {
    const doc = (await call("GET", paths.openapi, undefined, { token: null })).body;
    expect(doc.components.parameters.IdempotencyKey).toMatchObject({
      name: "Idempotency-Key",
      in: "header",
      required: false,
      schema: { type: "string", minLength: 1, maxLength: 255 },
    });
    const posts = Object.entries(doc.paths as Record<string, Record<string, any>>)
      .filter(([path, item]) => path.startsWith("/api/") && item.post)
      .map(([path, item]) => [path, item.post] as const);
    expect(posts.length).toBeGreaterThanOrEqual(9);
    for (const [path, op] of posts) {
      expect(op.parameters, path).toContainEqual({ $ref: "#/components/parameters/IdempotencyKey" });
      expect(op.responses["422"], path).toEqual({ $ref: "#/components/responses/IdempotencyKeyReused" });
      expect(op.responses["409"].description, path).toContain("idempotency_key_in_use");
      const ok = Object.entries(op.responses).find(([status]) => status.startsWith("2"))?.[1] as any;
      expect(ok.headers["Idempotent-Replayed"], path).toEqual({
        $ref: "#/components/headers/IdempotentReplayed",
      });
    }
    const gets = Object.values(doc.paths as Record<string, Record<string, any>>).flatMap((item) =>
      item.get ? [item.get] : [],
    );
    for (const op of gets)
      expect(op.parameters ?? []).not.toContainEqual({ $ref: "#/components/parameters/IdempotencyKey" });
  });

  it("describes POST /webhooks/qbo: its intuit-signature header and both body formats with examples", async () => {
    const doc = (await call("GET", paths.openapi, undefined, { token: null })).body;
    const op = doc.paths["/webhooks/qbo"].post;
    expect(op.security).toEqual([]);
    expect(op.parameters).toContainEqual(
      expect.objectContaining({ name: "intuit-signature", in: "header", required: true }),
    );
    const body = op.requestBody.content["application/json"];
    expect(body.schema.anyOf ?? body.schema.oneOf).toEqual([
      { $ref: "#/components/schemas/QboWebhookClassic" },
      { $ref: "#/components/schemas/QboWebhookCloudEvents" },
    ]);
    expect(body.examples.classic.value.eventNotifications[0].realmId).toBeTruthy();
    expect(body.examples.cloudEvents.value[0].type).toBe("qbo.payment.created.v1");
    expect(doc.components.schemas.QboWebhookClassic.example).toBeTruthy();
    expect(doc.components.schemas.QboWebhookCloudEvents.type).toBe("array");
    expect(Object.keys(op.responses).sort()).toEqual(["200", "400", "401", "413", "503"]);
  });
});

describe("Idempotency-Key across callers", () => {
  it("runs the same key once per caller: the deployment token and an API key each record their payment", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const finance = (
      await call("POST", `${paths.conference(slug)}/api-keys`, { name: "platform", role: "finance" })
    ).body.key as string;
    const key = newKey();

    const first = await call("POST", paths.payments(slug, reference), payment("10.00"), withKey(key));
    const other = await call("POST", paths.payments(slug, reference), payment("10.00"), {
      ...withKey(key),
      token: finance,
    });
    const again = await call("POST", paths.payments(slug, reference), payment("10.00"), {
      ...withKey(key),
      token: finance,
    });

    expect(first.status).toBe(201);
    expect(other.status).toBe(201);
    expect(other.headers.get("idempotent-replayed")).toBeNull();
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect((await call("GET", paths.po(slug, reference))).body.payments).toHaveLength(2);
  });
});
