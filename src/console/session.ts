/**
 * The console's session (SPEC §13): who is signed in, in a sealed cookie, and the CSRF tokens of
 * its forms. No session table: the cookie is the session.
 *
 * - The cookie holds `{sid, token, exp}` sealed with AES-GCM (authenticated encryption: it is
 *   signed and unreadable). The token is kept, not a key id, because every action is run by the
 *   API itself with that token (src/console/api.ts): the API's roles, validation, idempotency
 *   and rate limits apply by construction. The key is derived from TOKEN_ENCRYPTION_KEY with
 *   HKDF (info `qpo-console-session-v1`), like the OAuth state's HMAC key, so there is no extra
 *   secret; a cookie sealed under TOKEN_ENCRYPTION_KEY_PREVIOUS still opens during a rotation.
 * - The token is revalidated on every request, with no cache: a revoked key or a changed
 *   API_TOKEN signs the browser out at its next click. Sessions end after SESSION_TTL_MS whatever
 *   happens (the expiry is inside the seal, so it cannot be extended by editing the cookie).
 * - CSRF: every form carries `HMAC(csrfKey, sid)` (HKDF info `qpo-console-csrf-v1`), checked in
 *   constant time on every POST before anything else runs. The sign-in form, which has no session
 *   yet, is bound the same way to a random pre-session id in its own short cookie (login CSRF:
 *   another site must not sign the operator in as someone else).
 * - Cookies: HttpOnly, SameSite=Lax, Path=/console, Secure except over plain http on a loopback
 *   host (wrangler dev), where there is no TLS.
 */
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { authenticateApiKey, KEY_PREFIX } from "../auth/api-keys";
import type { ApiKeyRole } from "../auth/roles";
import { base64ToBytes, bytesToBase64 } from "../connections/crypto";
import { makeDb } from "../db/client";
import type { AppEnv } from "../http/app-types";
import { timingSafeEqualStrings } from "../lib/secure-compare";

export const SESSION_COOKIE = "qpo_console";
export const PRE_SESSION_COOKIE = "qpo_console_pre";
export const COOKIE_PATH = "/console";
/** A session ends 8 hours after sign-in, whatever happens. */
export const SESSION_TTL_MS = 8 * 60 * 60 * 1000;
const PRE_SESSION_TTL_S = 60 * 60;
const SEAL_CONTEXT = new TextEncoder().encode("qpo-console-session-v1");

/** Who is signed in, revalidated on this request. */
export type Principal =
  | { type: "deployment"; sid: string }
  | { type: "api_key"; sid: string; id: string; name: string; role: ApiKeyRole; conference: string };

interface SessionPayload {
  sid: string;
  token: string;
  exp: number;
}

const b64url = (bytes: Uint8Array) =>
  bytesToBase64(bytes).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const fromB64url = (text: string) => base64ToBytes(text.replace(/-/g, "+").replace(/_/g, "/"));

interface Keys {
  seal: CryptoKey;
  open: CryptoKey[];
  csrf: CryptoKey;
}

/** Keys derived from the encryption key(s); null when TOKEN_ENCRYPTION_KEY is unset (console closed). */
async function consoleKeys(env: Env): Promise<Keys | null> {
  if (!env.TOKEN_ENCRYPTION_KEY) return null;
  const derive = async (
    base64: string,
    info: string,
    alg: { name: "AES-GCM"; length: 256 } | { name: "HMAC"; hash: "SHA-256"; length: 256 },
  ) => {
    const base = await crypto.subtle.importKey("raw", base64ToBytes(base64), "HKDF", false, ["deriveKey"]);
    return crypto.subtle.deriveKey(
      { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: new TextEncoder().encode(info) },
      base,
      alg,
      false,
      alg.name === "HMAC" ? ["sign"] : ["encrypt", "decrypt"],
    );
  };
  const aes = { name: "AES-GCM" as const, length: 256 as const };
  const seal = await derive(env.TOKEN_ENCRYPTION_KEY, "qpo-console-session-v1", aes);
  const previous = env.TOKEN_ENCRYPTION_KEY_PREVIOUS
    ? await derive(env.TOKEN_ENCRYPTION_KEY_PREVIOUS, "qpo-console-session-v1", aes).catch(() => null)
    : null;
  const csrf = await derive(env.TOKEN_ENCRYPTION_KEY, "qpo-console-csrf-v1", {
    name: "HMAC" as const,
    hash: "SHA-256" as const,
    length: 256 as const,
  });
  return { seal, open: previous ? [seal, previous] : [seal], csrf };
}

async function sealPayload(keys: Keys, payload: SessionPayload): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify(payload));
  const cipher = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: SEAL_CONTEXT }, keys.seal, plain),
  );
  const out = new Uint8Array(iv.length + cipher.length);
  out.set(iv);
  out.set(cipher, iv.length);
  return b64url(out);
}

/** The payload of an untampered cookie sealed by one of our keys, else null. */
async function openPayload(keys: Keys, sealed: string): Promise<SessionPayload | null> {
  if (!/^[A-Za-z0-9_-]{40,4096}$/.test(sealed)) return null;
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = fromB64url(sealed);
  } catch {
    return null;
  }
  for (const key of keys.open) {
    try {
      const plain = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: bytes.slice(0, 12), additionalData: SEAL_CONTEXT },
        key,
        bytes.slice(12),
      );
      const value = JSON.parse(new TextDecoder().decode(plain)) as Partial<SessionPayload>;
      if (typeof value.sid === "string" && typeof value.token === "string" && typeof value.exp === "number")
        return { sid: value.sid, token: value.token, exp: value.exp };
      return null;
    } catch {
      // another key, or tampered: try the next
    }
  }
  return null;
}

export function secureCookie(c: Context<AppEnv>): boolean {
  const url = new URL(c.req.url);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  return url.protocol === "https:" || !loopback;
}

/** Who a presented token is, checked now: the deployment token, a live conference key, or nobody. */
export async function principalFor(env: Env, token: string, sid: string): Promise<Principal | null> {
  if (env.API_TOKEN && (await timingSafeEqualStrings(token, env.API_TOKEN)))
    return { type: "deployment", sid };
  if (!token.startsWith(KEY_PREFIX)) return null;
  const key = await authenticateApiKey(makeDb(env.DB), token);
  if (!key) return null;
  return { type: "api_key", sid, id: key.id, name: key.name, role: key.role, conference: key.conferenceSlug };
}

export interface Session {
  principal: Principal;
  /** The bearer token the API is called with on this session's behalf. Never rendered. */
  token: string;
  csrf: string;
}

/**
 * The request's session, revalidated; null when signed out, expired, tampered with, or its
 * token no longer works (then the cookie is cleared).
 */
export async function currentSession(c: Context<AppEnv>): Promise<Session | null> {
  const sealed = getCookie(c, SESSION_COOKIE);
  if (!sealed) return null;
  const keys = await consoleKeys(c.env);
  const payload = keys ? await openPayload(keys, sealed) : null;
  const principal =
    payload && payload.exp > Date.now() ? await principalFor(c.env, payload.token, payload.sid) : null;
  if (!keys || !payload || !principal) {
    endSession(c);
    return null;
  }
  return { principal, token: payload.token, csrf: await csrfToken(keys, `s:${payload.sid}`) };
}

/** Signs the browser in: a fresh session id (never one the browser brought: no fixation). */
export async function startSession(c: Context<AppEnv>, token: string): Promise<void> {
  const keys = await consoleKeys(c.env);
  if (!keys) throw new Error("console keys missing");
  const sid = b64url(crypto.getRandomValues(new Uint8Array(18)));
  const sealed = await sealPayload(keys, { sid, token, exp: Date.now() + SESSION_TTL_MS });
  setCookie(c, SESSION_COOKIE, sealed, {
    path: COOKIE_PATH,
    httpOnly: true,
    secure: secureCookie(c),
    sameSite: "Lax",
    maxAge: SESSION_TTL_MS / 1000,
  });
  deleteCookie(c, PRE_SESSION_COOKIE, { path: COOKIE_PATH, secure: secureCookie(c) });
}

export function endSession(c: Context<AppEnv>): void {
  deleteCookie(c, SESSION_COOKIE, { path: COOKIE_PATH, secure: secureCookie(c) });
}

async function csrfToken(keys: Keys, bound: string): Promise<string> {
  return b64url(new Uint8Array(await crypto.subtle.sign("HMAC", keys.csrf, new TextEncoder().encode(bound))));
}

/** Whether the form's token is the one of this session (constant time). */
export async function csrfMatches(session: Session, given: unknown): Promise<boolean> {
  return typeof given === "string" && (await timingSafeEqualStrings(given, session.csrf));
}

/**
 * The sign-in form's CSRF token, bound to a pre-session id kept in its own cookie (set here when
 * the browser has none). Null when the console is not configured.
 */
export async function preSessionToken(c: Context<AppEnv>): Promise<string | null> {
  const keys = await consoleKeys(c.env);
  if (!keys) return null;
  let pre = getCookie(c, PRE_SESSION_COOKIE);
  if (!pre || !/^[A-Za-z0-9_-]{24}$/.test(pre)) {
    pre = b64url(crypto.getRandomValues(new Uint8Array(18)));
    setCookie(c, PRE_SESSION_COOKIE, pre, {
      path: COOKIE_PATH,
      httpOnly: true,
      secure: secureCookie(c),
      sameSite: "Strict",
      maxAge: PRE_SESSION_TTL_S,
    });
  }
  return csrfToken(keys, `p:${pre}`);
}

/** Whether the sign-in form's token matches the browser's pre-session cookie. */
export async function preSessionMatches(c: Context<AppEnv>, given: unknown): Promise<boolean> {
  const keys = await consoleKeys(c.env);
  const pre = getCookie(c, PRE_SESSION_COOKIE);
  if (!keys || !pre || typeof given !== "string") return false;
  return timingSafeEqualStrings(given, await csrfToken(keys, `p:${pre}`));
}
