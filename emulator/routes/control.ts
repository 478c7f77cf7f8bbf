/**
 * The control API under /__control: set up realms and tokens, inject faults and limits, look
 * at state and counters, and play the customer's side (payments, voids) with webhooks.
 * JSON in and out, no auth, never counted in a realm's stats.
 */

import type { z } from "zod";
import { DEFAULT_CLIENT, type IssuedTokens } from "../auth.ts";
import {
  ClientSchema,
  ConsentRealmSchema,
  CreateCreditMemoSchema,
  CreateRealmSchema,
  FaultsSchema,
  InvoiceEventSchema,
  IssueTokensSchema,
  LimitsSchema,
  NamedEntitySchema,
  type RealmStatsView,
  type RealmTokens,
  ReceiverSchema,
  RecordPaymentSchema,
  SeedCustomerSchema,
  SeedInvoicesSchema,
  SettingsPatchSchema,
  WebhookEventsSchema,
  WebhookSchema,
} from "../control-api.ts";
import { type EmulatorRequest, type HttpReply, json, QboFault, type RequestContext } from "../http.ts";
import type { Settlement } from "../qbo/company.ts";
import { centsToNumber, parseCents } from "../qbo/money.ts";
import type { CreditMemoRecord, InvoiceRecord, PaymentRecord, RefRecord } from "../qbo/records.ts";
import { creditMemoJson, customerJson, invoiceJson, nameListJson, paymentJson } from "../qbo/render.ts";
import type { Realm } from "../realm.ts";
import type { EmulatorState } from "../state.ts";

export const CONTROL_PREFIX = "/__control";

type ControlHandler = (input: {
  state: EmulatorState;
  request: EmulatorRequest;
  context: RequestContext;
  params: string[];
}) => HttpReply;

/** Routes whose path starts /__control/realms/{realm}: the handler gets the realm. */
type RealmHandler = (input: {
  state: EmulatorState;
  realm: Realm;
  request: EmulatorRequest;
  context: RequestContext;
  params: string[];
}) => HttpReply;

class ControlError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

const routes: Array<{ method: string; pattern: RegExp; handler: ControlHandler }> = [];

function route(method: string, pattern: RegExp, handler: ControlHandler): void {
  routes.push({ method, pattern, handler });
}

function realmRoute(method: string, subpath: string, handler: RealmHandler): void {
  const pattern = new RegExp(`^/realms/(\\d+)${subpath}$`);
  route(method, pattern, ({ state, request, context, params }) => {
    const [realmId = "", ...rest] = params;
    const realm = state.realms.get(realmId);
    if (!realm) throw new ControlError(404, `Unknown realm ${realmId}`);
    return handler({ state, realm, request, context, params: rest });
  });
}

export function handleControl(
  state: EmulatorState,
  request: EmulatorRequest,
  context: RequestContext,
): HttpReply {
  const path = request.url.pathname.slice(CONTROL_PREFIX.length) || "/";
  try {
    for (const candidate of routes) {
      const match = candidate.pattern.exec(path);
      if (!match || candidate.method !== request.method) continue;
      return candidate.handler({ state, request, context, params: match.slice(1) });
    }
    throw new ControlError(404, `No control endpoint ${request.method} ${request.url.pathname}`);
  } catch (error) {
    if (error instanceof ControlError) return json(error.status, { error: error.message });
    if (error instanceof QboFault) return json(400, { error: error.detail, code: error.code });
    throw error;
  }
}

function body<T extends z.ZodType>(schema: T, request: EmulatorRequest): z.output<T> {
  let value: unknown = {};
  if (request.body.trim() !== "") {
    try {
      value = JSON.parse(request.body);
    } catch {
      throw new ControlError(400, "The body is not valid JSON");
    }
  }
  const result = schema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ControlError(400, `${issue?.path.join(".") || "body"}: ${issue?.message ?? "invalid"}`);
  }
  return result.data;
}

function tokensJson(tokens: IssuedTokens): RealmTokens {
  return {
    realmId: tokens.realmId,
    accessToken: tokens.accessToken,
    refreshToken: tokens.refreshToken,
    accessTokenExpiresAt: new Date(tokens.accessTokenExpiresAt).toISOString(),
    refreshTokenExpiresAt: new Date(tokens.refreshTokenExpiresAt).toISOString(),
    refreshTokenHardExpiresAt: new Date(tokens.refreshTokenHardExpiresAt).toISOString(),
  };
}

function clientIdOrDefault(state: EmulatorState, clientId: string | undefined): string {
  const id = clientId ?? DEFAULT_CLIENT.clientId;
  if (!state.oauth.hasClient(id)) throw new ControlError(400, `Unknown client ${id}`);
  return id;
}

function invoiceOf(realm: Realm, id: string): InvoiceRecord {
  const invoice = realm.company.findInvoice(id);
  if (!invoice || invoice.state === "deleted") throw new ControlError(404, `Unknown invoice ${id}`);
  return invoice;
}

function controlInvoiceJson(realm: Realm, invoice: InvoiceRecord) {
  const rendered = invoiceJson(invoice, realm.company, { invoiceLink: true });
  return invoice.state === "deleted" ? { ...rendered, status: "Deleted" } : rendered;
}

function controlPaymentJson(realm: Realm, payment: PaymentRecord) {
  const rendered = paymentJson(payment, realm.company);
  return payment.deleted ? { ...rendered, status: "Deleted" } : rendered;
}

function controlCreditMemoJson(realm: Realm, memo: CreditMemoRecord) {
  const rendered = creditMemoJson(memo, realm.company);
  return memo.state === "deleted" ? { ...rendered, status: "Deleted" } : rendered;
}

function paymentOf(realm: Realm, id: string): PaymentRecord {
  const payment = realm.company.findPayment(id);
  if (!payment || payment.deleted) throw new ControlError(404, `Unknown payment ${id}`);
  return payment;
}

function creditMemoOf(realm: Realm, id: string): CreditMemoRecord {
  const memo = realm.company.findCreditMemo(id);
  if (!memo || memo.state === "deleted") throw new ControlError(404, `Unknown credit memo ${id}`);
  return memo;
}

function centsOf(value: string, field: string): number {
  const amountCents = parseCents(value);
  if (typeof amountCents !== "number") throw new ControlError(400, `${field} is not a valid amount`);
  return amountCents;
}

/** The payment methods of a new QBO company (sandbox ids); any other name gets an id of its own. */
const PAYMENT_METHODS = [
  "Cash",
  "Check",
  "Visa",
  "MasterCard",
  "Discover",
  "American Express",
  "Diners Club",
];

function paymentMethodRef(name: string | undefined): RefRecord | undefined {
  if (name === undefined) return undefined;
  const index = PAYMENT_METHODS.findIndex((method) => method.toLowerCase() === name.toLowerCase());
  if (index >= 0) return { value: String(index + 1), name: PAYMENT_METHODS[index] };
  let hash = 0;
  for (const char of name.toLowerCase()) hash = (hash * 31 + char.charCodeAt(0)) % 900;
  return { value: String(100 + hash), name };
}

/** A one-line credit memo body as QBO's screen would send it; not taxable unless asked. */
function creditMemoBody(
  customerId: string,
  amountCents: number,
  options: { description?: string; taxable?: boolean; privateNote?: string },
) {
  return {
    CustomerRef: { value: customerId },
    PrivateNote: options.privateNote,
    Line: [
      {
        DetailType: "SalesItemLineDetail",
        Amount: centsToNumber(amountCents),
        Description: options.description ?? "Credit",
        SalesItemLineDetail: { TaxCodeRef: { value: options.taxable ? "TAX" : "NON" } },
      },
    ],
  };
}

/**
 * Logs what a control action changed (CDC sees it either way) and, with `webhook`, announces
 * every change by webhook: the entity acted on and any it touched (the invoice a payment paid).
 */
function changed(state: EmulatorState, realm: Realm, webhook: boolean): void {
  state.publishChanges(realm, { notify: webhook });
}

// ---- global ---------------------------------------------------------------------------------

route("GET", /^\/health$/, () => json(200, { status: "ok" }));

route("POST", /^\/reset$/, ({ state }) => {
  state.reset();
  return json(200, { reset: true });
});

route("POST", /^\/clients$/, ({ state, request }) => {
  const input = body(ClientSchema, request);
  state.oauth.registerClient(input.clientId, input.clientSecret, input.appName);
  return json(201, { clientId: input.clientId });
});

route("POST", /^\/realms$/, ({ state, request }) => {
  const input = body(CreateRealmSchema, request);
  const clientId = clientIdOrDefault(state, input.clientId);
  const realm = state.ensureRealm(input.realmId, {
    companyName: input.companyName,
    ttls: {
      accessTtlSeconds: input.accessTokenTtlSeconds,
      refreshTtlSeconds: input.refreshTokenTtlSeconds,
      hardTtlSeconds: input.refreshTokenHardTtlSeconds,
    },
    settings: input.settings,
  });
  return json(201, tokensJson(state.oauth.issueGrant(realm.id, clientId, realm.ttls)));
});

route("PUT", /^\/webhook$/, ({ state, request }) => {
  const input = body(WebhookSchema, request);
  state.webhooks.configure(input);
  return json(200, input);
});

route("DELETE", /^\/webhook$/, ({ state }) => {
  state.webhooks.configure(undefined);
  return json(200, { cleared: true });
});

route("GET", /^\/webhooks$/, ({ state, request }) => {
  const realmId = request.url.searchParams.get("realmId") ?? undefined;
  return json(200, { deliveries: state.webhooks.deliveries(realmId), queue: state.webhooks.queue() });
});

route("PUT", /^\/consent-realm$/, ({ state, request }) => {
  const input = body(ConsentRealmSchema, request);
  if (input.clientId !== undefined) clientIdOrDefault(state, input.clientId);
  state.setConsentRealm(input.realmId, input.clientId);
  return json(200, { realmId: input.realmId, clientId: input.clientId ?? null });
});

route("PUT", /^\/receiver\/([^/]+)$/, ({ state, request, params }) => {
  const input = body(ReceiverSchema, request);
  state.receivers.configure(decodeURIComponent(params[0] ?? ""), input.statuses, input.chaos);
  return json(200, { statuses: input.statuses });
});

route("GET", /^\/receiver\/([^/]+)$/, ({ state, params }) =>
  json(200, { received: state.receivers.received(decodeURIComponent(params[0] ?? "")) }),
);

// ---- per realm ------------------------------------------------------------------------------

realmRoute("POST", "/tokens", ({ state, realm, request }) => {
  const input = body(IssueTokensSchema, request);
  const clientId = clientIdOrDefault(state, input.clientId);
  return json(201, tokensJson(state.oauth.issueGrant(realm.id, clientId, realm.ttls)));
});

realmRoute("POST", "/expire-access-tokens", ({ state, realm }) =>
  json(200, { expired: state.oauth.expireAccessTokens(realm.id) }),
);

realmRoute("POST", "/revoke-refresh-tokens", ({ state, realm }) =>
  json(200, { revoked: state.oauth.revokeRefreshTokens(realm.id) }),
);

realmRoute("PUT", "/faults", ({ realm, request }) => {
  realm.faults.replace(body(FaultsSchema, request));
  return json(200, { ok: true });
});

realmRoute("DELETE", "/faults", ({ realm }) => {
  realm.faults.clear();
  return json(200, { ok: true });
});

realmRoute("PUT", "/limits", ({ realm, request }) => {
  const input = body(LimitsSchema, request);
  realm.limits.set(input);
  return json(200, realm.limits.config);
});

realmRoute("GET", "/limits", ({ realm }) => json(200, realm.limits.config));

realmRoute("GET", "/settings", ({ realm }) => json(200, realm.settings.current));

realmRoute("PATCH", "/settings", ({ realm, request }) =>
  json(200, realm.settings.update(body(SettingsPatchSchema, request))),
);

realmRoute("POST", "/customers", ({ state, realm, request }) => {
  const customer = realm.company.createCustomer(body(SeedCustomerSchema, request));
  changed(state, realm, true);
  return json(201, { Customer: customerJson(customer, realm.company) });
});

realmRoute("POST", "/vendors", ({ realm, request }) => {
  const vendor = realm.company.createNameListEntry("Vendor", body(NamedEntitySchema, request));
  return json(201, { Vendor: nameListJson(vendor, realm.company) });
});

realmRoute("POST", "/employees", ({ realm, request }) => {
  const employee = realm.company.createNameListEntry("Employee", body(NamedEntitySchema, request));
  return json(201, { Employee: nameListJson(employee, realm.company) });
});

realmRoute("POST", "/forget-requestids", ({ realm }) => json(200, { forgotten: realm.requestIds.forget() }));

function statsJson(realm: Realm): RealmStatsView {
  const reads = { ...realm.reads.snapshot(Date.now()), cap: realm.settings.value.monthlyReadCap };
  return { ...realm.stats.snapshot(), reads };
}

realmRoute("GET", "/stats", ({ realm }) => json(200, statsJson(realm)));

/** Zeroes the counters and this month's read meter (which also lifts a reached read cap). */
realmRoute("POST", "/stats/reset", ({ realm }) => {
  realm.stats.reset();
  realm.reads.reset();
  return json(200, statsJson(realm));
});

realmRoute("POST", "/webhook-events", ({ state, realm, request }) => {
  const input = body(WebhookEventsSchema, request);
  const now = Date.now();
  const events = input.events.map((event) => ({ ...event, at: now, deleted: event.operation === "Delete" }));
  for (const event of events) realm.changes.record(event);
  state.announce(realm, events);
  return json(200, { queued: state.webhooks.configured ? events.length : 0 });
});

realmRoute("GET", "/invoices", ({ realm }) =>
  json(200, { invoices: realm.company.invoices().map((invoice) => controlInvoiceJson(realm, invoice)) }),
);

realmRoute("GET", "/customers", ({ realm }) =>
  json(200, {
    customers: realm.company.customers().map((customer) => customerJson(customer, realm.company)),
  }),
);

realmRoute("GET", "/payments", ({ realm }) =>
  json(200, { payments: realm.company.payments().map((payment) => controlPaymentJson(realm, payment)) }),
);

realmRoute("POST", "/invoices/(\\d+)/payments", ({ state, realm, request, params }) => {
  const input = body(RecordPaymentSchema, request);
  const invoice = invoiceOf(realm, params[0] ?? "");
  const company = realm.company;
  const cashCents = input.amount === undefined ? 0 : centsOf(input.amount, "amount");
  let credit: Settlement["credit"];
  let createdMemo: CreditMemoRecord | undefined;
  if (input.credit && "creditMemoId" in input.credit) {
    const memo = creditMemoOf(realm, input.credit.creditMemoId);
    const amountCents =
      input.credit.amount === undefined
        ? Math.max(0, Math.min(memo.remainingCents, invoice.balanceCents - cashCents))
        : centsOf(input.credit.amount, "credit.amount");
    credit = { creditMemoId: memo.id, amountCents };
  } else if (input.credit) {
    const amountCents = centsOf(input.credit.amount, "credit.amount");
    // Checked before the memo exists, so a refused payment leaves no stray credit behind.
    if (invoice.state === "open" && cashCents + amountCents > invoice.balanceCents) {
      throw new ControlError(400, `amount + credit exceed the open balance of invoice ${invoice.id}`);
    }
    const body = creditMemoBody(invoice.customerId, amountCents, { description: input.credit.description });
    createdMemo = company.createCreditMemo(body, { autoApply: false }).creditMemo;
    credit = { creditMemoId: createdMemo.id, amountCents };
  }
  const payment = company.settleInvoice(invoice, {
    cashCents,
    credit,
    paymentMethod: paymentMethodRef(input.method),
    paymentRefNum: input.reference,
    privateNote: input.privateNote,
  });
  changed(state, realm, input.webhook);
  return json(201, {
    Payment: paymentJson(payment, company),
    ...(createdMemo ? { CreditMemo: creditMemoJson(createdMemo, company) } : {}),
  });
});

realmRoute("GET", "/credit-memos", ({ realm }) =>
  json(200, { creditMemos: realm.company.creditMemos().map((memo) => controlCreditMemoJson(realm, memo)) }),
);

realmRoute("POST", "/credit-memos", ({ state, realm, request }) => {
  const input = body(CreateCreditMemoSchema, request);
  const company = realm.company;
  const invoice = input.invoiceId === undefined ? undefined : invoiceOf(realm, input.invoiceId);
  const customerId = invoice?.customerId ?? input.customerId ?? "";
  if (input.customerId !== undefined && input.customerId !== customerId) {
    throw new ControlError(400, `Invoice ${invoice?.id} belongs to customer ${customerId}`);
  }
  if (!company.customer(customerId)) throw new ControlError(404, `Unknown customer ${customerId}`);
  const amountCents = centsOf(input.amount, "amount");
  const { creditMemo, linkPayment } = company.createCreditMemo(
    creditMemoBody(customerId, amountCents, input),
    {
      autoApply: invoice === undefined,
    },
  );
  let payment = linkPayment;
  if (invoice && invoice.state === "open") {
    const applied = Math.min(creditMemo.remainingCents, invoice.balanceCents);
    if (applied > 0) {
      payment = company.settleInvoice(invoice, {
        cashCents: 0,
        credit: { creditMemoId: creditMemo.id, amountCents: applied },
      });
    }
  }
  changed(state, realm, input.webhook);
  return json(201, {
    CreditMemo: creditMemoJson(creditMemo, company),
    ...(payment ? { Payment: paymentJson(payment, company) } : {}),
  });
});

realmRoute("POST", "/payments/(\\d+)/void", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const payment = realm.company.markPaymentVoided(paymentOf(realm, params[0] ?? ""));
  changed(state, realm, input.webhook);
  return json(200, { Payment: controlPaymentJson(realm, payment) });
});

realmRoute("POST", "/payments/(\\d+)/delete", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const payment = realm.company.markPaymentDeleted(paymentOf(realm, params[0] ?? ""));
  changed(state, realm, input.webhook);
  return json(200, { Payment: controlPaymentJson(realm, payment) });
});

realmRoute("POST", "/credit-memos/(\\d+)/(void|delete)", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const memo = creditMemoOf(realm, params[0] ?? "");
  const voiding = params[1] === "void";
  const removal = voiding
    ? realm.company.markCreditMemoVoided(memo)
    : realm.company.markCreditMemoDeleted(memo);
  changed(state, realm, input.webhook);
  return json(200, {
    CreditMemo: controlCreditMemoJson(realm, memo),
    updatedPayments: removal.updated.map((payment) => payment.id),
    deletedPayments: removal.deleted.map((payment) => payment.id),
  });
});

realmRoute("DELETE", "/invoices/(\\d+)/payments", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const deleted = realm.company.deletePaymentsOf(invoiceOf(realm, params[0] ?? ""));
  changed(state, realm, input.webhook);
  return json(200, { deleted: deleted.map((payment) => payment.id) });
});

realmRoute("POST", "/invoices/(\\d+)/void", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const invoice = realm.company.markVoided(invoiceOf(realm, params[0] ?? ""));
  changed(state, realm, input.webhook);
  return json(200, { Invoice: controlInvoiceJson(realm, invoice) });
});

realmRoute("POST", "/invoices/(\\d+)/delete", ({ state, realm, request, params }) => {
  const input = body(InvoiceEventSchema, request);
  const invoice = realm.company.markDeleted(invoiceOf(realm, params[0] ?? ""));
  changed(state, realm, input.webhook);
  return json(200, { Invoice: controlInvoiceJson(realm, invoice) });
});

realmRoute("POST", "/seed-invoices", ({ state, realm, request }) => {
  const input = body(SeedInvoicesSchema, request);
  const invoices = input.invoices.map((entry, index) => {
    const amountCents = parseCents(entry.amount);
    const paidCents = entry.paid === undefined ? 0 : parseCents(entry.paid);
    if (typeof amountCents !== "number" || typeof paidCents !== "number" || paidCents > amountCents) {
      throw new ControlError(400, `invoices.${index}: paid must not exceed amount`);
    }
    return { amountCents, paidCents };
  });
  const ids = realm.company.seedInvoices(input.customerName, invoices);
  changed(state, realm, false);
  return json(200, { ids });
});
