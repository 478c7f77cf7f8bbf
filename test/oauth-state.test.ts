/**
 * The OAuth `state` is accepted only in the exact form the Worker issues: two non-empty parts of
 * canonical base64url joined by one dot, the payload exactly `{n, s, e}`. Anything else gets the
 * 400 page and no code exchange, and leaves the genuine state usable.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { bindingCookie, call, consent, createConference, emulator, followCallback } from "./helpers";

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const b64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, "-")
    .replace(/\//g, "_")
    .replace(/=+$/, "");

/** Intuit's redirect back to the Worker after a person clicked Connect on the consent page. */
async function issuedState() {
  const slug = await createConference();
  const { realmId } = await emulator().createRealm({});
  const connect = await call("POST", `/api/conferences/${slug}/qbo/connect`);
  expect(connect.status).toBe(200);
  const back = await consent(connect.body.url, realmId);
  const state = back.searchParams.get("state") ?? "";
  const [payload = "", mac = ""] = state.split(".");
  return { slug, realmId, back, state, payload, mac, cookie: bindingCookie(back) };
}

/** The callback with another state, from the browser that holds the genuine state's cookie. */
async function callbackWith(issued: { back: URL; cookie?: string | undefined }, state: string) {
  const url = new URL(issued.back);
  url.searchParams.set("state", state);
  return followCallback(url, { cookie: issued.cookie ?? null });
}

/** The same signing the Worker does (HKDF of the test TOKEN_ENCRYPTION_KEY), to forge well-signed oddities. */
async function signPayload(payload: string, base64Key = env.TOKEN_ENCRYPTION_KEY): Promise<string> {
  const base = await crypto.subtle.importKey(
    "raw",
    Uint8Array.from(atob(base64Key), (c) => c.charCodeAt(0)),
    "HKDF",
    false,
    ["deriveKey"],
  );
  const key = await crypto.subtle.deriveKey(
    {
      name: "HKDF",
      hash: "SHA-256",
      salt: new Uint8Array(0),
      info: new TextEncoder().encode("qbo-oauth-state-v1"),
    },
    base,
    { name: "HMAC", hash: "SHA-256", length: 256 },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(payload)));
  return `${payload}.${b64url(mac)}`;
}

const decodePayload = (payload: string) =>
  JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as Record<string, unknown>;
const encodePayload = (value: unknown) => b64url(new TextEncoder().encode(JSON.stringify(value)));

/** The same bytes spelled differently: the unused low bits of the last character set. */
function nonCanonical(part: string): string {
  const last = part.at(-1) ?? "A";
  return part.slice(0, -1) + B64URL[B64URL.indexOf(last) ^ 1];
}

/** The signature in the standard alphabet (`+`, `/`) instead of base64url; forced to differ. */
function standardAlphabet(mac: string): string {
  const std = mac.replace(/-/g, "+").replace(/_/g, "/");
  return std === mac ? `+${mac.slice(1)}` : std;
}

type Variant = [string, (s: { state: string; payload: string; mac: string }) => string | Promise<string>];

const malformed: Variant[] = [
  ["an extra part after the signature", ({ state }) => `${state}.x`],
  ["the signature repeated as a third part", ({ state, mac }) => `${state}.${mac}`],
  ["an extra part in front", ({ state }) => `x.${state}`],
  ["an empty third part (trailing dot)", ({ state }) => `${state}.`],
  ["two dots between the parts", ({ payload, mac }) => `${payload}..${mac}`],
  ["no signature part", ({ payload }) => payload],
  ["an empty signature part", ({ payload }) => `${payload}.`],
  ["an empty payload part", ({ mac }) => `.${mac}`],
  ["only a dot", () => "."],
  ["nothing at all", () => ""],
  ["padding on the signature", ({ state }) => `${state}=`],
  ["padding on the payload", ({ payload, mac }) => `${payload}=.${mac}`],
  [
    "the signature in the standard base64 alphabet",
    ({ payload, mac }) => `${payload}.${standardAlphabet(mac)}`,
  ],
  ["a non-canonical spelling of the signature", ({ payload, mac }) => `${payload}.${nonCanonical(mac)}`],
  ["a character outside base64url", ({ payload, mac }) => `${payload}.${mac.slice(0, -1)}!`],
  ["a leading space", ({ state }) => ` ${state}`],
  ["a trailing space", ({ state }) => `${state} `],
  ["a trailing newline", ({ state }) => `${state}\n`],
  ["a space inside the signature", ({ payload, mac }) => `${payload}.${mac.slice(0, 10)} ${mac.slice(10)}`],
  ["a tab inside the signature", ({ payload, mac }) => `${payload}.${mac.slice(0, 10)}\t${mac.slice(10)}`],
  ["a space around the dot", ({ payload, mac }) => `${payload} .${mac}`],
  [
    "a correctly signed payload with an extra field",
    ({ payload }) => signPayload(encodePayload({ ...decodePayload(payload), admin: true })),
  ],
  [
    "a correctly signed payload missing its expiry",
    ({ payload }) => {
      const { e: _e, ...rest } = decodePayload(payload);
      return signPayload(encodePayload(rest));
    },
  ],
  [
    "a correctly signed payload that is not JSON",
    () => signPayload(b64url(new TextEncoder().encode("not json"))),
  ],
  ["a correctly signed payload spelled non-canonically", ({ payload }) => signPayload(nonCanonical(payload))],
];

describe("the OAuth callback's state", () => {
  it.each(malformed)("refuses %s with the 400 page and exchanges no code", async (_name, make) => {
    const issued = await issuedState();
    const res = await callbackWith(issued, await make(issued));

    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toContain("text/html");
    expect(res.body).toContain("Connection failed");
    expect((await emulator().stats(issued.realmId)).tokenCalls.authorization_code ?? 0).toBe(0);
    expect((await call("GET", `/api/conferences/${issued.slug}`)).body.qbo.connected).toBe(false);
  });

  it("still accepts the genuine state once after every malformed one was refused", async () => {
    const issued = await issuedState();
    for (const [name, make] of malformed) {
      const res = await callbackWith(issued, await make(issued));
      expect(res.status, name).toBe(400);
    }
    expect((await emulator().stats(issued.realmId)).tokenCalls.authorization_code ?? 0).toBe(0);

    const genuine = await callbackWith(issued, issued.state);
    expect(genuine.status).toBe(200);
    expect(genuine.body).toContain("QuickBooks connected");
    expect((await emulator().stats(issued.realmId)).tokenCalls.authorization_code).toBe(1);
  });
});

describe("a state signed before a key rotation", () => {
  it("is still accepted under TOKEN_ENCRYPTION_KEY_PREVIOUS for its 10 minutes", async () => {
    const issued = await issuedState();
    const { slug, payload } = issued;
    const previous = env.TOKEN_ENCRYPTION_KEY_PREVIOUS as string;

    const res = await callbackWith(issued, await signPayload(payload, previous));

    expect(res.status, String(res.body).slice(0, 300)).toBe(200);
    expect((await call("GET", `/api/conferences/${slug}`)).body.qbo.connected).toBe(true);
  });

  it("is refused under a key that is neither current nor previous", async () => {
    const issued = await issuedState();
    const { payload, state } = issued;
    const stranger = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));

    const res = await callbackWith(issued, await signPayload(payload, stranger));

    expect(res.status).toBe(400);
    expect((await callbackWith(issued, state)).status).toBe(200);
  });
});
