/**
 * After a successful change under /api/conferences/{slug}, drains that conference's new
 * timeline events into deliveries in the background (waitUntil), so the platform hears of a
 * change within seconds rather than at the next 15-minute cron. Adds no latency: the answer is
 * already written; one indexed read when the conference has no endpoint.
 */
import type { MiddlewareHandler } from "hono";
import { makeDb } from "../db/client";
import { drainConference } from "../events/drain";
import type { AppEnv } from "./app-types";

const CONFERENCE_PATH = /^\/api\/conferences\/([a-z0-9][a-z0-9-]{0,62})(?:\/|$)/;

export function drainEventsAfterChanges(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.req.method === "GET" || c.res.status >= 400) return;
    const slug = CONFERENCE_PATH.exec(c.req.path)?.[1];
    if (!slug) return;
    let waitUntil: (work: Promise<unknown>) => void;
    try {
      const ctx = c.executionCtx;
      waitUntil = (work) => ctx.waitUntil(work);
    } catch {
      return; // no execution context (an app called directly): the cron drains instead
    }
    waitUntil(drainConference(c.env, makeDb(c.env.DB), slug));
  };
}
