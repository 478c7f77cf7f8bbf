/**
 * Who a request acts as, for the PO timeline (SPEC §11: every mutation through the API names
 * its caller). Route handlers pass `eventContext(c)` to the one service they call.
 */
import type { Context } from "hono";
import type { Actor, EventContext } from "../domain/events";
import type { AppEnv } from "./app-types";

/**
 * The caller the auth middleware recognised; a request it did not label (the deployment
 * token, or no key support at all) acts as the deployment.
 */
export function actorOf(c: Context<AppEnv>): Actor {
  const caller = c.get("caller");
  if (caller?.type === "api_key") return { type: "api_key", id: caller.id, name: caller.name };
  return { type: "deployment" };
}

export function eventContext(c: Context<AppEnv>): EventContext {
  return { actor: actorOf(c), requestId: c.get("requestId") ?? null };
}
