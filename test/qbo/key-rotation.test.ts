/**
 * Rotating TOKEN_ENCRYPTION_KEY (SPEC §15). The Worker runs with current key B
 * (TOKEN_ENCRYPTION_KEY) and previous key A (TOKEN_ENCRYPTION_KEY_PREVIOUS), both fixed in
 * vitest.config.ts. "Stored under key X" is simulated by sealing the Durable Object's columns
 * with X by hand. The sealing, opening and key id below are written out here, independently of
 * src/connections/crypto.ts, so these tests pin the stored format itself.
 */
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  decryptField,
  encryptField,
  importVaultKey,
  isSealedWith,
  type KeyRing,
  UndecryptableError,
} from "../../src/connections/crypto";
import type { QboConnection } from "../../src/connections/qbo-connection";
import { handleQueueBatch } from "../../src/sync/consumer";
import { call, createConference, createPo, emulator, invoicesBatch } from "../helpers";

const KEY_B = env.TOKEN_ENCRYPTION_KEY;
const KEY_A = env.TOKEN_ENCRYPTION_KEY_PREVIOUS as string;
/** A key this Worker has never been configured with. */
const KEY_C = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

const COLUMNS = ["access_token", "refresh_token", "client_id", "client_secret"] as const;
type Column = (typeof COLUMNS)[number];
type Plain = Record<Column, string>;

const past = () => new Date(Date.now() - 60_000).toISOString();
const invoicePath = (slug: string, ref: string) =>
  `/api/conferences/${slug}/purchase-orders/${ref}/qbo-invoice`;

afterEach(() => {
  vi.restoreAllMocks();
});

// ---- the stored format, written out independently ----

const bytes = (b64: string) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const b64 = (u: Uint8Array) => btoa(String.fromCharCode(...u));
const aesKey = (keyB64: string) =>
  crypto.subtle.importKey("raw", bytes(keyB64), "AES-GCM", false, ["encrypt", "decrypt"]);

/** base64url(SHA-256("qbo-token-vault/key-id/v1\0" ‖ key)[0..8]) */
async function kidOf(keyB64: string): Promise<string> {
  const label = new TextEncoder().encode("qbo-token-vault/key-id/v1\0");
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array([...label, ...bytes(keyB64)]));
  return b64(new Uint8Array(digest).slice(0, 8)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function seal(keyB64: string, plaintext: string, aad: string): Promise<{ iv: string; ct: string }> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(aad) },
    await aesKey(keyB64),
    new TextEncoder().encode(plaintext),
  );
  return { iv: b64(iv), ct: b64(new Uint8Array(ct)) };
}

/** The legacy form, as the Worker wrote it before key ids existed. */
async function sealV1(keyB64: string, plaintext: string, aad: string): Promise<string> {
  const { iv, ct } = await seal(keyB64, plaintext, aad);
  return `v1.${iv}.${ct}`;
}

async function sealV2(keyB64: string, plaintext: string, aad: string): Promise<string> {
  const { iv, ct } = await seal(keyB64, plaintext, aad);
  return `v2.${await kidOf(keyB64)}.${iv}.${ct}`;
}

/** Opens a v2 value with `keyB64` alone; throws unless it names that key and authenticates. */
async function openV2With(keyB64: string, stored: string, aad: string): Promise<string> {
  const [version, kid, iv, ct] = stored.split(".");
  expect(version).toBe("v2");
  expect(kid).toBe(await kidOf(keyB64));
  const plaintext = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes(iv ?? ""), additionalData: new TextEncoder().encode(aad) },
    await aesKey(keyB64),
    bytes(ct ?? ""),
  );
  return new TextDecoder().decode(plaintext);
}

// ---- the Durable Object's row ----

type Row = Record<Column, string | null> & { needs_reconnect: number };

function readRow(slug: string): Promise<Row> {
  return runInDurableObject(env.QBO_CONNECTIONS.getByName(slug), (_i: QboConnection, state) => {
    const [row] = state.storage.sql.exec("SELECT * FROM connection").toArray();
    return row as unknown as Row;
  });
}

/** Replaces every column's ciphertext, as if it had been written under another key. */
async function resealRow(
  slug: string,
  plain: Plain,
  sealer: (key: string, plaintext: string, aad: string) => Promise<string>,
  keyB64: string,
) {
  const values = await Promise.all(COLUMNS.map((c) => sealer(keyB64, plain[c], `${slug}:${c}`)));
  await runInDurableObject(env.QBO_CONNECTIONS.getByName(slug), (_i: QboConnection, state) => {
    state.storage.sql.exec(
      "UPDATE connection SET access_token = ?, refresh_token = ?, client_id = ?, client_secret = ?",
      ...values,
    );
  });
}

async function expectAllUnderCurrentKey(slug: string, expected: Partial<Plain> = {}) {
  const row = await readRow(slug);
  const kidB = await kidOf(KEY_B);
  for (const column of COLUMNS) {
    const stored = row[column] as string;
    expect(stored.startsWith(`v2.${kidB}.`), `${column}: ${stored.slice(0, 16)}`).toBe(true);
    const plaintext = await openV2With(KEY_B, stored, `${slug}:${column}`);
    if (expected[column] !== undefined) expect(plaintext, column).toBe(expected[column]);
  }
  return row;
}

/** A conference connected to a fresh realm, with its own (encrypted) client credentials. */
async function connectedWithCredentials(opts: { accessTokenExpiresAt?: string } = {}) {
  const slug = await createConference();
  const grant = await emulator().createRealm({});
  const res = await call("PUT", `/api/conferences/${slug}/qbo/tokens`, {
    realmId: grant.realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: opts.accessTokenExpiresAt ?? grant.accessTokenExpiresAt,
    refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
    clientId: "test-client-id",
    clientSecret: "test-client-secret",
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  const plain: Plain = {
    access_token: grant.accessToken,
    refresh_token: grant.refreshToken,
    client_id: "test-client-id",
    client_secret: "test-client-secret",
  };
  return { slug, realmId: grant.realmId as string, plain };
}

describe("rotating TOKEN_ENCRYPTION_KEY: tokens stored under the previous key", () => {
  it("serves API calls from tokens sealed under the previous key and re-seals every column under the current key, without calling Intuit", async () => {
    const { slug, realmId, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_A);

    const po = await createPo(slug);
    const res = await call("POST", invoicePath(slug, po.reference), {});
    expect(res.status, JSON.stringify(res.body)).toBe(201);

    await expectAllUnderCurrentKey(slug, plain);
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(0);
  });

  it("refreshes an expired token from v1 values under the previous key, and keeps the rotated grant under the current key alone", async () => {
    const { slug, realmId, plain } = await connectedWithCredentials({ accessTokenExpiresAt: past() });
    await resealRow(slug, plain, sealV1, KEY_A);

    const po = await createPo(slug);
    const res = await call("POST", invoicePath(slug, po.reference), {});
    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(1);

    const row = await expectAllUnderCurrentKey(slug, {
      client_id: plain.client_id,
      client_secret: plain.client_secret,
    });
    const refreshToken = await openV2With(KEY_B, row.refresh_token as string, `${slug}:refresh_token`);
    expect(refreshToken).not.toBe(plain.refresh_token); // the emulator rotated it
    const conf = await call("GET", `/api/conferences/${slug}`);
    expect(conf.body.qbo).toMatchObject({ connected: true, needsReconnect: false });
    expect(conf.body.qbo.lastRefreshedAt).not.toBeNull();
  });

  it("opens legacy v1 values sealed under the current key", async () => {
    const { slug, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV1, KEY_B);
    const result = await env.QBO_CONNECTIONS.getByName(slug).accessToken();
    expect(result).toMatchObject({ ok: true, accessToken: plain.access_token });
    await expectAllUnderCurrentKey(slug, plain);
  });

  it("re-seals an idle connection in the daily keep-alive without refreshing it", async () => {
    const { slug, realmId, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_A);
    const outcome = await env.QBO_CONNECTIONS.getByName(slug).refreshIfLapsing(7 * 86_400_000);
    expect(outcome).toEqual({ refreshed: false });
    await expectAllUnderCurrentKey(slug, plain);
    expect((await emulator().stats(realmId)).tokenCalls.total).toBe(0);
  });
});

describe("rotating TOKEN_ENCRYPTION_KEY: tokens no configured key opens", () => {
  it("answers 409 qbo_reconnect_required, never 500, and the conference shows needsReconnect", async () => {
    const warnings: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: unknown) => {
      warnings.push(String(line));
    });
    const { slug, realmId, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_C);

    const po = await createPo(slug);
    for (let i = 0; i < 2; i++) {
      const res = await call("POST", invoicePath(slug, po.reference), {});
      expect(res.status, JSON.stringify(res.body)).toBe(409);
      expect(res.body.error.code).toBe("qbo_reconnect_required");
    }
    expect((await call("GET", `/api/conferences/${slug}`)).body.qbo).toMatchObject({
      connected: false,
      needsReconnect: true,
    });
    expect((await emulator().stats(realmId)).tokenCalls.total).toBe(0);

    // One warning, naming the column and the key ids, and nothing secret.
    const events = warnings.map((w) => JSON.parse(w)).filter((w) => w.event === "qbo.tokens_undecryptable");
    expect(events).toEqual([
      expect.objectContaining({
        conference: slug,
        storedKid: await kidOf(KEY_C),
        currentKid: await kidOf(KEY_B),
        previousKid: await kidOf(KEY_A),
      }),
    ]);
    const all = warnings.join("\n");
    for (const secret of [...Object.values(plain), KEY_A, KEY_B, KEY_C]) expect(all).not.toContain(secret);
  });

  it("answers every token path of the Durable Object with reconnect_required instead of throwing", async () => {
    const { slug, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV1, KEY_C);
    const stub = env.QBO_CONNECTIONS.getByName(slug);
    const refused = { ok: false, reason: "reconnect_required" };
    expect(await stub.accessToken()).toMatchObject(refused);
    expect(await stub.refreshAfterUnauthorized(plain.access_token)).toMatchObject(refused);
    expect(await stub.refreshIfLapsing(Number.MAX_SAFE_INTEGER)).toMatchObject({
      refreshed: false,
      result: false,
      reconnect: { ...refused, cause: "tokens_unreadable" },
    });
    expect((await readRow(slug)).needs_reconnect).not.toBe(0);
  });

  it("treats a tampered ciphertext under the current key as unreadable", async () => {
    const { slug, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_B);
    const row = await readRow(slug);
    const [v, kid, iv, ct = ""] = (row.access_token as string).split(".");
    const flipped = b64(bytes(ct).map((b, i) => (i === 0 ? b ^ 1 : b)));
    await runInDurableObject(env.QBO_CONNECTIONS.getByName(slug), (_i: QboConnection, state) => {
      state.storage.sql.exec("UPDATE connection SET access_token = ?", `${v}.${kid}.${iv}.${flipped}`);
    });
    expect(await env.QBO_CONNECTIONS.getByName(slug).accessToken()).toMatchObject({
      ok: false,
      reason: "reconnect_required",
    });
  });

  it("records a queued sync of such a conference as a permanent failure instead of retrying it", async () => {
    const { slug, plain } = await connectedWithCredentials();
    const po = await createPo(slug);
    const invoiced = await call("POST", invoicePath(slug, po.reference), {});
    expect(invoiced.status).toBe(201);
    const invoiceId = invoiced.body.qbo.invoiceId as string;
    await resealRow(slug, plain, sealV2, KEY_C);

    const { message, batch } = invoicesBatch(slug, [invoiceId]);
    const warnings: string[] = [];
    vi.spyOn(console, "warn").mockImplementation((line: unknown) => {
      warnings.push(String(line));
    });
    await handleQueueBatch(batch, env);
    expect(message.ack).toHaveBeenCalledOnce();
    expect(message.retry).not.toHaveBeenCalled();
    const failed = warnings.map((w) => JSON.parse(w)).filter((w) => w.event === "sync.message_failed");
    expect(failed).toEqual([
      expect.objectContaining({ transient: false, error: expect.stringMatching(/cannot be decrypted/) }),
    ]);
    const status = (await call("GET", `/api/conferences/${slug}/qbo/sync`)).body;
    expect(status.failures).toEqual([expect.objectContaining({ invoiceIds: [invoiceId], attempts: 1 })]);
  });

  it("recovers without a reconnect once a configured key opens the tokens again", async () => {
    const { slug, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_C);
    const po = await createPo(slug);
    expect((await call("POST", invoicePath(slug, po.reference), {})).status).toBe(409);

    // As if the operator put the missing key back as TOKEN_ENCRYPTION_KEY_PREVIOUS.
    await resealRow(slug, plain, sealV2, KEY_A);
    expect((await call("POST", invoicePath(slug, po.reference), {})).status).toBe(201);
    expect((await call("GET", `/api/conferences/${slug}`)).body.qbo).toMatchObject({
      connected: true,
      needsReconnect: false,
    });
    await expectAllUnderCurrentKey(slug, plain);
  });

  it("clears needsReconnect when new tokens are stored", async () => {
    const { slug, realmId, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_C);
    expect(await env.QBO_CONNECTIONS.getByName(slug).accessToken()).toMatchObject({ ok: false });
    const grant = await emulator().issueTokens(realmId);
    const stored = await call("PUT", `/api/conferences/${slug}/qbo/tokens`, {
      realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
    });
    expect(stored.body.qbo).toMatchObject({ connected: true, needsReconnect: false });
    const po = await createPo(slug);
    expect((await call("POST", invoicePath(slug, po.reference), {})).status).toBe(201);
  });

  it("still disconnects: forgets the tokens without revoking what it cannot read", async () => {
    const { slug, realmId, plain } = await connectedWithCredentials();
    await resealRow(slug, plain, sealV2, KEY_C);
    const res = await call("DELETE", `/api/conferences/${slug}/qbo/tokens`);
    expect(res.status).toBe(204);
    expect((await emulator().stats(realmId)).revokeCalls).toBe(0);
    expect(await readRow(slug)).toBeUndefined();
    expect((await call("GET", `/api/conferences/${slug}`)).body.qbo).toMatchObject({
      connected: false,
      needsReconnect: false,
    });
  });
});

describe("a refresh that re-seals the row", () => {
  it("does not overwrite a grant, and its client credentials, stored while the refresh was in flight", async () => {
    const { slug, realmId } = await connectedWithCredentials({ accessTokenExpiresAt: past() });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "latency", ms: 400, times: 1, match: { path: "/oauth2/v1/tokens/bearer" } }],
    });
    const refreshing = env.QBO_CONNECTIONS.getByName(slug).accessToken();
    await vi.waitFor(async () => {
      expect((await emulator().stats(realmId)).tokenCalls.refresh_token).toBe(1);
    });
    const grant = await emulator().issueTokens(realmId);
    const stored = await call("PUT", `/api/conferences/${slug}/qbo/tokens`, {
      realmId,
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken,
      accessTokenExpiresAt: grant.accessTokenExpiresAt,
      clientId: "test-client-id",
      clientSecret: "test-client-secret-2",
    });
    expect(stored.status).toBe(200);
    expect(await refreshing).toMatchObject({ ok: true });
    await expectAllUnderCurrentKey(slug, {
      access_token: grant.accessToken,
      refresh_token: grant.refreshToken,
      client_secret: "test-client-secret-2",
    });
  });
});

describe("the token vault's encryption", () => {
  const ring = async (current: string, previous?: string): Promise<KeyRing> => ({
    current: await importVaultKey(current),
    previous: previous ? await importVaultKey(previous) : null,
  });

  it("names each key by a stable fingerprint that differs between keys and reveals nothing of it", async () => {
    const [a, a2, b] = await Promise.all([
      importVaultKey(KEY_A),
      importVaultKey(KEY_A),
      importVaultKey(KEY_B),
    ]);
    expect(a.kid).toBe(a2.kid);
    expect(a.kid).not.toBe(b.kid);
    expect(a.kid).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(a.kid).toBe(await kidOf(KEY_A));
    const sealed = await encryptField(b, "secret-token", "conf:access_token");
    expect(sealed).toMatch(new RegExp(`^v2\\.${b.kid}\\.[A-Za-z0-9+/=]+\\.[A-Za-z0-9+/=]+$`));
    expect(sealed).not.toContain("secret-token");
    expect(await openV2With(KEY_B, sealed, "conf:access_token")).toBe("secret-token");
  });

  it("refuses a value moved to another conference or column (AAD binding)", async () => {
    const keys = await ring(KEY_B);
    const sealed = await encryptField(keys.current, "secret-token", "conf-a:access_token");
    expect(await decryptField(keys, sealed, "conf-a:access_token")).toBe("secret-token");
    for (const context of ["conf-b:access_token", "conf-a:refresh_token"]) {
      await expect(decryptField(keys, sealed, context)).rejects.toBeInstanceOf(UndecryptableError);
    }
    const legacy = await sealV1(KEY_B, "secret-token", "conf-a:access_token");
    await expect(decryptField(keys, legacy, "conf-b:access_token")).rejects.toBeInstanceOf(
      UndecryptableError,
    );
  });

  it("opens values under the previous key only while that key is configured, naming the key it lacks", async () => {
    const withPrevious = await ring(KEY_B, KEY_A);
    const currentOnly = await ring(KEY_B);
    const underA = await encryptField(await importVaultKey(KEY_A), "t", "c:refresh_token");
    const legacyUnderA = await sealV1(KEY_A, "t", "c:refresh_token");
    expect(await decryptField(withPrevious, underA, "c:refresh_token")).toBe("t");
    expect(await decryptField(withPrevious, legacyUnderA, "c:refresh_token")).toBe("t");
    const missing = await decryptField(currentOnly, underA, "c:refresh_token").catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(UndecryptableError);
    expect((missing as UndecryptableError).storedKid).toBe(await kidOf(KEY_A));
    await expect(decryptField(currentOnly, legacyUnderA, "c:refresh_token")).rejects.toBeInstanceOf(
      UndecryptableError,
    );
    for (const garbage of ["", "v3.x.y.z", "v2.kid.!!.!!", "plaintext-token"]) {
      await expect(decryptField(withPrevious, garbage, "c:refresh_token")).rejects.toBeInstanceOf(
        UndecryptableError,
      );
    }
  });

  it("tells which values still need re-sealing under the current key", async () => {
    const [a, b] = await Promise.all([importVaultKey(KEY_A), importVaultKey(KEY_B)]);
    expect(isSealedWith(b, await encryptField(b, "t", "c:x"))).toBe(true);
    expect(isSealedWith(b, await encryptField(a, "t", "c:x"))).toBe(false);
    expect(isSealedWith(b, await sealV1(KEY_B, "t", "c:x"))).toBe(false);
  });
});
