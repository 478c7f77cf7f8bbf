/**
 * Limits on what API keys can make us ask QuickBooks (SPEC §11, §15 `rate_limited`). Applies to
 * the operations src/auth/roles.ts marks `qboCalls`, for API key callers only: the deployment
 * token is the operator's (and the tests'), whose calls are deliberate.
 *
 * - A per-PO sync whose last sync is younger than FRESH_SYNC_MS is answered from D1, with no QBO
 *   call and nothing counted: a script polling sync in a loop costs one D1 read per poll.
 * - Otherwise the key's bucket (`KEY_RATE_LIMITER`, 60/min) and then its conference's bucket
 *   (`CONFERENCE_RATE_LIMITER`, 120/min, shared by all its keys) each take one token; an empty one
 *   answers 429 `rate_limited` with `Retry-After`. Limits live in wrangler.toml's `[[ratelimits]]`.
 *   The binding counts per Cloudflare location and approximately (Cloudflare's documented
 *   behaviour): a guard against runaway scripts, not an exact quota.
 */
import type { MiddlewareHandler } from "hono";
import { makeDb } from "../db/client";
import { findPo, isOutstanding, loadAggregate } from "../db/purchase-orders";
import { ApiError } from "../lib/errors";
import type { AppEnv } from "./app-types";
import { servedOperation } from "./auth";
import { purchaseOrderView } from "./views";

/** A per-PO sync younger than this is answered from D1. */
export const FRESH_SYNC_MS = 5_000;
/** Both bindings count per 60-second window: a refused caller may try again within a minute. */
const RETRY_AFTER_SECONDS = 60;
const PO_SYNC = "POST /api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice/sync";

export function limitQboCalls(): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const caller = c.get("caller");
    if (caller?.type !== "api_key") return next();
    const op = servedOperation(c);
    if (!op?.policy?.qboCalls) return next();

    if (`${op.method} ${op.template}` === PO_SYNC && op.params.slug && op.params.reference) {
      const db = makeDb(c.env.DB);
      const po = await findPo(db, op.params.slug, op.params.reference);
      if (po && isOutstanding(po) && isFresh(po.qboLastSyncedAt)) {
        return c.json(purchaseOrderView(await loadAggregate(db, po)), 200);
      }
    }

    if (!(await c.env.KEY_RATE_LIMITER.limit({ key: caller.id })).success) {
      throw rateLimited("This API key has made too many QuickBooks requests in the last minute.");
    }
    if (!(await c.env.CONFERENCE_RATE_LIMITER.limit({ key: caller.conference })).success) {
      throw rateLimited(
        "This conference's API keys have made too many QuickBooks requests in the last minute.",
      );
    }
    return next();
  };
}

function isFresh(lastSyncedAt: string | null, now = Date.now()): boolean {
  if (lastSyncedAt === null) return false;
  const age = now - Date.parse(lastSyncedAt);
  return age >= 0 && age < FRESH_SYNC_MS;
}

const rateLimited = (message: string) =>
  new ApiError("rate_limited", `${message} Try again later.`, { retryAfterSeconds: RETRY_AFTER_SECONDS });
