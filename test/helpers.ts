/** A small harness: authenticated JSON calls to the Worker, and fixtures built through the API. */
import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import { expect, vi } from "vitest";
import { EmulatorControl, type SettingsPatch as RealmSettingsPatch } from "../emulator/control-client.ts";
import { createApp } from "../src/app";
import { paths } from "./paths";
import { API_TOKEN, VERIFIER } from "./secrets";

export { paths } from "./paths";
export { API_TOKEN, VERIFIER } from "./secrets";

export interface CallOptions {
  /** The bearer token; `null` sends no Authorization header. Defaults to the test API token. */
  token?: string | null;
  headers?: Record<string, string>;
  rawBody?: string;
  /**
   * Bindings to replace for this one request (e.g. `{ API_TOKEN: undefined }`): the request then
   * goes to a fresh app with that env instead of the Worker's own fetch handler.
   */
  env?: Partial<Record<keyof Env, unknown>>;
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
  // Redirects are returned, not followed: through `exports` they would loop back into this Worker.
  const request = new Request(`http://worker.test${path}`, {
    method,
    headers,
    body: payload,
    redirect: "manual",
  });
  const res = opts.env ? await fetchWithEnv(request, opts.env) : await exports.default.fetch(request);
  // Decoded by hand: Response.text() on a PDF makes workerd print a warning.
  const text = new TextDecoder().decode(await res.arrayBuffer());
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    // not JSON (PDF, HTML): keep the text
  }
  return { status: res.status, body: parsed as T, headers: res.headers };
}

async function fetchWithEnv(request: Request, overrides: NonNullable<CallOptions["env"]>) {
  const ctx = createExecutionContext();
  const res = await createApp().fetch(request, { ...env, ...overrides } as Env, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

/** SPEC §3's error body, and nothing else: `{error: {code, message, details?}}` with a message. */
export function expectError(res: { status: number; body: any }, status: number, code: string) {
  expect(res.status, JSON.stringify(res.body)).toBe(status);
  expect(res.body).toEqual({
    error: expect.objectContaining({ code, message: expect.any(String) }),
  });
  expect(Object.keys(res.body.error).every((k) => ["code", "message", "details"].includes(k))).toBe(true);
  expect(res.body.error.message.length).toBeGreaterThan(0);
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
  const res = await call("PUT", paths.conference(slug), body);
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
  const res = await call("POST", paths.pos(slug), poBody(overrides));
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body as { reference: string; [k: string]: any };
}

export function emulator(): EmulatorControl {
  return new EmulatorControl(env.QBO_EMULATOR_URL);
}

/**
 * A conference connected to a fresh emulator realm through the public API. The realm is as
 * hostile as a real company (SPEC §14) unless `settings` turns a behaviour off by name.
 */
export async function connectedConference(
  opts: {
    accessTokenExpiresAt?: string;
    slug?: string;
    settings?: RealmSettingsPatch;
    conference?: Record<string, unknown>;
  } = {},
) {
  const slug = await createConference(opts.slug ?? unique("conf"), opts.conference);
  const grant = await emulator().createRealm(opts.settings ? { settings: opts.settings } : {});
  const res = await call("PUT", paths.qboTokens(slug), {
    realmId: grant.realmId,
    accessToken: grant.accessToken,
    refreshToken: grant.refreshToken,
    accessTokenExpiresAt: opts.accessTokenExpiresAt ?? grant.accessTokenExpiresAt,
    refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
  });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { slug, realmId: grant.realmId, grant };
}

export async function sign(body: string, token: string = VERIFIER): Promise<string> {
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
  return call("POST", paths.webhook, undefined, { token: null, headers, rawBody: body });
}

/**
 * Turns one hostile behaviour off by name: no sales tax, so an invoice's amounts are the PO's
 * lines. For tests whose subject is not tax (tax has its own tests in qbo/real-companies).
 */
export const UNTAXED = { tax: { mode: "none" } } as const satisfies RealmSettingsPatch;

/** A connected conference with one PO of `total` whose QBO invoice exists. */
export async function invoicedPo(total = "1200.00", settings?: RealmSettingsPatch) {
  const { slug, realmId } = await connectedConference(settings ? { settings } : {});
  const po = await createPo(slug, {
    lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: total }],
  });
  const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { slug, realmId, reference: po.reference, invoiceId: res.body.qbo.invoiceId as string };
}

/**
 * The browser's OAuth cookie (`qbo_oauth_binding=…`) per state: what the Worker's start page set
 * when `consent` opened the connect link, and what `followCallback` sends back (until the
 * callback clears it), as one browser would for each flow.
 */
const bindingCookies = new Map<string, string>();

/** The `name=value` of the binding cookie that the browser holds for this callback URL's state. */
export function bindingCookie(callback: URL): string | undefined {
  return bindingCookies.get(callback.searchParams.get("state") ?? "");
}

/**
 * Opens a connect link (`POST …/qbo/connect`'s `url`, the Worker's start page) as a browser does:
 * returns Intuit's consent URL it redirects to and the binding cookie it sets.
 */
export async function openConnectLink(
  connectUrl: string,
): Promise<{ consentUrl: URL; cookie: string; setCookie: string }> {
  const link = new URL(connectUrl);
  const res = await call("GET", `${link.pathname}${link.search}`, undefined, { token: null });
  expect(res.status, JSON.stringify(res.body).slice(0, 300)).toBe(302);
  const setCookie = res.headers.get("set-cookie") ?? "";
  const cookie = setCookie.split(";")[0] ?? "";
  expect(cookie).toMatch(/^qbo_oauth_binding=[\w-]+$/);
  return { consentUrl: new URL(res.headers.get("location") ?? ""), cookie, setCookie };
}

/**
 * What a browser and Intuit's consent page do when a person opens the connect link, picks
 * `realmId` and clicks Connect (or Cancel): the Worker's start page sets the binding cookie (kept
 * for `followCallback`) and redirects to the consent page; the emulator answers with the redirect
 * back to the Worker's callback, which is returned.
 */
export async function consent(
  connectUrl: string,
  realmId: string,
  decision: "connect" | "cancel" = "connect",
): Promise<URL> {
  const { consentUrl, cookie } = await openConnectLink(connectUrl);
  const params = consentUrl.searchParams;
  bindingCookies.set(params.get("state") ?? "", cookie);
  const res = await fetch(`${env.QBO_EMULATOR_URL}/connect/oauth2/decision`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      client_id: params.get("client_id") ?? "",
      redirect_uri: params.get("redirect_uri") ?? "",
      scope: params.get("scope") ?? "",
      response_type: "code",
      state: params.get("state") ?? "",
      realm_id: realmId,
      decision,
    }).toString(),
    redirect: "manual",
  });
  expect(res.status).toBe(302);
  return new URL(res.headers.get("location") ?? "");
}

/**
 * Follows a callback URL (path and query) into the Worker, unauthenticated, as a browser would:
 * with the binding cookie it holds for the state, unless `cookie` says otherwise (`null`: none).
 */
export async function followCallback(url: URL, opts: { cookie?: string | null } = {}) {
  const state = url.searchParams.get("state") ?? "";
  const cookie = opts.cookie === undefined ? bindingCookies.get(state) : opts.cookie;
  const res = await call("GET", `${url.pathname}${url.search}`, undefined, {
    token: null,
    headers: cookie ? { cookie } : {},
  });
  if (/^qbo_oauth_binding=;/.test(res.headers.get("set-cookie") ?? "")) bindingCookies.delete(state);
  return res;
}

/**
 * A hand-made SYNC_QUEUE batch of one cron message for these invoices, so a test can call the
 * consumer directly and see what it did to the message (`ack`, `retry` and its options).
 */
export function invoicesBatch(conference: string, invoiceIds: string[]) {
  const body = { type: "invoices", key: crypto.randomUUID(), conference, trigger: "cron", invoiceIds };
  const message = { id: body.key, timestamp: new Date(), attempts: 1, body, ack: vi.fn(), retry: vi.fn() };
  const batch = { queue: "qbo-sync", messages: [message], ackAll: vi.fn(), retryAll: vi.fn() };
  return { message, batch: batch as unknown as MessageBatch<unknown> };
}

/**
 * Per-request bindings (`call(…, { env: ROOMY_BUDGET })`) for the rare test that sends a burst
 * of QBO calls into one realm on purpose to test something else: the realm's rate budget
 * (SPEC §10, 10/s) would rightly turn most of them into 503s.
 */
export const ROOMY_BUDGET = { QBO_RATE_PER_SECOND: "1000", QBO_RATE_PER_MINUTE: "60000" } as const;
