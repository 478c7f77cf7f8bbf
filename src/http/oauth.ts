import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import { makeDb } from "../db/client";
import { ApiError } from "../lib/errors";
import {
  CONSENT_START_PATH,
  completeConnect,
  OAuthCallbackError,
  openConsent,
  STATE_TTL_MS,
  startConnect,
} from "../services/oauth";
import type { App, AppEnv } from "./app-types";
import { ConferenceParams, commonErrors, jsonBody, jsonResponse } from "./schemas";

const ConnectBody = z
  .object({
    force: z.boolean().default(false).openapi({
      description:
        "Allow connecting another QuickBooks company although POs have open invoices in the current one (otherwise the callback refuses with 409).",
    }),
  })
  .openapi("ConnectQuickBooks");

const CallbackQuery = z.object({
  code: z.string().max(2048).optional(),
  state: z.string().max(2048).optional(),
  realmId: z.string().max(64).optional(),
  error: z.string().max(200).optional(),
});

const StartQuery = z.object({ state: z.string().max(2048) });

/**
 * The cookie that binds a consent to the browser that started it (services/oauth.ts). HttpOnly:
 * no script needs it. SameSite=Lax: sent on Intuit's top-level redirect back to the callback, not
 * on cross-site subrequests. Path=/oauth/qbo: sent to the callback only.
 */
const BINDING_COOKIE = "qbo_oauth_binding";
const COOKIE_PATH = "/oauth/qbo";

/**
 * `Secure` everywhere except plain http on a loopback host (`wrangler dev`, the e2e sandbox), where
 * there is no TLS to require. Browsers differ on whether they keep a Secure cookie set over
 * http://127.0.0.1, so it is omitted there rather than relied on.
 */
function secureCookie(c: Context<AppEnv>): boolean {
  const url = new URL(c.req.url);
  const loopback = ["localhost", "127.0.0.1", "[::1]"].includes(url.hostname);
  return url.protocol === "https:" || !loopback;
}

function page(title: string, message: string) {
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem}</style></head>
<body><h1 id="title">${title}</h1><p id="message">${message}</p></body></html>`;
}

export function registerOauthRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/qbo/connect",
      security: [{ bearer: [] }],
      description:
        "A link that connects QuickBooks when opened in a browser: the Worker's start page (`/oauth/qbo/start`), which ties the signed, single-use state (valid 10 minutes) to that browser with a cookie and redirects to Intuit's consent page. The callback is accepted only in the same browser.",
      request: { params: ConferenceParams, body: jsonBody(ConnectBody, false) },
      responses: { 200: jsonResponse(z.object({ url: z.string() }), "The consent link"), ...commonErrors },
    }),
    async (c) => {
      const force = c.req.valid("json")?.force ?? false;
      const url = await startConnect(c.env, makeDb(c.env.DB), c.req.valid("param").slug, c.req.url, {
        force,
      });
      return c.json({ url }, 200);
    },
  );

  app.get(CONSENT_START_PATH, async (c) => {
    c.header("cache-control", "no-store");
    c.header("referrer-policy", "no-referrer");
    const query = StartQuery.safeParse(c.req.query());
    if (!query.success) return c.html(page("Connection failed", "The sign-in link is not valid."), 400);
    try {
      const { consentUrl, binding } = await openConsent(c.env, query.data.state, c.req.url);
      setCookie(c, BINDING_COOKIE, binding, {
        path: COOKIE_PATH,
        httpOnly: true,
        secure: secureCookie(c),
        sameSite: "Lax",
        maxAge: STATE_TTL_MS / 1000,
      });
      return c.redirect(consentUrl, 302);
    } catch (err) {
      if (err instanceof OAuthCallbackError) return c.html(page("Connection failed", err.message), 400);
      if (err instanceof ApiError)
        return c.html(page("Connection failed", err.message), err.status === 503 ? 503 : 400);
      throw err;
    }
  });

  app.get("/oauth/qbo/callback", async (c) => {
    c.header("cache-control", "no-store");
    const binding = getCookie(c, BINDING_COOKIE);
    // Spent whatever happens next: a binding is good for one callback, like its state.
    if (binding !== undefined)
      deleteCookie(c, BINDING_COOKIE, { path: COOKIE_PATH, secure: secureCookie(c) });
    const query = CallbackQuery.safeParse(c.req.query());
    if (!query.success) return c.html(page("Connection failed", "The sign-in link is not valid."), 400);
    try {
      const done = await completeConnect(c.env, makeDb(c.env.DB), query.data, c.req.url, binding);
      return c.html(
        page(
          "QuickBooks connected",
          `${done.name} is now connected to QuickBooks company ${done.realmId}. You can close this page.`,
        ),
        200,
      );
    } catch (err) {
      if (err instanceof OAuthCallbackError)
        return c.html(page("Connection failed", err.message), err.status);
      if (err instanceof ApiError && err.status < 500)
        return c.html(page("Connection failed", err.message), err.status === 409 ? 409 : 400);
      if (err instanceof ApiError) return c.html(page("Connection failed", err.message), 503);
      throw err;
    }
  });
}
