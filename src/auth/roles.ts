/**
 * Roles and the one table that says, for every /api operation, the least role that may call it
 * (SPEC §11). Pure data and rules, no I/O: the auth middleware (src/http/auth.ts) enforces it,
 * the rate limiter reads `qboCalls`, and test/api/security.test.ts walks /openapi.json to check
 * that every operation is in the table and answers as the table says.
 *
 * Fail closed: an operation missing from the table is open to the deployment token only.
 */

/** API key roles, weakest first. The deployment token (`API_TOKEN`) is above all of them. */
export const API_KEY_ROLES = ["viewer", "finance", "admin"] as const;
export type ApiKeyRole = (typeof API_KEY_ROLES)[number];

export interface RoutePolicy {
  /** The least role that may call the operation. */
  role: ApiKeyRole;
  /** The operation calls QuickBooks: API keys are rate limited on it (src/http/rate-limit.ts). */
  qboCalls?: true;
}

const C = "/api/conferences/{slug}";
const PO = `${C}/purchase-orders/{reference}`;

/**
 * "METHOD /path/{param}" exactly as in /openapi.json → policy. `viewer` reads (every GET but the
 * key list); `finance` works POs and their invoices; `admin` changes the conference, its QuickBooks
 * connection, its keys and its event endpoint (with the deliveries, which show the endpoint's URL and errors).
 */
export const ROUTE_POLICIES: Readonly<Record<string, RoutePolicy>> = {
  [`GET ${C}`]: { role: "viewer" },
  [`PUT ${C}`]: { role: "admin" },
  [`PUT ${C}/qbo/tokens`]: { role: "admin" },
  [`DELETE ${C}/qbo/tokens`]: { role: "admin" },
  [`POST ${C}/qbo/connect`]: { role: "admin" },
  [`GET ${C}/qbo/sync`]: { role: "viewer" },
  [`GET ${C}/events`]: { role: "viewer" },
  [`POST ${C}/qbo/sync`]: { role: "finance", qboCalls: true },
  [`POST ${C}/qbo/outbox/retry`]: { role: "finance" },

  [`POST ${C}/api-keys`]: { role: "admin" },
  [`GET ${C}/api-keys`]: { role: "admin" },
  [`DELETE ${C}/api-keys/{id}`]: { role: "admin" },

  [`PUT ${C}/event-endpoint`]: { role: "admin" },
  [`GET ${C}/event-endpoint`]: { role: "admin" },
  [`DELETE ${C}/event-endpoint`]: { role: "admin" },
  [`GET ${C}/event-endpoint/deliveries`]: { role: "admin" },
  [`POST ${C}/event-endpoint/deliveries/{id}/retry`]: { role: "admin" },

  [`POST ${C}/purchase-orders`]: { role: "finance" },
  [`GET ${C}/purchase-orders`]: { role: "viewer" },
  [`GET ${PO}`]: { role: "viewer" },
  [`GET ${PO}/events`]: { role: "viewer" },
  [`POST ${PO}/send`]: { role: "finance" },
  [`POST ${PO}/cancel`]: { role: "finance" },
  [`POST ${PO}/payments`]: { role: "finance" },
  [`POST ${PO}/payments/{id}/void`]: { role: "finance" },
  [`POST ${PO}/credit-notes`]: { role: "finance" },
  [`POST ${PO}/credit-notes/{id}/void`]: { role: "finance" },
  [`POST ${PO}/discrepancy/acknowledge`]: { role: "finance" },

  [`POST ${PO}/qbo-invoice`]: { role: "finance", qboCalls: true },
  [`POST ${PO}/qbo-invoice/send`]: { role: "finance", qboCalls: true },
  [`GET ${PO}/qbo-invoice/pdf`]: { role: "viewer", qboCalls: true },
  [`POST ${PO}/qbo-invoice/sync`]: { role: "finance", qboCalls: true },
};

/** Hono's `/a/:b` route syntax to the document's `/a/{b}`. */
export const asTemplate = (path: string): string => path.replace(/:(\w+)/g, "{$1}");

/** The operation's policy, or undefined when it is not in the table (deployment token only). */
export function routePolicy(method: string, template: string): RoutePolicy | undefined {
  return ROUTE_POLICIES[`${method.toUpperCase()} ${template}`];
}

/** Whether `role` is at least `least`. */
export function roleAllows(role: ApiKeyRole, least: ApiKeyRole): boolean {
  return API_KEY_ROLES.indexOf(role) >= API_KEY_ROLES.indexOf(least);
}
