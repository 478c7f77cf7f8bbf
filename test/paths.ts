/**
 * Every URL the tests call, built in one place. Values are put into the path as given (not
 * encoded), so a test can send a deliberately malformed slug or reference.
 */

export type Query = Record<string, string | number | undefined>;

/** `?a=1&b=2` from the defined values, encoded as a browser would; "" when there are none. */
function search(query: Query = {}): string {
  const defined = Object.entries(query).filter(([, v]) => v !== undefined) as [string, string | number][];
  if (defined.length === 0) return "";
  return `?${new URLSearchParams(defined.map(([k, v]) => [k, String(v)])).toString()}`;
}

const conference = (slug: string) => `/api/conferences/${slug}`;
const pos = (slug: string, query?: Query) => `${conference(slug)}/purchase-orders${search(query)}`;
const po = (slug: string, ref: string) => `${pos(slug)}/${ref}`;
const qboInvoice = (slug: string, ref: string) => `${po(slug, ref)}/qbo-invoice`;

export const paths = {
  health: "/health",
  openapi: "/openapi.json",
  docs: "/docs",
  webhook: "/webhooks/qbo",
  oauthCallback: "/oauth/qbo/callback",

  conference,
  qboTokens: (slug: string) => `${conference(slug)}/qbo/tokens`,
  qboConnect: (slug: string) => `${conference(slug)}/qbo/connect`,
  /** The conference-wide sync: POST enqueues, GET reports. */
  qboSync: (slug: string) => `${conference(slug)}/qbo/sync`,

  pos,
  po,
  send: (slug: string, ref: string) => `${po(slug, ref)}/send`,
  cancel: (slug: string, ref: string) => `${po(slug, ref)}/cancel`,
  payments: (slug: string, ref: string) => `${po(slug, ref)}/payments`,
  creditNotes: (slug: string, ref: string) => `${po(slug, ref)}/credit-notes`,

  qboInvoice,
  qboInvoiceSend: (slug: string, ref: string) => `${qboInvoice(slug, ref)}/send`,
  qboInvoicePdf: (slug: string, ref: string) => `${qboInvoice(slug, ref)}/pdf`,
  qboInvoiceSync: (slug: string, ref: string) => `${qboInvoice(slug, ref)}/sync`,
} as const;
