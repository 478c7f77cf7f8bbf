/**
 * The QBO customer of a PO's organization: remembered, found, reactivated or created.
 *
 * Real companies make this harder than it looks (qbo-api.md A9, SPEC §8):
 * - `DisplayName` is unique across customers, vendors and employees: a sponsor named like a
 *   vendor gets 6240 on create, and no customer by that name exists to fall back to. Then the
 *   customer is `"<organization> (customer)"`.
 * - default queries hide inactive customers: look-ups ask for `Active IN (true, false)`, and an
 *   inactive match is reactivated (sparse update) rather than duplicated.
 * - a customer's currency is fixed: when the invoice is in another currency than the home one,
 *   a customer of another currency is not used; the customer is `"<organization> (<CUR>)"`.
 * - names with curly quotes, dashes or a trailing backslash break QBO's query lexer: those are
 *   looked up with LIKE and matched exactly here (qbo/query.ts).
 */
import type { Db } from "../db/client";
import type { ConferenceRow } from "../db/conferences";
import type { PoRow } from "../db/purchase-orders";
import { rememberCustomer, rememberedCustomer } from "../db/qbo-invoices";
import { log } from "../lib/log";
import { type QboClient, QboError } from "../qbo/client";
import { customersNamed, sameName } from "../qbo/query";
import { type Customer, CustomerEnvelope, CustomerQuery } from "../qbo/schemas";

export interface CustomerCurrency {
  /** The invoice's currency. */
  code: string;
  /** The company's home currency (a customer without CurrencyRef is in it). */
  home: string;
}

/** Remembered id, else found (reactivated if inactive) or created under the right name. */
export async function findOrCreateCustomer(
  db: Db,
  client: QboClient,
  conference: ConferenceRow,
  realmId: string,
  po: PoRow,
  currency: CustomerCurrency,
): Promise<string> {
  const remembered = await rememberedCustomer(db, conference.slug, realmId, po.organizationName);
  if (remembered) return remembered;
  const organization = po.organizationName.trim();
  const foreign = currency.code !== currency.home;
  // Names to try, in order. A found customer of another currency moves us to the next name;
  // a 6240 clash with a vendor or employee moves us to the "(customer)" one.
  let name = organization;
  let customerId: string | null = null;
  for (let attempt = 0; attempt < 4 && !customerId; attempt++) {
    const found = await findCustomer(client, name);
    if (found && currencyOf(found, currency) === currency.code) {
      customerId = found.Active === false ? await reactivate(client, found) : found.Id;
      break;
    }
    if (found) {
      name = `${organization} (${currency.code})`;
      continue;
    }
    try {
      customerId = await createCustomer(client, conference, po, name, foreign ? currency.code : null);
    } catch (err) {
      if (!(err instanceof QboError && err.hasFaultCode("6240"))) throw err;
      // Someone created it meanwhile (found next round), or a vendor/employee holds the name.
      const raced = await findCustomer(client, name);
      if (raced && currencyOf(raced, currency) === currency.code) {
        customerId = raced.Active === false ? await reactivate(client, raced) : raced.Id;
      } else if (name.endsWith(" (customer)")) {
        break; // even the suffixed name is taken by a vendor or employee: say so below
      } else {
        name = `${name} (customer)`;
      }
    }
  }
  if (!customerId) {
    throw new QboError("api", `No QuickBooks customer could be found or created for "${organization}".`);
  }
  await rememberCustomer(
    db,
    conference.slug,
    realmId,
    po.organizationName,
    customerId,
    new Date().toISOString(),
  );
  return customerId;
}

function currencyOf(customer: Customer, currency: CustomerCurrency): string {
  return (customer.CurrencyRef?.value ?? currency.home).toUpperCase();
}

async function findCustomer(client: QboClient, name: string): Promise<Customer | null> {
  const res = await client.json(CustomerQuery, { method: "POST", path: "query", text: customersNamed(name) });
  const matches = (res.QueryResponse.Customer ?? []).filter((c) => sameName(c.DisplayName, name));
  // An active customer wins over an inactive one of the same name.
  return matches.find((c) => c.Active !== false) ?? matches[0] ?? null;
}

async function reactivate(client: QboClient, customer: Customer): Promise<string> {
  const { Customer: updated } = await client.json(CustomerEnvelope, {
    method: "POST",
    path: "customer",
    json: { Id: customer.Id, SyncToken: customer.SyncToken ?? "0", sparse: true, Active: true },
  });
  log("info", "qbo.customer_reactivated", { customerId: updated.Id });
  return updated.Id;
}

async function createCustomer(
  client: QboClient,
  conference: ConferenceRow,
  po: PoRow,
  displayName: string,
  currencyCode: string | null,
): Promise<string> {
  const addr = billAddress(po.billingAddress);
  const { Customer: created } = await client.json(CustomerEnvelope, {
    method: "POST",
    path: "customer",
    query: { requestid: await customerRequestId(conference.slug, displayName) },
    json: {
      DisplayName: displayName,
      PrimaryEmailAddr: { Address: po.contactEmail },
      ...(addr ? { BillAddr: addr } : {}),
      ...(currencyCode ? { CurrencyRef: { value: currencyCode } } : {}),
    },
  });
  log("info", "qbo.customer_created", { conference: conference.slug, customerId: created.Id });
  return created.Id;
}

/** Stable per conference and display name, so a retried create replays (≤ 50 chars: qbo-api.md A6). */
async function customerRequestId(slug: string, displayName: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${slug}\n${displayName.trim().toLowerCase()}`),
  );
  return `customer-${[...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** BillAddr Line1…Line5 hold the address lines in order; any further lines are joined into Line5. */
export function billAddress(text: string): Record<string, string> | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) return undefined;
  const head = lines.slice(0, 4);
  const rest = lines.slice(4);
  const all = rest.length > 0 ? [...head, rest.join(", ")] : head;
  return Object.fromEntries(all.map((line, i) => [`Line${i + 1}`, line]));
}
