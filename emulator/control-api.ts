/**
 * The control API's wire format: zod schemas of request bodies (used by the server) and the
 * response types (used by control-client.ts through `import type`, so the client stays free of
 * runtime imports and runs in workerd too).
 */

import { z } from "zod";

const moneyString = z.string().regex(/^\d+(\.\d{1,2})?$/, "must be a decimal string like 100.00");

export const FAULT_KINDS = [
  "throttle",
  "status",
  "body",
  "commit-then-fail",
  "commit-then-drop",
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
  /** For kind "body": the JSON answered instead of the real response. */
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
});

export const IssueTokensSchema = z.object({ clientId: z.string().min(1).optional() });

export const ClientSchema = z.object({
  clientId: z.string().min(1),
  clientSecret: z.string().min(1),
  appName: z.string().min(1).optional(),
});

export const LimitsSchema = z.object({
  maxConcurrent: z.number().int().positive().nullable().optional(),
  perMinute: z.number().int().positive().nullable().optional(),
});

export const RecordPaymentSchema = z.object({ amount: moneyString, webhook: z.boolean().default(true) });

export const InvoiceEventSchema = z.object({ webhook: z.boolean().default(true) });

export const SeedInvoicesSchema = z.object({
  customerName: z.string().min(1),
  invoices: z.array(z.object({ amount: moneyString, paid: moneyString.optional() })).max(100_000),
});

export const WebhookSchema = z.object({
  url: z.url(),
  verifierToken: z.string().min(1),
  format: z.enum(["classic", "cloudevents"]).default("classic"),
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

/** A grant as the control API hands it out (instants are ISO 8601). */
export interface RealmTokens {
  realmId: string;
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  refreshTokenExpiresAt: string;
}

export const OPERATIONS = [
  "query:Customer",
  "query:Invoice",
  "query:Payment",
  "create:customer",
  "create:invoice",
  "create:payment",
  "read:invoice",
  "read:payment",
  "send:invoice",
  "pdf:invoice",
  "void:invoice",
  "delete:invoice",
] as const;

export interface RealmStats {
  requests: { total: number; byOperation: Record<string, number> };
  tokenCalls: { total: number; refresh_token: number; authorization_code: number };
  revokeCalls: number;
  faultsInjected: number;
  /** 429s answered because of `limits` (real throttling, not injected faults). */
  limitThrottled: number;
  lastMinorVersion: string | null;
  webhooksSent: number;
}

export interface WebhookDelivery {
  realmId: string;
  /** HTTP status of the receiver, or null when the request failed (see `error`). */
  status: number | null;
  error?: string;
  /** The raw body exactly as sent, so it can be re-sent with `signature` to test replays. */
  body: string;
  signature: string;
  at: string;
}

/** The QBO entities as the control API returns them (QBO JSON, plus `status` when deleted). */
export type QboEntity = { Id: string; SyncToken: string; [field: string]: unknown };
export type QboInvoice = QboEntity & {
  DocNumber: string;
  TotalAmt: number;
  Balance: number;
  status?: "Deleted";
};
export type QboPayment = QboEntity & {
  TotalAmt: number;
  Line: Array<{ Amount: number; LinkedTxn: unknown[] }>;
};
