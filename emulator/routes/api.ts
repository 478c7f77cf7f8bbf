/**
 * The QBO accounting API under /v3/company/{realmId}. Every request that names a known realm
 * is counted, then passes the realm's rate limits and fault plan, then authentication, then
 * the read meter (reads) or the `requestid` replay store (writes), and only then the company
 * model; what a write changed is then logged (CDC) and announced (webhook echoes).
 */

import { applyFault, meterRead } from "../faults.ts";
import {
  authenticationFailed,
  authorizationFailed,
  type EmulatorRequest,
  faults,
  type HttpReply,
  QboFault,
  qboJson,
  type Reply,
  throttled,
} from "../http.ts";
import { cdcRoute } from "../qbo/cdc.ts";
import { formatCents } from "../qbo/money.ts";
import { invoicePdf } from "../qbo/pdf.ts";
import { type ParsedQuery, parseQuery, QuerySyntaxError } from "../qbo/query.ts";
import { compileConditions } from "../qbo/query-fields.ts";
import {
  companyInfoJson,
  creditMemoJson,
  customerJson,
  invoiceJson,
  paymentJson,
  preferencesJson,
  queryRowJson,
} from "../qbo/render.ts";
import type { Realm } from "../realm.ts";
import type { EmulatorState } from "../state.ts";

interface ApiRoute {
  /** The stats and fault-matching name, e.g. "create:invoice". */
  operation: string;
  /** Writes honour `requestid`. */
  write: boolean;
  run(realm: Realm): HttpReply;
}

/** Intuit's documented maximum (qbo-api.md A6); the fault answered beyond it is UNVERIFIED. */
const MAX_REQUEST_ID_LENGTH = 50;

export async function handleApi(state: EmulatorState, request: EmulatorRequest): Promise<Reply> {
  const match = /^\/v3\/company\/([^/]+)(\/.*)?$/.exec(request.url.pathname);
  const realmId = match?.[1] ?? "";
  const path = match?.[2] ?? "/";
  const realm = state.realms.get(realmId);
  if (!realm) {
    const auth = state.oauth.checkAccessToken(request.headers.get("authorization"));
    return auth.ok ? authorizationFailed() : authenticationFailed(auth.detail);
  }

  const route = resolveRoute(request, path);
  realm.stats.request(route.operation, request.url.searchParams.get("minorversion"));
  const offset = realm.settings.value.timestampOffset;

  const admission = realm.limits.admit(Date.now());
  if ("refused" in admission) {
    realm.stats.limitThrottled(admission.refused);
    return throttled(undefined, offset);
  }
  try {
    const fault = realm.faults.take({ method: request.method, path, operation: route.operation });
    if (fault) realm.stats.faultInjected();
    return await applyFault(fault, async () => perform(state, realm, route, request), offset);
  } finally {
    admission.release();
  }
}

function perform(state: EmulatorState, realm: Realm, route: ApiRoute, request: EmulatorRequest): HttpReply {
  const offset = realm.settings.value.timestampOffset;
  const auth = state.oauth.checkAccessToken(request.headers.get("authorization"));
  if (!auth.ok) return authenticationFailed(auth.detail, offset);
  if (auth.realmId !== realm.id) return authorizationFailed(offset);
  if (!route.write) return meterRead(realm, route.operation) ?? runRoute(realm, route);

  const requestId = route.write ? request.url.searchParams.get("requestid") : null;
  const now = Date.now();
  if (requestId) {
    if (requestId.length > MAX_REQUEST_ID_LENGTH) {
      return faults.stringTooLong("requestid", MAX_REQUEST_ID_LENGTH, requestId.length).toReply(offset);
    }
    const retentionMs = realm.settings.value.requestIdRetentionSeconds * 1000;
    const original = realm.requestIds.recall(requestId, now, retentionMs);
    if (original) return original;
  }
  const reply = runRoute(realm, route);
  state.publishChanges(realm, { echo: true });
  // Only committed writes are remembered: a rejected request may be corrected and retried.
  if (requestId && reply.status === 200) realm.requestIds.remember(requestId, reply, now);
  return reply;
}

function runRoute(realm: Realm, route: ApiRoute): HttpReply {
  try {
    return route.run(realm);
  } catch (error) {
    if (!(error instanceof QboFault)) throw error;
    return error.toReply(realm.settings.value.timestampOffset);
  }
}

function resolveRoute(request: EmulatorRequest, path: string): ApiRoute {
  const { method } = request;
  const params = request.url.searchParams;
  const segments = path.split("/").filter(Boolean);
  const entity = segments[0]?.toLowerCase();
  const id = segments[1];
  const action = segments[2]?.toLowerCase();
  const options = { invoiceLink: includes(params, "invoicelink") };

  if (entity === "query" && segments.length === 1 && (method === "GET" || method === "POST")) {
    return queryRoute(request, options);
  }
  if (entity === "cdc" && method === "GET" && !id) return cdcRoute(request);
  if (entity === "preferences" && method === "GET" && !id) {
    return read("read:preferences", (realm) => ok(realm, { Preferences: preferencesJson(realm.settings) }));
  }
  if (entity === "companyinfo" && method === "GET" && id && !action) {
    return read("read:companyinfo", (realm) => {
      if (id !== realm.id) throw faults.objectNotFound("CompanyInfo", id);
      return ok(realm, { CompanyInfo: companyInfoJson(realm.companyName, realm.settings) });
    });
  }
  if (entity === "customer") {
    if (method === "POST" && !id && hasId(request)) {
      return write("update:customer", (realm) => {
        const customer = realm.company.updateCustomer(jsonBody(request));
        return ok(realm, { Customer: customerJson(customer, realm.company) });
      });
    }
    if (method === "POST" && !id) {
      return write("create:customer", (realm) => {
        const customer = realm.company.createCustomer(jsonBody(request));
        return ok(realm, { Customer: customerJson(customer, realm.company) });
      });
    }
    if (method === "GET" && id && !action) {
      return read("read:customer", (realm) => {
        const customer = realm.company.customer(id);
        if (!customer) throw faults.objectNotFound("Customer", id);
        return ok(realm, { Customer: customerJson(customer, realm.company) });
      });
    }
  }
  if (entity === "invoice") {
    if (method === "POST" && !id) return invoiceWrite(request, options);
    if (method === "GET" && id && !action) {
      return read("read:invoice", (realm) => {
        const invoice = realm.company.invoice(id);
        return ok(realm, { Invoice: invoiceJson(invoice, realm.company, options) });
      });
    }
    if (method === "GET" && id && action === "pdf") {
      return read("pdf:invoice", (realm) => {
        if (realm.settings.value.pdfRequiresAcceptPdf && !acceptsPdf(request)) throw pdfNotAccepted();
        const invoice = realm.company.invoice(id);
        const pdf = invoicePdf([
          `Invoice ${invoice.docNumber ?? ""}`.trim(),
          realm.companyName,
          `Bill to: ${realm.company.customer(invoice.customerId)?.displayName ?? ""}`,
          `Date: ${invoice.txnDate}   Due: ${invoice.dueDate}`,
          `Tax: ${formatCents(invoice.taxCents)}   Total: ${formatCents(invoice.totalCents)} ${invoice.currency}`,
          `Balance due: ${formatCents(invoice.balanceCents)} ${invoice.currency}`,
        ]);
        return { status: 200, headers: { "content-type": "application/pdf" }, body: pdf };
      });
    }
    if (method === "POST" && id && action === "send") {
      return write("send:invoice", (realm) => {
        const invoice = realm.company.sendInvoice(id, params.get("sendTo") ?? undefined);
        return ok(realm, { Invoice: invoiceJson(invoice, realm.company, options) });
      });
    }
  }
  if (entity === "payment") {
    if (method === "POST" && !id) return paymentWrite(request);
    if (method === "GET" && id && !action) {
      return read("read:payment", (realm) =>
        ok(realm, { Payment: paymentJson(realm.company.payment(id), realm.company) }),
      );
    }
  }
  if (entity === "creditmemo") {
    if (method === "POST" && !id) return creditMemoWrite(request);
    if (method === "GET" && id && !action) {
      return read("read:creditmemo", (realm) =>
        ok(realm, { CreditMemo: creditMemoJson(realm.company.creditMemo(id), realm.company) }),
      );
    }
  }
  return read("unsupported", () => {
    throw faults.unsupported(method, path);
  });
}

function invoiceWrite(request: EmulatorRequest, options: { invoiceLink: boolean }): ApiRoute {
  const operation = request.url.searchParams.get("operation")?.toLowerCase();
  if (operation === "void") {
    return write("void:invoice", (realm) => {
      const invoice = realm.company.voidInvoice(jsonBody(request));
      return ok(realm, { Invoice: invoiceJson(invoice, realm.company, options) });
    });
  }
  if (operation === "delete") {
    return write("delete:invoice", (realm) => {
      const invoice = realm.company.deleteInvoice(jsonBody(request));
      return ok(realm, { Invoice: { Id: invoice.id, status: "Deleted", domain: "QBO" } });
    });
  }
  if (operation !== undefined) {
    return write(`${operation}:invoice`, () => {
      throw faults.invalid("operation", `"${operation}" is not supported`);
    });
  }
  return write("create:invoice", (realm) => {
    const body = jsonBody(request);
    if (isRecord(body) && body.Id !== undefined) throw faults.invalid("Id", "updates are not modelled");
    const allowDuplicateDocNumber = includes(request.url.searchParams, "allowduplicatedocnum");
    const invoice = realm.company.createInvoice(body, { allowDuplicateDocNumber });
    return ok(realm, { Invoice: invoiceJson(invoice, realm.company, options) });
  });
}

/**
 * Which write a POST /payment or /creditmemo is: Intuit voids a Payment with a sparse update
 * `?operation=update&include=void` (an Invoice with `?operation=void`, accepted here too);
 * `?operation=delete` deletes; no operation and no Id creates; other updates are not modelled.
 */
function ledgerOperation(request: EmulatorRequest): "create" | "void" | "delete" | "update" | string {
  const params = request.url.searchParams;
  const operation = params.get("operation")?.toLowerCase();
  if (operation === "void" || (includes(params, "void") && (operation === "update" || hasId(request)))) {
    return "void";
  }
  if (operation === "delete") return "delete";
  if (operation === undefined && !hasId(request)) return "create";
  return operation ?? "update";
}

function paymentWrite(request: EmulatorRequest): ApiRoute {
  const operation = ledgerOperation(request);
  if (operation === "void") {
    return write("void:payment", (realm) => {
      const payment = realm.company.voidPayment(jsonBody(request));
      return ok(realm, { Payment: paymentJson(payment, realm.company) });
    });
  }
  if (operation === "delete") {
    return write("delete:payment", (realm) => {
      const payment = realm.company.deletePayment(jsonBody(request));
      return ok(realm, { Payment: { Id: payment.id, status: "Deleted", domain: "QBO" } });
    });
  }
  if (operation === "create") {
    return write("create:payment", (realm) => {
      const payment = realm.company.createPayment(jsonBody(request));
      return ok(realm, { Payment: paymentJson(payment, realm.company) });
    });
  }
  return write(`${operation}:payment`, () => {
    throw faults.invalid("Id", "updates are not modelled");
  });
}

function creditMemoWrite(request: EmulatorRequest): ApiRoute {
  const operation = ledgerOperation(request);
  if (operation === "void") {
    return write("void:creditmemo", (realm) => {
      const { creditMemo } = realm.company.voidCreditMemo(jsonBody(request));
      return ok(realm, { CreditMemo: creditMemoJson(creditMemo, realm.company) });
    });
  }
  if (operation === "delete") {
    return write("delete:creditmemo", (realm) => {
      const { creditMemo } = realm.company.deleteCreditMemo(jsonBody(request));
      return ok(realm, { CreditMemo: { Id: creditMemo.id, status: "Deleted", domain: "QBO" } });
    });
  }
  if (operation === "create") {
    return write("create:creditmemo", (realm) => {
      const { creditMemo } = realm.company.createCreditMemo(jsonBody(request));
      return ok(realm, { CreditMemo: creditMemoJson(creditMemo, realm.company) });
    });
  }
  return write(`${operation}:creditmemo`, () => {
    throw faults.invalid("Id", "updates are not modelled");
  });
}

/** GET /query?query=… or POST /query with the query as an application/text body. */
function queryRoute(request: EmulatorRequest, options: { invoiceLink: boolean }): ApiRoute {
  let text: string | null;
  if (request.method === "POST") {
    const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/text" && type !== "text/plain") {
      return read("query", () => {
        throw new QboFault({
          status: 415,
          code: "415",
          message: "Unsupported Media Type",
          detail: "POST /query takes the query as a Content-Type: application/text body",
        });
      });
    }
    text = request.body;
  } else {
    text = request.url.searchParams.get("query");
  }
  let query: ParsedQuery;
  try {
    query = parseQuery(text ?? "");
  } catch (error) {
    if (!(error instanceof QuerySyntaxError)) throw error;
    return read("query", () => {
      throw faults.queryParser(error.message);
    });
  }
  if (query.entity === "Preferences") {
    return read("query:Preferences", (realm) => {
      compileConditions("Preferences", query.conditions);
      if (query.count) return ok(realm, { QueryResponse: { totalCount: 1 } });
      if (query.startPosition > 1) return ok(realm, { QueryResponse: {} });
      // As in Intuit's sample: the one entity and maxResults, no startPosition.
      return ok(realm, { QueryResponse: { Preferences: [preferencesJson(realm.settings)], maxResults: 1 } });
    });
  }
  return read(`query:${query.entity}`, (realm) => {
    const { rows, total } = realm.company.query(query);
    if (query.count) return ok(realm, { QueryResponse: { totalCount: total } });
    if (rows.length === 0) return ok(realm, { QueryResponse: {} });
    const entities = rows.map((row) => queryRowJson(query.entity, row, realm.company, options));
    return ok(realm, {
      QueryResponse: {
        [query.entity]: entities,
        startPosition: query.startPosition,
        maxResults: rows.length,
      },
    });
  });
}

/** A 200 QBO answer stamped in the company's offset. */
function ok(realm: Realm, body: Record<string, unknown>): HttpReply {
  return qboJson(200, body, { offset: realm.settings.value.timestampOffset });
}

function read(operation: string, run: (realm: Realm) => HttpReply): ApiRoute {
  return { operation, write: false, run };
}

function write(operation: string, run: (realm: Realm) => HttpReply): ApiRoute {
  return { operation, write: true, run };
}

/** Whether `include=` (comma-separated, any case) names `option`. */
function includes(params: URLSearchParams, option: string): boolean {
  const include = (params.get("include") ?? "").split(",").map((part) => part.trim().toLowerCase());
  return include.includes(option);
}

function jsonBody(request: EmulatorRequest): unknown {
  try {
    return JSON.parse(request.body);
  } catch {
    throw faults.invalid("body", "is not valid JSON");
  }
}

/** Public clients report QBO needs `Accept: application/pdf` on /pdf (qbo-api.md A8, S31). */
function acceptsPdf(request: EmulatorRequest): boolean {
  return (request.headers.get("accept") ?? "").toLowerCase().includes("application/pdf");
}

/** What QBO answers a /pdf request without that Accept is UNVERIFIED: a plain 400 Fault here. */
function pdfNotAccepted(): QboFault {
  return new QboFault({
    code: "400",
    message: "Unsupported Accept header",
    detail: "GET /invoice/{id}/pdf answers only to Accept: application/pdf",
    element: "Accept",
  });
}

/** Whether a POST body names an Id, i.e. updates an entity instead of creating one. */
function hasId(request: EmulatorRequest): boolean {
  try {
    const body: unknown = JSON.parse(request.body);
    return isRecord(body) && body.Id !== undefined;
  } catch {
    return false;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
