import { createRoute, z } from "@hono/zod-openapi";
import { html } from "hono/html";
import { makeDb } from "../db/client";
import { ApiError } from "../lib/errors";
import { completeConnect, OAuthCallbackError, startConnect } from "../services/oauth";
import type { App } from "./app-types";
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
        "A link to Intuit's consent page with a signed, single-use state (valid 10 minutes). Open it in a browser to connect QuickBooks.",
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

  app.get("/oauth/qbo/callback", async (c) => {
    c.header("cache-control", "no-store");
    const query = CallbackQuery.safeParse(c.req.query());
    if (!query.success) return c.html(page("Connection failed", "The sign-in link is not valid."), 400);
    try {
      const done = await completeConnect(c.env, makeDb(c.env.DB), query.data, c.req.url);
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
