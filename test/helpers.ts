/** A small harness: authenticated JSON calls to the Worker, and fixtures built through the API. */
import { env, exports } from "cloudflare:workers";
import { expect } from "vitest";
import { EmulatorControl } from "../emulator/control-client.ts";

export const API_TOKEN = "test-api-token";

export interface CallOptions {
  token?: string | null;
  headers?: Record<string, string>;
  rawBody?: string;
}

export interface JsonResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export async function call<T = any>(
  method: string,
  path: string,
  body?: unknown,
  opts: CallOptions = {},
): Promise<JsonResponse<T>> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? API_TOKEN}`;
  let payload: string | undefined = opts.rawBody;
  if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  } else if (payload !== undefined) {
    headers["content-type"] ??= "application/json";
  }
  const res = await exports.default.fetch(
    new Request(`http://worker.test${path}`, { method, headers, body: payload }),
  );
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (PDF, HTML): keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

let counter = 0;
/** Unique per test file run: storage is shared by the tests of one file. */
export function unique(prefix: string): string {
  counter++;
  return `${prefix}-${counter}-${crypto.randomUUID().slice(0, 6)}`;
}

export async function createConference(
  slug = unique("conf"),
  body: Record<string, unknown> = { name: "Test Conf" },
) {
  const res = await call("PUT", `/api/conferences/${slug}`, body);
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return slug;
}

export const poBody = (overrides: Record<string, unknown> = {}) => ({
  organizationName: "Acme Corp",
  contactName: "Ada Lovelace",
  contactEmail: "ada@acme.test",
  billingAddress: "1 Main St\nSuite 2\nSpringfield",
  lineItems: [{ description: "Gold sponsorship", quantity: 1, unitPrice: "1200.00" }],
  ...overrides,
});

export async function createPo(slug: string, overrides: Record<string, unknown> = {}) {
  const res = await call("POST", `/api/conferences/${slug}/purchase-orders`, poBody(overrides));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { reference: string; [k: string]: any };
}

export function emulator(): EmulatorControl {
  return new EmulatorControl(env.QBO_EMULATOR_URL);
}

/** A conference connected to a fresh emulator realm through the public API. */
export async function connectedConference(opts: { accessTokenExpiresAt?: string; slug?: string } = {}) {
  const slug = await createConference(opts.slug ?? unique("conf"));
  const grant = await emulator().createRealm({});
  const res = await call("PUT", `/api/conferences/${slug}/qbo/tokens`, {
    realmId: grant.realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: opts.accessTokenExpiresAt ?? grant.accessTokenExpiresAt,
    refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { slug, realmId: grant.realmId, grant };
}

/** The verifier token the tests run with (vitest.config.ts). */
export const VERIFIER = "test-webhook-verifier";

export async function sign(body: string, token = VERIFIER): Promise<string> {
  const key = await crypto.subtle.importKey(
    "raw",
    new TextEncoder().encode(token),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(body)));
  return btoa(String.fromCharCode(...mac));
}

export async function postWebhook(body: string, signature?: string | null) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  const sig = signature === undefined ? await sign(body) : signature;
  if (sig !== null) headers["intuit-signature"] = sig;
  return call("POST", "/webhooks/qbo", undefined, { token: null, headers, rawBody: body });
}

/** A connected conference with one PO of `total` whose QBO invoice exists. */
export async function invoicedPo(total = "1200.00") {
  const { slug, realmId } = await connectedConference();
  const po = await createPo(slug, {
    lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: total }],
  });
  const res = await call("POST", `/api/conferences/${slug}/purchase-orders/${po.reference}/qbo-invoice`, {});
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { slug, realmId, reference: po.reference, invoiceId: res.body.qbo.invoiceId as string };
}
