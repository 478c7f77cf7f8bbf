/// <reference types="vite/client" />
/**
 * Real QBO payloads (test/fixtures/qbo-real; every file's origin is in SOURCES.md there) run through
 * the parser the product applies to that kind of body. Each case states what a careful product
 * should get out of the payload, not what today's schemas happen to return, so a failing case
 * here is a finding about a schema, not about the fixture.
 *
 * Fixtures are read as raw text and parsed the way the product parses a response
 * (`JSON.parse`, `null` when the body is not JSON), so XML and HTML bodies go through the same
 * path. Webhook signatures are checked on the file's exact bytes.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { qboAmountToCents } from "../../src/domain/money";
import { requestTokens } from "../../src/qbo/intuit-oauth";
import {
  CustomerEnvelope,
  CustomerQuery,
  DeletedInvoiceEnvelope,
  faultsOf,
  InvoiceEnvelope,
  InvoiceQuery,
  Payment,
  PaymentQuery,
} from "../../src/qbo/schemas";
import { parseWebhookEvents, verifyIntuitSignature } from "../../src/qbo/webhook";

const FIXTURES = "../fixtures/qbo-real/";
const raw: Record<string, string> = Object.fromEntries(
  Object.entries(
    import.meta.glob<string>("../fixtures/qbo-real/*.{json,xml,html}", {
      eager: true,
      query: "?raw",
      import: "default",
    }),
  )
    .map(([path, text]) => [path.slice(FIXTURES.length), text])
    // The folder's own Biome config (it keeps Biome from reformatting the payloads) is not one.
    .filter(([name]) => name !== "biome.json"),
);

/** What a careful product reads from one invoice; `undefined` fields are not checked. */
interface InvoiceFacts {
  id: string;
  totalCents?: number;
  balanceCents?: number;
  docNumber?: string | null;
  privateNote?: string;
  status?: string;
  currency?: string;
  exchangeRate?: number;
  homeTotalCents?: number;
  taxCents?: number;
  linkedTxn?: string[];
}

interface EventFacts {
  realmId: string;
  entity: string;
  id: string;
  operation: string;
}

type TokenFacts =
  | {
      ok: true;
      accessSeconds: number;
      refreshSeconds: number | null;
      /** Seconds until the refresh token's hard (5-year) expiry, when Intuit sent one. */
      hardSeconds?: number;
    }
  | { ok: false; kind: string };

type Case =
  | { parser: "invoice"; facts: InvoiceFacts }
  | { parser: "invoiceQuery"; invoices: InvoiceFacts[] }
  | { parser: "customer"; id: string; displayName: string; active?: boolean }
  | { parser: "customerQuery"; ids: string[] }
  | { parser: "payment"; id: string; totalCents: number; unappliedCents: number; linkedInvoices: string[] }
  /** A query answer that every query schema must read as "no rows". */
  | { parser: "emptyQuery" }
  | { parser: "fault"; codes: string[]; messageIncludes?: string }
  | { parser: "faultPerItem"; path: "BatchItemResponse" | "AttachableResponse"; codes: string[][] }
  /** Not JSON: the product must see no body and no fault, and must not throw. */
  | { parser: "notJson" }
  | {
      parser: "webhook";
      events: EventFacts[];
      signature?: { header: string; verifier: string };
    }
  | { parser: "token"; status: number; facts: TokenFacts }
  /** No product schema reads this entity yet; these are the facts a schema would need. */
  | { parser: "none"; facts: Array<[path: string[], value: unknown]> };

interface Entry {
  /** What the fixture demonstrates, as a sentence fragment for the test name. */
  shows: string;
  case: Case;
}

// Verifier tokens of the Intuit SDKs' own webhook tests (public test values, see SOURCES.md).
const DOTNET_SDK_VERIFIER = "00faeec4-08d0-4996-bb37-698ae19f0149";
const JAVA_SDK_VERIFIER = "b5771f19b12ddb4bcdb9f08bdc50bc63878a";

const MANIFEST: Record<string, Entry> = {
  // --- invoices ---
  "invoice-create-response-qbo-api.json": {
    shows: "a create response with 100.00 amounts and -07:00 offsets",
    case: {
      parser: "invoice",
      facts: { id: "266", docNumber: "1043", totalCents: 10000, balanceCents: 10000 },
    },
  },
  "invoice-void-response-qbo-api.json": {
    shows: 'a voided invoice: PrivateNote "Voided", every amount 0',
    case: { parser: "invoice", facts: { id: "264", totalCents: 0, balanceCents: 0, privateNote: "Voided" } },
  },
  "invoice-void-prefixed-note-constructed.json": {
    shows: 'a void that kept the old memo after "Voided - "',
    case: {
      parser: "invoice",
      facts: { id: "271", totalCents: 0, balanceCents: 0, privateNote: "Voided - PO-1042 issued twice" },
    },
  },
  "invoice-delete-response-qbo-api.json": {
    shows: 'a delete response: only Id, domain and status "Deleted"',
    case: { parser: "invoice", facts: { id: "266", status: "Deleted" } },
  },
  "invoice-read-tax-lines-intuit-docs.json": {
    shows: "an invoice whose TotalAmt includes TxnTaxDetail tax (362.07 = 335.25 + 26.82)",
    case: {
      parser: "invoice",
      facts: {
        id: "130",
        totalCents: 36207,
        balanceCents: 36207,
        taxCents: 2682,
        linkedTxn: ["Estimate:100"],
      },
    },
  },
  "invoice-multicurrency-exchange-rate-constructed.json": {
    shows: "a multicurrency invoice with ExchangeRate 1.5 and home-currency totals",
    case: {
      parser: "invoice",
      facts: {
        id: "1",
        totalCents: 5000,
        balanceCents: 5000,
        currency: "USD",
        exchangeRate: 1.5,
        homeTotalCents: 7500,
        taxCents: 285,
      },
    },
  },
  "invoice-query-traps-constructed.json": {
    shows: "a query page with null strings, a leading-zero Id and 1.5 / 100.0 amounts",
    case: {
      parser: "invoiceQuery",
      invoices: [
        { id: "1044", totalCents: 10000, balanceCents: 150 },
        { id: "00000000000001045", totalCents: 150, balanceCents: 0, docNumber: null },
        { id: "9130357945907536001", totalCents: 120010, balanceCents: 120010, docNumber: "PO-77" },
      ],
    },
  },

  // --- customers ---
  "customer-create-response-qbo-api.json": {
    shows: "a customer create response",
    case: { parser: "customer", id: "70", displayName: "Doe5, Jane" },
  },
  "customer-inactive-deleted-suffix-constructed.json": {
    shows: 'an inactive customer renamed with " (deleted)"',
    case: { parser: "customer", id: "1", displayName: "Thrifty Meats (deleted)", active: false },
  },
  "customer-query-page-qbo-api.json": {
    shows: "a paged customer query (MAXRESULTS 2)",
    case: { parser: "customerQuery", ids: ["5", "6"] },
  },

  // --- payments ---
  "payment-read-lineex-unapplied-intuit-docs.json": {
    shows: "a payment with an unapplied 10.00 and JAXB LineEx noise beside LinkedTxn",
    case: { parser: "payment", id: "163", totalCents: 6500, unappliedCents: 1000, linkedInvoices: ["70"] },
  },

  // --- query answers ---
  "query-response-empty-qbo-api.json": {
    shows: 'an empty page: {"QueryResponse":{}}',
    case: { parser: "emptyQuery" },
  },
  "query-response-count-qbo-api.json": {
    shows: "a COUNT(*) answer (totalCount only)",
    case: { parser: "emptyQuery" },
  },

  // --- faults ---
  "fault-401-gateway-lowercase-qbo-api.json": {
    shows: 'the gateway\'s lower-case 401 with "element": null and an epoch-ms time',
    case: { parser: "fault", codes: ["3200"], messageIncludes: "AuthenticationFailed" },
  },
  "fault-401-gateway-lowercase-detail-null-constructed.json": {
    shows: "a lower-case 401 whose detail is null",
    case: { parser: "fault", codes: ["3200"], messageIncludes: "AuthenticationFailed" },
  },
  "fault-6240-duplicate-name-qbo-api.json": {
    shows: 'a 6240 whose Detail ends in ": null"',
    case: { parser: "fault", codes: ["6240"], messageIncludes: "Duplicate Name Exists" },
  },
  "fault-6140-duplicate-docnumber-constructed.json": {
    shows: "a 6140 duplicate DocNumber",
    case: { parser: "fault", codes: ["6140"] },
  },
  "fault-4000-query-parse-exquickbooks.json": {
    shows: "a 4000 query parser error with newlines in Detail",
    case: { parser: "fault", codes: ["4000"], messageIncludes: "Error parsing query" },
  },
  "fault-4001-invalid-query-qbo-api.json": {
    shows: "a 4001 invalid query",
    case: { parser: "fault", codes: ["4001"] },
  },
  "fault-2010-unsupported-property-qbo-api.json": {
    shows: "a 2010 with a 1.3 KB Detail",
    case: { parser: "fault", codes: ["2010"] },
  },
  "fault-2030-invalid-id-without-time-qbo-api.json": {
    shows: "a fault with no time field",
    case: { parser: "fault", codes: ["2030"] },
  },
  "fault-500-code-in-validationfault-qbo-api.json": {
    shows: 'code "500" inside a ValidationFault sent with HTTP 400',
    case: { parser: "fault", codes: ["500"] },
  },
  "fault-610-object-not-found-exquickbooks.json": {
    shows: "a 610 object not found",
    case: { parser: "fault", codes: ["610"] },
  },
  "fault-5010-stale-object-exquickbooks.json": {
    shows: "a 5010 stale object with a non-ASCII user name",
    case: { parser: "fault", codes: ["5010"], messageIncludes: "Stale Object" },
  },
  "fault-10000-systemfault-constructed.json": {
    shows: "a SystemFault 10000",
    case: { parser: "fault", codes: ["10000"] },
  },
  "fault-429-throttle-json-constructed.json": {
    shows: 'a JSON throttle fault: code "3001", type SERVICE',
    case: { parser: "fault", codes: ["3001"], messageIncludes: "ThrottleExceeded" },
  },
  "fault-429-throttle-xml-quickbooks-ruby.xml": {
    shows: "an XML 429 throttle body",
    case: { parser: "notJson" },
  },
  "fault-throttle-xml-answered-to-json-request-python-quickbooks-43.xml": {
    shows: "an XML throttle body answered to Accept: application/json",
    case: { parser: "notJson" },
  },
  "gateway-502-html-constructed.html": {
    shows: "an HTML gateway page",
    case: { parser: "notJson" },
  },
  "batch-response-mixed-faults-qbo-api.json": {
    shows: "a 200 batch answer mixing an entity, a 610, a 5010 and a query",
    case: { parser: "faultPerItem", path: "BatchItemResponse", codes: [[], ["610"], ["5010"], []] },
  },
  "attachable-upload-200-with-fault-qbo-api.json": {
    shows: "an HTTP 200 whose only item is a Fault",
    case: { parser: "faultPerItem", path: "AttachableResponse", codes: [["6000"]] },
  },

  // --- webhooks ---
  "webhook-classic-signed-dotnet-sdk.json": {
    shows: "a signed classic body with two entities",
    case: {
      parser: "webhook",
      events: [
        { realmId: "1269959970", entity: "Vendor", id: "40", operation: "Update" },
        { realmId: "1269959970", entity: "Customer", id: "43", operation: "Create" },
      ],
      signature: { header: "6q+xGyMirJupwKTh2/WBl2NcdxzxqdIbk3sneKTxLWM=", verifier: DOTNET_SDK_VERIFIER },
    },
  },
  "webhook-classic-signed-offset-without-colon-java-sdk.json": {
    shows: "a signed classic body whose lastUpdated offset is -0700",
    case: {
      parser: "webhook",
      events: [{ realmId: "1185883450", entity: "Customer", id: "1", operation: "Create" }],
      signature: { header: "JC2GUwciPmRBwEO7WvrRmKqu9tGOKL8FFallocTFi8Q=", verifier: JAVA_SDK_VERIFIER },
    },
  },
  "webhook-classic-account-created-intuit-blog.json": {
    shows: "Intuit's classic sample",
    case: {
      parser: "webhook",
      events: [{ realmId: "310687", entity: "Account", id: "1234", operation: "Create" }],
    },
  },
  "webhook-classic-multi-realm-constructed.json": {
    shows: "a classic body with two realms, Void, Emailed and a Merge with deletedId",
    case: {
      parser: "webhook",
      events: [
        { realmId: "9341455130122894", entity: "Invoice", id: "271", operation: "Void" },
        { realmId: "9341455130122894", entity: "Payment", id: "882", operation: "Create" },
        { realmId: "9341455130122894", entity: "CreditMemo", id: "1075", operation: "Create" },
        { realmId: "4620816365043830330", entity: "Customer", id: "58", operation: "Merge" },
        { realmId: "4620816365043830330", entity: "Invoice", id: "272", operation: "Emailed" },
      ],
    },
  },
  "webhook-cloudevents-account-created-intuit-blog.json": {
    shows: "Intuit's CloudEvents sample with a nanosecond time",
    case: {
      parser: "webhook",
      events: [{ realmId: "310687", entity: "Account", id: "1234", operation: "Create" }],
    },
  },
  "webhook-cloudevents-class-created-dotnet-sdk.json": {
    shows: "a CloudEvent without datacontenttype and with data.alternative_ids",
    case: {
      parser: "webhook",
      events: [{ realmId: "310687", entity: "Class", id: "1234", operation: "Create" }],
    },
  },
  "webhook-cloudevents-customer-merged-intuit-docs.json": {
    shows: "a merge CloudEvent with data.deletedid and a masked account id",
    case: {
      parser: "webhook",
      events: [{ realmId: "93414556*********", entity: "Customer", id: "123", operation: "Merge" }],
    },
  },
  "webhook-cloudevents-employee-created-leading-zeros-intuit-docs.json": {
    shows: 'an entity id with leading zeros ("000000011")',
    case: {
      parser: "webhook",
      events: [{ realmId: "9341455*********", entity: "Employee", id: "000000011", operation: "Create" }],
    },
  },
  "webhook-cloudevents-salesreceipt-updated-no-data-intuit-docs.json": {
    shows: "a CloudEvent with no data and a two-word entity (salesreceipt)",
    case: {
      parser: "webhook",
      events: [{ realmId: "9341455*********", entity: "SalesReceipt", id: "150", operation: "Update" }],
    },
  },
  "webhook-cloudevents-mixed-realms-epoch-ms-constructed.json": {
    shows: "CloudEvents from two realms: creditmemo with an epoch-ms time, invoice .void., payment",
    case: {
      parser: "webhook",
      events: [
        { realmId: "9341455130122894", entity: "CreditMemo", id: "1075", operation: "Create" },
        { realmId: "9341455130122894", entity: "Invoice", id: "271", operation: "Void" },
        { realmId: "4620816365043830330", entity: "Payment", id: "882", operation: "Create" },
      ],
    },
  },

  // --- OAuth token endpoint ---
  "oauth-token-response-jsclient.json": {
    shows: "a token response with x_refresh_token_expires_in",
    case: { parser: "token", status: 200, facts: { ok: true, accessSeconds: 3600, refreshSeconds: 8726400 } },
  },
  "oauth-token-response-string-numbers-jsclient.json": {
    shows: 'a token response whose lifetimes are strings ("3600")',
    case: { parser: "token", status: 200, facts: { ok: true, accessSeconds: 3600, refreshSeconds: 8726400 } },
  },
  "oauth-token-response-180-day-refresh-dotnet-sdk.json": {
    shows: "an older token response with a 180-day refresh lifetime",
    case: {
      parser: "token",
      status: 200,
      facts: { ok: true, accessSeconds: 3600, refreshSeconds: 15552000 },
    },
  },
  "oauth-token-response-hard-expiry-jsclient.json": {
    shows: "a token response with x_refresh_token_hard_expires_in (5-year cap)",
    case: {
      parser: "token",
      status: 200,
      facts: { ok: true, accessSeconds: 3600, refreshSeconds: 8726400, hardSeconds: 156032154 },
    },
  },
  "oauth-error-invalid-grant-jsclient.json": {
    shows: "invalid_grant with an error_description",
    case: { parser: "token", status: 400, facts: { ok: false, kind: "invalid_grant" } },
  },

  // --- entities the product does not parse yet ---
  "preferences-read-exquickbooks.json": {
    shows: "Preferences: home currency, custom transaction numbers, sales tax",
    case: {
      parser: "none",
      facts: [
        [["Preferences", "CurrencyPrefs", "HomeCurrency", "value"], "USD"],
        [["Preferences", "CurrencyPrefs", "MultiCurrencyEnabled"], false],
        [["Preferences", "SalesFormsPrefs", "CustomTxnNumbers"], false],
        [["Preferences", "TaxPrefs", "UsingSalesTax"], true],
      ],
    },
  },
  "creditmemo-read-intuit-docs.json": {
    shows: "a fully used credit memo (RemainingCredit 0)",
    case: {
      parser: "none",
      facts: [
        [["CreditMemo", "Id"], "73"],
        [["CreditMemo", "TotalAmt"], 100],
        [["CreditMemo", "RemainingCredit"], 0],
        [["CreditMemo", "CustomerRef", "value"], "1"],
      ],
    },
  },
  "companyinfo-read-intuit-docs.json": {
    shows: "CompanyInfo with a two-letter Country",
    case: {
      parser: "none",
      facts: [
        [["CompanyInfo", "CompanyName"], "Larry's Bakery"],
        [["CompanyInfo", "Country"], "US"],
        [["CompanyInfo", "CompanyAddr", "Country"], "US"],
      ],
    },
  },
};

/** The product's reading of a response body: JSON, or `null` when it is not JSON. */
function bodyOf(file: string): unknown {
  try {
    return JSON.parse(fixture(file));
  } catch {
    return null;
  }
}

function fixture(file: string): string {
  const text = raw[file];
  if (text === undefined) throw new Error(`no fixture ${file}`);
  return text;
}

/** A nested field of a parsed payload, whatever the schema kept or dropped. */
function at(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== "object" || current === null) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function cents(value: unknown): number | null | undefined {
  return typeof value === "number" ? qboAmountToCents(value) : undefined;
}

/** The facts the test checks, read from what the schema returned (not from the raw JSON). */
function invoiceFactsOf(parsed: unknown, wanted: InvoiceFacts): Record<string, unknown> {
  const linked = at(parsed, "LinkedTxn");
  const read: Record<string, unknown> = {
    id: at(parsed, "Id"),
    totalCents: cents(at(parsed, "TotalAmt")),
    balanceCents: cents(at(parsed, "Balance")),
    docNumber: at(parsed, "DocNumber") ?? null,
    privateNote: at(parsed, "PrivateNote"),
    status: at(parsed, "status"),
    currency: at(parsed, "CurrencyRef", "value"),
    exchangeRate: at(parsed, "ExchangeRate"),
    homeTotalCents: cents(at(parsed, "HomeTotalAmt")),
    taxCents: cents(at(parsed, "TxnTaxDetail", "TotalTax")),
    linkedTxn: Array.isArray(linked)
      ? linked.map((l) => `${String(at(l, "TxnType"))}:${String(at(l, "TxnId"))}`)
      : undefined,
  };
  return Object.fromEntries(Object.keys(wanted).map((k) => [k, read[k]]));
}

function expectParsed<T>(
  result: { success: true; data: T } | { success: false; error: unknown },
  file: string,
): T {
  if (!result.success) {
    throw new Error(`${file} was refused by the schema: ${String(result.error)}`);
  }
  return result.data;
}

const NOW = 1_800_000_000_000;

async function tokenOutcome(file: string, status: number) {
  vi.spyOn(Date, "now").mockReturnValue(NOW);
  const stub = vi
    .spyOn(globalThis, "fetch")
    .mockResolvedValue(
      new Response(fixture(file), { status, headers: { "content-type": "application/json;charset=UTF-8" } }),
    );
  const outcome = await requestTokens(
    "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer",
    { clientId: "client-id", clientSecret: "client-secret" },
    { grant_type: "refresh_token", refresh_token: "old-refresh-token" },
  );
  expect(stub).toHaveBeenCalledTimes(1);
  return outcome;
}

async function check(file: string, c: Case): Promise<void> {
  switch (c.parser) {
    case "invoice": {
      // A delete answers a stub ({Id, domain, status}): the product reads it with its own schema.
      const body = bodyOf(file);
      const deleted = DeletedInvoiceEnvelope.safeParse(body);
      const { Invoice } = deleted.success
        ? deleted.data
        : expectParsed(InvoiceEnvelope.safeParse(body), file);
      expect(invoiceFactsOf(Invoice, c.facts)).toEqual(c.facts);
      return;
    }
    case "invoiceQuery": {
      const parsed = expectParsed(InvoiceQuery.safeParse(bodyOf(file)), file);
      const rows = parsed.QueryResponse.Invoice ?? [];
      expect(rows.map((row, i) => invoiceFactsOf(row, c.invoices[i] ?? { id: "" }))).toEqual(c.invoices);
      return;
    }
    case "customer": {
      const { Customer } = expectParsed(CustomerEnvelope.safeParse(bodyOf(file)), file);
      const { parser: _, ...wanted } = c;
      const read: Record<string, unknown> = { id: Customer.Id, displayName: Customer.DisplayName };
      if (c.active !== undefined) read.active = at(Customer, "Active");
      expect(read).toEqual(wanted);
      return;
    }
    case "customerQuery": {
      const parsed = expectParsed(CustomerQuery.safeParse(bodyOf(file)), file);
      expect((parsed.QueryResponse.Customer ?? []).map((row) => row.Id)).toEqual(c.ids);
      return;
    }
    case "payment": {
      const payment = expectParsed(Payment.safeParse(at(bodyOf(file), "Payment")), file);
      const read = {
        id: payment.Id,
        totalCents: cents(payment.TotalAmt),
        unappliedCents: cents(at(payment, "UnappliedAmt")),
        linkedInvoices: payment.Line.flatMap((line) =>
          line.LinkedTxn.filter((l) => l.TxnType === "Invoice").map((l) => l.TxnId),
        ),
      };
      const { parser: _, ...wanted } = c;
      expect(read).toEqual(wanted);
      return;
    }
    case "emptyQuery": {
      const body = bodyOf(file);
      expect(expectParsed(InvoiceQuery.safeParse(body), file).QueryResponse.Invoice ?? []).toEqual([]);
      expect(expectParsed(CustomerQuery.safeParse(body), file).QueryResponse.Customer ?? []).toEqual([]);
      expect(expectParsed(PaymentQuery.safeParse(body), file).QueryResponse.Payment ?? []).toEqual([]);
      return;
    }
    case "fault": {
      const faults = faultsOf(bodyOf(file));
      expect(faults.map((f) => f.code)).toEqual(c.codes);
      if (c.messageIncludes) expect(faults[0]?.message).toContain(c.messageIncludes);
      return;
    }
    case "faultPerItem": {
      const items = at(bodyOf(file), c.path);
      expect(Array.isArray(items)).toBe(true);
      expect((items as unknown[]).map((item) => faultsOf(item).map((f) => f.code))).toEqual(c.codes);
      // The top-level body of such an HTTP 200 carries no Fault of its own.
      expect(faultsOf(bodyOf(file))).toEqual([]);
      return;
    }
    case "notJson": {
      expect(bodyOf(file)).toBeNull();
      expect(faultsOf(bodyOf(file))).toEqual([]);
      return;
    }
    case "webhook": {
      if (c.signature) {
        const { header, verifier } = c.signature;
        // The UTF-8 bytes of the file, exactly as Intuit signed them.
        const signed = async (text: string) =>
          verifyIntuitSignature(await new Response(text).arrayBuffer(), header, verifier);
        expect(await signed(fixture(file))).toBe(true);
        expect(await signed(fixture(file).replace("Create", "Delete"))).toBe(false);
      }
      const { events, skipped } = parseWebhookEvents(bodyOf(file));
      expect({
        events: events.map(({ realmId, entity, id, operation }) => ({ realmId, entity, id, operation })),
        skipped,
      }).toEqual({ events: c.events, skipped: 0 });
      expect(new Set(events.map((e) => e.eventKey)).size).toBe(events.length);
      return;
    }
    case "token": {
      const outcome = await tokenOutcome(file, c.status);
      if (!c.facts.ok) {
        expect(outcome).toEqual({ ok: false, kind: c.facts.kind });
        return;
      }
      expect(outcome.ok).toBe(true);
      const tokens = outcome.ok ? outcome.tokens : null;
      const seconds = (at: number | null | undefined) => (typeof at === "number" ? (at - NOW) / 1000 : at);
      const read: Record<string, unknown> = {
        ok: true,
        accessSeconds: seconds(tokens?.accessExpiresAt),
        refreshSeconds: seconds(tokens?.refreshExpiresAt),
      };
      if (c.facts.hardSeconds !== undefined) {
        const hard = (tokens as unknown as Record<string, unknown> | null)?.refreshHardExpiresAt;
        read.hardSeconds = seconds(typeof hard === "number" ? hard : undefined);
      }
      expect(read).toEqual(c.facts);
      expect(tokens?.accessToken).toBeTruthy();
      return;
    }
    case "none": {
      const body = bodyOf(file);
      for (const [path, value] of c.facts) expect(at(body, ...path), path.join(".")).toEqual(value);
      return;
    }
  }
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("real QBO payloads", () => {
  it("has a manifest entry for every fixture file, and a fixture for every entry", () => {
    expect(Object.keys(raw).sort()).toEqual(Object.keys(MANIFEST).sort());
  });

  for (const [file, entry] of Object.entries(MANIFEST)) {
    const verdict = {
      invoice: "reads the invoice",
      invoiceQuery: "reads every invoice on the page",
      customer: "reads the customer",
      customerQuery: "reads every customer on the page",
      payment: "reads the payment and what it pays",
      emptyQuery: "reads as no rows for every query schema",
      fault: "yields the fault codes",
      faultPerItem: "yields each item's fault codes",
      notJson: "is refused cleanly: no body, no fault, no throw",
      webhook: "yields every event, none skipped",
      token: "classifies the token endpoint's answer",
      none: "carries the facts a future schema must read",
    }[entry.case.parser];
    it(`${file} (${entry.shows}) ${verdict}`, async () => {
      await check(file, entry.case);
    });
  }
});
