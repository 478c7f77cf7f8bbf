/**
 * A typed client of the emulator's control API (/__control). Uses only `fetch`, so it runs in
 * Node and in workerd (Worker tests) alike; its imports are types only.
 */

import type {
  CreateCreditMemoRequest,
  CreateRealmOptions,
  FaultsConfig,
  Limits,
  QboCreditMemo,
  QboEntity,
  QboInvoice,
  QboPayment,
  RealmSettings,
  RealmStatsView,
  RealmTokens,
  RecordPaymentRequest,
  SeedCustomerRequest,
  SeedInvoicesRequest,
  SettingsPatch,
  WebhookConfig,
  WebhookDelivery,
  WebhookEventsRequest,
} from "./control-api.ts";

import type { ReceivedRequest, ReceiverChaos } from "./receiver.ts";

export type {
  CreateCreditMemoRequest,
  CreateRealmOptions,
  FaultRule,
  FaultsConfig,
  Limits,
  QboCreditMemo,
  QboEntity,
  QboInvoice,
  QboLinkedTxn,
  QboPayment,
  RealmSettings,
  RealmStats,
  RealmStatsView,
  RealmTokens,
  RecordPaymentRequest,
  SeedCustomerRequest,
  SeedInvoicesRequest,
  SettingsPatch,
  TaxSetting,
  WebhookConfig,
  WebhookDelivery,
  WebhookEventsRequest,
} from "./control-api.ts";
export type { ReceivedRequest, ReceiverChaos } from "./receiver.ts";

/** A control call the emulator refused; `body` is its JSON (usually `{error}`). */
export class EmulatorControlError extends Error {
  readonly status: number;
  readonly body: unknown;

  constructor(method: string, path: string, status: number, body: unknown) {
    super(`${method} ${path} answered ${status}: ${JSON.stringify(body)}`);
    this.status = status;
    this.body = body;
  }
}

/** A credit memo voided or deleted through the control API, and the payments that changed. */
export interface CreditMemoRemoval {
  CreditMemo: QboCreditMemo;
  updatedPayments: string[];
  deletedPayments: string[];
}

/** Whether an event also sends a webhook (when a target is configured). Default true. */
export interface WebhookOption {
  webhook?: boolean;
}

export class EmulatorControl {
  readonly #baseUrl: string;

  constructor(baseUrl: string) {
    this.#baseUrl = baseUrl.replace(/\/+$/, "");
  }

  health(): Promise<{ status: "ok" }> {
    return this.#call("GET", "/health");
  }

  /** Forgets everything: realms, tokens, clients, webhook target (back to start-up options). */
  reset(): Promise<{ reset: true }> {
    return this.#call("POST", "/reset");
  }

  registerClient(client: {
    clientId: string;
    clientSecret: string;
    appName?: string;
  }): Promise<{ clientId: string }> {
    return this.#call("POST", "/clients", client);
  }

  /**
   * Creates a company (or reuses `realmId`) and a first grant for it. `settings` (partial) is
   * applied over the hostile defaults, e.g. `{ settings: { customTransactionNumbers: false } }`.
   */
  createRealm(options: CreateRealmOptions = {}): Promise<RealmTokens> {
    return this.#call("POST", "/realms", options);
  }

  /** A fresh grant for an existing realm, as if a person connected again. */
  issueTokens(realmId: string, options: { clientId?: string } = {}): Promise<RealmTokens> {
    return this.#call("POST", `${realm(realmId)}/tokens`, options);
  }

  expireAccessTokens(realmId: string): Promise<{ expired: number }> {
    return this.#call("POST", `${realm(realmId)}/expire-access-tokens`);
  }

  revokeRefreshTokens(realmId: string): Promise<{ revoked: number }> {
    return this.#call("POST", `${realm(realmId)}/revoke-refresh-tokens`);
  }

  /** Replaces the realm's fault rules (and random faults). */
  setFaults(realmId: string, faults: FaultsConfig): Promise<{ ok: true }> {
    return this.#call("PUT", `${realm(realmId)}/faults`, faults);
  }

  clearFaults(realmId: string): Promise<{ ok: true }> {
    return this.#call("DELETE", `${realm(realmId)}/faults`);
  }

  /**
   * Replaces the realm's limits whole (Intuit's 10/s and 500/min are on by default): a key left
   * out or null is no limit, so `{}` switches throttling off.
   */
  setLimits(realmId: string, limits: Limits): Promise<Required<Limits>> {
    return this.#call("PUT", `${realm(realmId)}/limits`, limits);
  }

  /** The realm's limits now. */
  limits(realmId: string): Promise<Required<Limits>> {
    return this.#call("GET", `${realm(realmId)}/limits`);
  }

  /** The realm's full settings. */
  settings(realmId: string): Promise<RealmSettings> {
    return this.#call("GET", `${realm(realmId)}/settings`);
  }

  /** Changes some settings (`tax` is replaced whole, `exchangeRates` merged); answers them all. */
  updateSettings(realmId: string, settings: SettingsPatch): Promise<RealmSettings> {
    return this.#call("PATCH", `${realm(realmId)}/settings`, settings);
  }

  /**
   * A customer made in QuickBooks' own screens, e.g. an inactive one or one in a foreign
   * currency. QBO's rules still apply (6240 names, currencies) and answer 400 `{error, code}`.
   */
  createCustomer(realmId: string, customer: SeedCustomerRequest): Promise<{ Customer: QboEntity }> {
    return this.#call("POST", `${realm(realmId)}/customers`, customer);
  }

  /** A vendor: its DisplayName is then taken for customers too (6240). */
  createVendor(realmId: string, vendor: { DisplayName: string }): Promise<{ Vendor: QboEntity }> {
    return this.#call("POST", `${realm(realmId)}/vendors`, vendor);
  }

  /** An employee: its DisplayName is then taken for customers too (6240). */
  createEmployee(realmId: string, employee: { DisplayName: string }): Promise<{ Employee: QboEntity }> {
    return this.#call("POST", `${realm(realmId)}/employees`, employee);
  }

  /** Forgets every remembered `requestid` now, as if the retention had passed. */
  forgetRequestIds(realmId: string): Promise<{ forgotten: number }> {
    return this.#call("POST", `${realm(realmId)}/forget-requestids`);
  }

  /** Counters, and this month's read meter (`reads`). */
  stats(realmId: string): Promise<RealmStatsView> {
    return this.#call("GET", `${realm(realmId)}/stats`);
  }

  /** Zeroes the counters and this month's read meter. */
  resetStats(realmId: string): Promise<RealmStatsView> {
    return this.#call("POST", `${realm(realmId)}/stats/reset`);
  }

  /** Every invoice, voided ones and deleted ones (with `status: "Deleted"`) included. */
  invoices(realmId: string): Promise<{ invoices: QboInvoice[] }> {
    return this.#call("GET", `${realm(realmId)}/invoices`);
  }

  customers(realmId: string): Promise<{ customers: QboEntity[] }> {
    return this.#call("GET", `${realm(realmId)}/customers`);
  }

  payments(realmId: string): Promise<{ payments: QboPayment[] }> {
    return this.#call("GET", `${realm(realmId)}/payments`);
  }

  /** The customer pays `amount` ("50.00") of the invoice; sends a Payment Create webhook. */
  recordPayment(
    realmId: string,
    invoiceId: string,
    payment: { amount: string } & WebhookOption,
  ): Promise<{ Payment: QboPayment }> {
    return this.#call(
      "POST",
      `${realm(realmId)}/invoices/${encodeURIComponent(invoiceId)}/payments`,
      payment,
    );
  }

  /**
   * The customer settles the invoice from QBO's Receive Payment screen: `amount` in cash and/or
   * `credit` — `{creditMemoId, amount?}` of an existing memo, or `{amount}` of a new memo made
   * for it — in one Payment (an invoice line of cash + credit, a CreditMemo line of the credit).
   * `method` names the PaymentMethodRef ("Check", "Wire"…), `reference` the PaymentRefNum.
   * Sends Payment Create (and CreditMemo Create for a new memo) webhooks.
   */
  payInvoice(
    realmId: string,
    invoiceId: string,
    payment: RecordPaymentRequest,
  ): Promise<{ Payment: QboPayment; CreditMemo?: QboCreditMemo }> {
    return this.#call(
      "POST",
      `${realm(realmId)}/invoices/${encodeURIComponent(invoiceId)}/payments`,
      payment,
    );
  }

  /**
   * A credit memo typed in QBO: for `customerId`, or applied by hand to `invoiceId` (through a
   * zero-amount Payment). Without `invoiceId`, the realm's `autoApplyCredits` may apply it to the
   * customer's oldest open invoices (`Payment` is then QBO's own linking payment). Webhooks:
   * CreditMemo Create, Payment Create.
   */
  createCreditMemo(
    realmId: string,
    request: CreateCreditMemoRequest,
  ): Promise<{ CreditMemo: QboCreditMemo; Payment?: QboPayment }> {
    return this.#call("POST", `${realm(realmId)}/credit-memos`, request);
  }

  /** Every credit memo, voided ones and deleted ones (with `status: "Deleted"`) included. */
  creditMemos(realmId: string): Promise<{ creditMemos: QboCreditMemo[] }> {
    return this.#call("GET", `${realm(realmId)}/credit-memos`);
  }

  /** Voids the payment in QBO (amounts 0, invoices' Balance restored); Payment Void webhook. */
  voidPayment(
    realmId: string,
    paymentId: string,
    options: WebhookOption = {},
  ): Promise<{ Payment: QboPayment }> {
    return this.#call("POST", `${realm(realmId)}/payments/${encodeURIComponent(paymentId)}/void`, options);
  }

  /** Deletes the payment in QBO (reads then give 610); Payment Delete webhook. */
  deletePayment(
    realmId: string,
    paymentId: string,
    options: WebhookOption = {},
  ): Promise<{ Payment: QboPayment }> {
    return this.#call("POST", `${realm(realmId)}/payments/${encodeURIComponent(paymentId)}/delete`, options);
  }

  /**
   * Voids the credit memo in QBO: its credit is taken back from the payments that used it (the
   * invoices' Balance rises). Webhooks: CreditMemo Void, Payment Update / Delete.
   */
  voidCreditMemo(
    realmId: string,
    creditMemoId: string,
    options: WebhookOption = {},
  ): Promise<CreditMemoRemoval> {
    return this.#call(
      "POST",
      `${realm(realmId)}/credit-memos/${encodeURIComponent(creditMemoId)}/void`,
      options,
    );
  }

  /** Deletes the credit memo in QBO, as `voidCreditMemo` but reads then give 610. */
  deleteCreditMemo(
    realmId: string,
    creditMemoId: string,
    options: WebhookOption = {},
  ): Promise<CreditMemoRemoval> {
    return this.#call(
      "POST",
      `${realm(realmId)}/credit-memos/${encodeURIComponent(creditMemoId)}/delete`,
      options,
    );
  }

  /** Deletes the payments applied to the invoice, restoring its balance (Payment Delete webhooks). */
  deletePayments(
    realmId: string,
    invoiceId: string,
    options: WebhookOption = {},
  ): Promise<{ deleted: string[] }> {
    return this.#call(
      "DELETE",
      `${realm(realmId)}/invoices/${encodeURIComponent(invoiceId)}/payments`,
      options,
    );
  }

  /** Voids the invoice in QuickBooks (no SyncToken needed); sends an Invoice Void webhook. */
  voidInvoice(
    realmId: string,
    invoiceId: string,
    options: WebhookOption = {},
  ): Promise<{ Invoice: QboInvoice }> {
    return this.#call("POST", `${realm(realmId)}/invoices/${encodeURIComponent(invoiceId)}/void`, options);
  }

  /** Deletes the invoice in QuickBooks; sends an Invoice Delete webhook. */
  deleteInvoice(
    realmId: string,
    invoiceId: string,
    options: WebhookOption = {},
  ): Promise<{ Invoice: QboInvoice }> {
    return this.#call("POST", `${realm(realmId)}/invoices/${encodeURIComponent(invoiceId)}/delete`, options);
  }

  /** Bulk invoices for one customer (not counted in stats, no webhooks). */
  seedInvoices(realmId: string, request: SeedInvoicesRequest): Promise<{ ids: string[] }> {
    return this.#call("POST", `${realm(realmId)}/seed-invoices`, request);
  }

  /**
   * The webhook target and how its deliveries behave: Intuit's by default (batches of up to 100
   * events of several realms, a 3 s timeout, Intuit's retry schedule, head-of-line blocking);
   * `retryTimeScale` compresses the schedule (emulator/webhooks.ts).
   */
  configureWebhook(config: WebhookConfig): Promise<WebhookConfig> {
    return this.#call("PUT", "/webhook", config);
  }

  /** Queues made-up webhook events for the realm, e.g. a Customer Merge with `deletedId`. */
  sendWebhookEvents(realmId: string, request: WebhookEventsRequest): Promise<{ queued: number }> {
    return this.#call("POST", `${realm(realmId)}/webhook-events`, request);
  }

  /** The URL of a named event receiver (records POSTs; see emulator/receiver.ts). */
  receiverUrl(name: string): string {
    return `${this.#baseUrl}/__receiver/${encodeURIComponent(name)}`;
  }

  /** The statuses the receiver answers next, in order; then 200, or seeded misbehaviour (`chaos`). */
  configureReceiver(
    name: string,
    statuses: number[],
    chaos?: ReceiverChaos,
  ): Promise<{ statuses: number[] }> {
    return this.#call("PUT", `/receiver/${encodeURIComponent(name)}`, {
      statuses,
      ...(chaos ? { chaos } : {}),
    });
  }

  /** What the receiver was sent, oldest first. */
  received(name: string): Promise<{ received: ReceivedRequest[] }> {
    return this.#call("GET", `/receiver/${encodeURIComponent(name)}`);
  }

  clearWebhook(): Promise<{ cleared: true }> {
    return this.#call("DELETE", "/webhook");
  }

  /**
   * Webhook delivery attempts, oldest first (an attempt carrying several realms is listed once
   * per realm); `realmId` narrows to one realm. `queue`: events not yet sent, and sent but not
   * yet acknowledged.
   */
  webhookLog(
    realmId?: string,
  ): Promise<{ deliveries: WebhookDelivery[]; queue: { pending: number; unacknowledged: number } }> {
    const query = realmId === undefined ? "" : `?realmId=${encodeURIComponent(realmId)}`;
    return this.#call("GET", `/webhooks${query}`);
  }

  /**
   * Which realm the consent page connects. With `clientId`, only for that client (safer when
   * test files run in parallel); `null` clears.
   */
  setConsentRealm(realmId: string | null, clientId?: string): Promise<{ realmId: string | null }> {
    return this.#call("PUT", "/consent-realm", { realmId, clientId });
  }

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.#baseUrl}/__control${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === "" ? null : JSON.parse(text);
    } catch {
      // keep the text
    }
    if (!response.ok) throw new EmulatorControlError(method, path, response.status, parsed);
    return parsed as T;
  }
}

function realm(realmId: string): string {
  return `/realms/${encodeURIComponent(realmId)}`;
}
