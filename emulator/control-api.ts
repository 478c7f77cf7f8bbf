/**
 * The control API's wire format: zod schemas of request bodies (used by the server) and the
 * response types (used by control-client.ts through `import type`, so the client stays free of
 * runtime imports and runs in workerd too).
 */

import { z } from "zod";

const moneyString = z.string().regex(/^\d+(\.\d{1,2})?$/, "must be a decimal string like 100.00");
const currencyCode = z.string().regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like USD");
/** A rate or percentage: exact up to 8 decimal places, so tax and conversions stay integer maths. */
const exactDecimal = z
  .number()
  .nonnegative()
  .refine((value) => /^\d+(\.\d{1,8})?$/.test(String(value)), "must have at most 8 decimal places");

// ---- realm settings (how real a company is) ------------------------------------------------------

export const TaxSettingSchema = z.discriminatedUnion("mode", [
  z.strictObject({ mode: z.literal("automated"), ratePercent: exactDecimal.max(100) }),
  z.strictObject({ mode: z.literal("none") }),
]);

/**
 * A partial settings object: what `POST /realms {settings}` and `PATCH /realms/{r}/settings` take.
 * Unknown keys are refused, so a misspelt switch fails loudly instead of leaving the default on.
 */
export const SettingsPatchSchema = z.strictObject({
  tax: TaxSettingSchema.optional(),
  homeCurrency: currencyCode.optional(),
  multicurrency: z.boolean().optional(),
  exchangeRates: z.record(currencyCode, exactDecimal.positive()).optional(),
  customTransactionNumbers: z.boolean().optional(),
  onlinePayments: z.boolean().optional(),
  requestIdRetentionSeconds: z.number().nonnegative().optional(),
  pdfRequiresAcceptPdf: z.boolean().optional(),
  hideInactiveCustomers: z.boolean().optional(),
  autoApplyCredits: z.boolean().optional(),
  privateNoteQueryable: z.boolean().optional(),
  timestampOffset: z
    .string()
    .regex(/^(Z|[+-](0\d|1[0-4]):[0-5]\d)$/, 'must be "Z" or an offset like -07:00')
    .optional(),
  cdcWindowDays: z.number().positive().optional(),
  cdcMaxObjects: z.number().int().positive().optional(),
  webhookEchoes: z.boolean().optional(),
  monthlyReadCap: z.number().int().nonnegative().nullable().optional(),
  previousRefreshTokenGrace: z.boolean().optional(),
});

export type TaxSetting = z.output<typeof TaxSettingSchema>;
export type SettingsPatch = z.input<typeof SettingsPatchSchema>;

/**
 * Everything that makes one emulated company behave like a real one rather than a tidy sandbox.
 * The defaults (emulator/settings.ts) are the hostile ones; each switch turns one behaviour off.
 */
export interface RealmSettings {
  /** Automated Sales Tax at one rate on every taxable line, or no sales tax at all. */
  tax: TaxSetting;
  /** ISO 4217 code of the company's home currency. */
  homeCurrency: string;
  /** Whether customers and invoices may be in a currency other than the home one. */
  multicurrency: boolean;
  /** Home-currency units per 1 foreign unit, per currency the company uses. */
  exchangeRates: Record<string, number>;
  /** QBO's "Custom transaction numbers": on, an invoice gets no DocNumber unless one is sent. */
  customTransactionNumbers: boolean;
  /** QuickBooks Payments: without it no invoice ever has an InvoiceLink. */
  onlinePayments: boolean;
  /** How long a `requestid` is remembered (and its reply replayed). */
  requestIdRetentionSeconds: number;
  /** GET /invoice/{id}/pdf answers 400 unless Accept names application/pdf. */
  pdfRequiresAcceptPdf: boolean;
  /** Customer queries return active customers only unless the WHERE names `Active`. */
  hideInactiveCustomers: boolean;
  /**
   * QBO's "Automatically apply credits": a new credit memo is applied at once to the customer's
   * oldest open invoices (and unused credit to the next invoice) by a zero-amount Payment.
   */
  autoApplyCredits: boolean;
  /** Whether a WHERE may name PrivateNote (QBO answers 4001, qbo-api.md A8). */
  privateNoteQueryable: boolean;
  /** The offset of MetaData times and of every body's `time`: "Z" or like "-07:00". */
  timestampOffset: string;
  /** How far back `GET /cdc` may look (Intuit: 30 days); older `changedSince` → a fault. */
  cdcWindowDays: number;
  /** At most this many objects in one CDC response (Intuit: 1000). */
  cdcMaxObjects: number;
  /** Changes made through the API send webhooks too, as real QBO does (the app's own echoes). */
  webhookEchoes: boolean;
  /** Read calls allowed per calendar month (UTC); past it every read → 429. null: no cap. */
  monthlyReadCap: number | null;
  /** After a refresh, the refresh token used stays valid until the new one is used (lost answers). */
  previousRefreshTokenGrace: boolean;
}

export const FAULT_KINDS = [
  "throttle",
  "status",
  "body",
  "commit-then-fail",
  "commit-then-drop",
  "commit-then-body",
  "latency",
  "drop",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export const FaultRuleSchema = z.object({
  kind: z.enum(FAULT_KINDS),
  times: z.number().int().positive().default(1),
  match: z
    .object({
      method: z.string().optional(),
      path: z.string().optional(),
      operation: z.string().optional(),
    })
    .optional(),
  status: z.number().int().min(200).max(599).optional(),
  retryAfterSeconds: z.number().int().nonnegative().optional(),
  ms: z.number().int().nonnegative().max(120_000).optional(),
  /** For kinds "body" and "commit-then-body": the JSON answered instead of the real response. */
  body: z.unknown().optional(),
});

export const RandomFaultsSchema = z.object({
  rate: z.number().min(0).max(1),
  seed: z.number().int(),
  kinds: z.array(z.enum(FAULT_KINDS)).min(1),
  retryAfterSeconds: z.number().int().nonnegative().optional(),
});

export const FaultsSchema = z.object({
  rules: z.array(FaultRuleSchema).default([]),
  random: RandomFaultsSchema.optional(),
});

export const CreateRealmSchema = z.object({
  realmId: z
    .string()
    .regex(/^\d{1,20}$/, "must be digits")
    .optional(),
  clientId: z.string().min(1).optional(),
  companyName: z.string().min(1).optional(),
  /** Fractions allowed, so tests can watch a token expire quickly. */
  accessTokenTtlSeconds: z.number().positive().optional(),
  refreshTokenTtlSeconds: z.number().positive().optional(),
  /** The refresh tokens' absolute lifetime from the grant (Intuit: 5 years); refreshing never passes it. */
  refreshTokenHardTtlSeconds: z.number().positive().optional(),
  /** Applied over the defaults (or over the realm's settings when it exists). */
  settings: SettingsPatchSchema.optional(),
});

/** A name-list entry the control API can seed: vendors and employees share customers' names. */
export const NamedEntitySchema = z.object({ DisplayName: z.string() });

export const SeedCustomerSchema = z.object({
  DisplayName: z.string(),
  Active: z.boolean().optional(),
  CurrencyRef: z.object({ value: z.string(), name: z.string().optional() }).optional(),
  PrimaryEmailAddr: z.object({ Address: z.string() }).optional(),
});

export const IssueTokensSchema = z.object({ clientId: z.string().min(1).optional() });

export const ClientSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  appName: z.string().min(1).optional(),
});

/** Replaces the realm's limits whole: a key left out or null is no limit, so `{}` removes all. */
export const LimitsSchema = z.strictObject({
  maxConcurrent: z.number().int().positive().nullable().optional(),
  perSecond: z.number().int().positive().nullable().optional(),
  perMinute: z.number().int().positive().nullable().optional(),
});

/**
 * The customer pays an invoice from QBO's Receive Payment screen: `amount` in cash, and/or
 * `credit`: an existing memo's (`creditMemoId`, `amount` defaulting to what it can cover) or a
 * new memo of `amount` made for the purpose. One Payment links both.
 */
export const RecordPaymentSchema = z
  .object({
    amount: moneyString.optional(),
    credit: z
      .union([
        z.object({ creditMemoId: z.string().regex(/^\d+$/), amount: moneyString.optional() }),
        z.object({ amount: moneyString, description: z.string().max(4000).optional() }),
      ])
      .optional(),
    method: z.string().min(1).max(31).optional(),
    reference: z.string().min(1).max(21).optional(),
    privateNote: z.string().max(4000).optional(),
    webhook: z.boolean().default(true),
  })
  .refine(
    (input) => input.amount !== undefined || input.credit !== undefined,
    "amount or credit is required",
  );

/**
 * A credit memo typed in QBO for a customer (or an invoice's customer): one line of `amount`,
 * not taxable unless `taxable`. With `invoiceId` it is applied to that invoice by hand (a
 * zero-amount payment), whatever `autoApplyCredits` says; without, the setting decides.
 */
export const CreateCreditMemoSchema = z
  .object({
    customerId: z.string().regex(/^\d+$/).optional(),
    invoiceId: z.string().regex(/^\d+$/).optional(),
    amount: moneyString,
    description: z.string().max(4000).optional(),
    taxable: z.boolean().default(false),
    privateNote: z.string().max(4000).optional(),
    webhook: z.boolean().default(true),
  })
  .refine((input) => input.customerId !== undefined || input.invoiceId !== undefined, {
    message: "customerId or invoiceId is required",
  });

export const InvoiceEventSchema = z.object({ webhook: z.boolean().default(true) });

export const SeedInvoicesSchema = z.object({
  customerName: z.string().min(1),
  invoices: z.array(z.object({ amount: moneyString, paid: moneyString.optional() })).max(100_000),
});

/** The webhook target and how Intuit-like its deliveries are (emulator/webhooks.ts); defaults are Intuit's. */
export const WebhookSchema = z.object({
  url: z.url(),
  verifierToken: z.string().min(1),
  format: z.enum(["classic", "cloudevents"]).default("classic"),
  contentType: z.enum(["application/json", "application/cloudevents+json", "none"]).optional(),
  maxEventsPerPost: z.number().int().min(1).max(100).optional(),
  realmsPerPost: z.enum(["many", "one"]).optional(),
  timeoutMs: z.number().int().positive().max(120_000).optional(),
  retryTimeScale: z.number().positive().max(1).optional(),
  retries: z.boolean().optional(),
  headOfLineBlocking: z.boolean().optional(),
  batchWindowMs: z.number().int().nonnegative().max(600_000).optional(),
  voidVerb: z.enum(["voided", "void", "alternate"]).optional(),
});

/** Events made up by a test (e.g. a Customer Merge the company model cannot make). */
export const WebhookEventsSchema = z.object({
  events: z
    .array(
      z.object({
        entity: z.string().regex(/^[A-Z][A-Za-z]{1,40}$/),
        id: z.string().min(1).max(64),
        operation: z.enum(["Create", "Update", "Delete", "Void", "Emailed", "Merge"]),
        deletedId: z.string().min(1).max(64).optional(),
      }),
    )
    .min(1)
    .max(1000),
});

/** The statuses a named event receiver answers next, in order (then 200). */
export const ReceiverSchema = z.object({
  statuses: z.array(z.number().int().min(200).max(599)).max(100),
  /** Seeded random misbehaviour after `statuses` are used up (emulator/receiver.ts). */
  chaos: z
    .object({
      seed: z.number().int(),
      failRate: z.number().min(0).max(1),
      hangRate: z.number().min(0).max(1),
      hangMs: z.number().int().min(0).max(120_000),
      maxFailuresPerId: z.number().int().min(0).max(100),
      maxHangs: z.number().int().min(0).optional(),
    })
    .optional(),
});

export const ConsentRealmSchema = z.object({
  realmId: z
    .string()
    .regex(/^\d{1,20}$/)
    .nullable(),
  clientId: z.string().min(1).optional(),
});

export type FaultRule = z.input<typeof FaultRuleSchema>;
export type FaultsConfig = z.input<typeof FaultsSchema>;
export type CreateRealmOptions = z.input<typeof CreateRealmSchema>;
export type Limits = z.input<typeof LimitsSchema>;
export type SeedInvoicesRequest = z.input<typeof SeedInvoicesSchema>;
export type WebhookConfig = z.input<typeof WebhookSchema>;
export type WebhookEventsRequest = z.input<typeof WebhookEventsSchema>;
export type SeedCustomerRequest = z.input<typeof SeedCustomerSchema>;
export type RecordPaymentRequest = z.input<typeof RecordPaymentSchema>;
export type CreateCreditMemoRequest = z.input<typeof CreateCreditMemoSchema>;

/** A grant as the control API hands it out (instants are ISO 8601). */
export interface RealmTokens {
  realmId: string;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt: string;
  /** The grant's 5-year cap: no refresh goes past it. */
  refreshTokenHardExpiresAt: string;
}

export const OPERATIONS = [
  "query:Customer",
  "query:Invoice",
  "query:Payment",
  "query:Preferences",
  "query:CreditMemo",
  "create:customer",
  "update:customer",
  "read:customer",
  "read:preferences",
  "read:companyinfo",
  "create:invoice",
  "create:payment",
  "read:invoice",
  "read:payment",
  "void:payment",
  "delete:payment",
  "create:creditmemo",
  "read:creditmemo",
  "void:creditmemo",
  "delete:creditmemo",
  "send:invoice",
  "pdf:invoice",
  "void:invoice",
  "delete:invoice",
  "cdc",
] as const;

export interface RealmStats {
  requests: { total: number; byOperation: Record<string, number> };
  tokenCalls: { total: number; refresh_token: number; authorization_code: number };
  revokeCalls: number;
  faultsInjected: number;
  /** 429s answered because of `limits` (real throttling, not injected faults). */
  limitThrottled: number;
  /** The same 429s by the limit each one met. */
  limitThrottledBy: { concurrent: number; perSecond: number; perMinute: number };
  lastMinorVersion: string | null;
  /** Webhook events queued for the realm (one POST may carry many, of several realms). */
  webhooksSent: number;
  /** Reads refused because `monthlyReadCap` was reached. */
  readsRefused: number;
}

/** `GET /realms/{r}/stats`: the counters plus the read meter of the current month. */
export interface RealmStatsView extends RealmStats {
  /** Read calls this calendar month (UTC) and the cap, if any. */
  reads: { month: string; count: number; cap: number | null };
}

/** One attempt of one POST, listed once per realm it carried events of. */
export interface WebhookDelivery {
  realmId: string;
  /** Every realm of the POST. */
  realmIds: string[];
  /** Events in the POST (all realms). */
  events: number;
  /** 1 for the first attempt, 2 for the first retry, ... (retries resend the same body). */
  attempt: number;
  /** HTTP status of the receiver, or null when the request failed (see `error`). */
  status: number | null;
  error?: string;
  /** The raw body exactly as sent, so it can be re-sent with `signature` to test replays. */
  body: string;
  signature: string;
  /** The Content-Type sent, or null when none was. */
  contentType: string | null;
  at: string;
}

/** The QBO entities as the control API returns them (QBO JSON, plus `status` when deleted). */
export type QboEntity = { Id: string; SyncToken: string; [field: string]: unknown };
export type QboInvoice = QboEntity & {
  /** Absent with custom transaction numbers on (the default) unless one was sent. */
  DocNumber?: string;
  TotalAmt: number;
  Balance: number;
  status?: "Deleted";
};
export type QboLinkedTxn = { TxnId: string; TxnType: string };
export type QboPayment = QboEntity & {
  TotalAmt: number;
  UnappliedAmt: number;
  PrivateNote?: string;
  PaymentRefNum?: string;
  Line: Array<{ Amount: number; LinkedTxn: QboLinkedTxn[] }>;
  status?: "Deleted";
};
export type QboCreditMemo = QboEntity & {
  TotalAmt: number;
  RemainingCredit: number;
  PrivateNote?: string;
  status?: "Deleted";
};
