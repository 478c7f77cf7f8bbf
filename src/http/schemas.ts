/**
 * Wire schemas shared by the routes: one source for validation and for /openapi.json.
 */
import { z } from "@hono/zod-openapi";
import { parseCents } from "../domain/money";
import { PAYMENT_METHODS, PAYMENT_SOURCES, QBO_ENVIRONMENTS, QBO_PUSH_STATES } from "../domain/payments";
import { PO_STATUSES } from "../domain/po-status";
import { DISCREPANCY_KINDS } from "../domain/reconcile";
import { ERROR_CODES } from "../lib/errors";

/** A request amount: "12.34" or 12.34, at most two places, parsed to integer cents. */
export const MoneyInput = z
  .union([z.string(), z.number()])
  .transform((value, ctx) => {
    const cents = parseCents(value);
    if (cents === null) {
      ctx.addIssue({ code: "custom", message: "Expected an amount with at most two decimal places" });
      return z.NEVER;
    }
    return cents;
  })
  .openapi({
    oneOf: [{ type: "string", pattern: "^\\d{1,16}(\\.\\d{1,2})?$" }, { type: "number" }],
    example: "1200.00",
    description: "Decimal amount with at most two places, as a string or a number",
  });

const MoneyOutput = z.string().openapi({ example: "1200.00", description: "Decimal amount, two places" });

export const DateString = z.iso.date().openapi({ example: "2026-11-24" });

const Slug = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "Expected lower-case letters, digits and dashes (max 63)")
  .openapi({ example: "pycon-2027" });

export const Reference = z
  .string()
  .regex(/^PO-[A-Z0-9]{6}$/, "Expected a PO reference like PO-AB12CD")
  .openapi({ example: "PO-7KQ2ZX" });

export const ConferenceParams = z.object({ slug: Slug.openapi({ param: { name: "slug", in: "path" } }) });
export const PoParams = z.object({
  slug: Slug.openapi({ param: { name: "slug", in: "path" } }),
  reference: Reference.openapi({ param: { name: "reference", in: "path" } }),
});

const ErrorBody = z
  .object({
    error: z.object({
      code: z.enum(ERROR_CODES).openapi({ example: "validation_failed" }),
      message: z.string(),
      details: z.unknown().optional(),
    }),
  })
  .openapi("Error");

export const errorResponse = (description: string) => ({
  content: { "application/json": { schema: ErrorBody } },
  description,
});

/** The error responses every authenticated route can give. */
export const commonErrors = {
  400: errorResponse("invalid_json or validation_failed"),
  401: errorResponse("unauthorized"),
  404: errorResponse("not_found"),
  503: errorResponse("not_configured (API_TOKEN unset) or qbo_unavailable"),
} as const;

export const qboErrors = {
  409: errorResponse(
    "invalid_state, qbo_invoice_exists, qbo_invoice_in_progress, qbo_not_configured or qbo_reconnect_required",
  ),
  502: errorResponse("qbo_api_error: QuickBooks refused the request or answered nonsense"),
} as const;

export const jsonBody = <T extends z.ZodType>(schema: T, required = true) => ({
  content: { "application/json": { schema } },
  required,
});

export const jsonResponse = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { "application/json": { schema } },
  description,
});

const QboConnectionView = z
  .object({
    realmId: z.string().nullable(),
    environment: z.enum(QBO_ENVIRONMENTS).nullable(),
    itemId: z.string().nullable(),
    taxCodeId: z.string().nullable(),
    allowOnlinePayment: z.object({ card: z.boolean(), ach: z.boolean() }),
    depositAccountId: z.string().nullable(),
    connected: z.boolean(),
    needsReconnect: z.boolean(),
    accessTokenExpiresAt: z.string().nullable(),
    refreshTokenExpiresAt: z.string().nullable(),
    refreshTokenHardExpiresAt: z.string().nullable().openapi({
      description:
        "When the grant reaches Intuit's 5-year cap and must be reconnected whatever happens; null until Intuit has said. `qbo.reconnect_required` is emitted 30 days before.",
    }),
    lastRefreshedAt: z.string().nullable(),
    previousRealms: z.array(z.object({ realmId: z.string(), openInvoices: z.number().int() })).openapi({
      description:
        "Other QuickBooks companies that still hold live invoices of this conference's POs (after a forced reconnect). Those POs are not synced, sent or voided until the conference is connected to that company again.",
    }),
  })
  .openapi("QboConnection");

export const ConferenceView = z
  .object({
    slug: z.string(),
    name: z.string(),
    currency: z.string(),
    qbo: QboConnectionView,
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("Conference");

/** A payment's or credit note's QuickBooks counterpart (SPEC §9). */
export const QboLinkView = z
  .object({
    id: z.string().nullable().openapi({ description: "The QBO Payment or CreditMemo id; null until pushed" }),
    state: z.enum(QBO_PUSH_STATES).openapi({
      description:
        "`pending`: on its way to QuickBooks (or its void is); `synced`: QuickBooks has it; `failed`: the push gave up (see `error`; retry with POST …/qbo/outbox/retry)",
    }),
    error: z.string().optional().openapi({ description: "Why the push failed (state `failed` only)" }),
  })
  .openapi("QboLink", {
    description: "null when there is nothing to push (no QuickBooks invoice yet)",
  });
export type QboLinkJson = z.infer<typeof QboLinkView>;

export const PurchaseOrderView = z
  .object({
    reference: z.string(),
    conference: z.string(),
    status: z.enum(PO_STATUSES),
    organizationName: z.string(),
    contactName: z.string(),
    contactEmail: z.string(),
    billingAddress: z.string(),
    notes: z.string(),
    lineItems: z.array(
      z.object({
        id: z.number(),
        description: z.string(),
        quantity: z.number(),
        unitPrice: MoneyOutput,
        lineTotal: MoneyOutput,
      }),
    ),
    subtotal: MoneyOutput,
    tax: MoneyOutput.openapi({
      description: "QuickBooks' tax on the invoice (`TxnTaxDetail.TotalTax`); 0.00 before invoicing",
    }),
    total: MoneyOutput.openapi({ description: "subtotal + tax" }),
    totalPaid: MoneyOutput,
    totalCredited: MoneyOutput,
    balanceDue: MoneyOutput,
    payments: z.array(
      z.object({
        id: z.number(),
        amount: MoneyOutput,
        method: z.enum(PAYMENT_METHODS),
        reference: z.string(),
        paymentDate: z.string(),
        note: z.string(),
        source: z.enum(PAYMENT_SOURCES),
        createdAt: z.string(),
        voidedAt: z.string().nullable(),
        voidReason: z.string().nullable(),
        qbo: QboLinkView.nullable(),
      }),
    ),
    creditNotes: z.array(
      z.object({
        id: z.number(),
        amount: MoneyOutput,
        reason: z.string(),
        source: z.enum(PAYMENT_SOURCES),
        createdAt: z.string(),
        voidedAt: z.string().nullable(),
        voidReason: z.string().nullable(),
        qbo: QboLinkView.nullable(),
      }),
    ),
    qbo: z
      .object({
        invoiceId: z.string(),
        invoiceUrl: z.string().nullable(),
        paymentLink: z.string().nullable(),
        customerId: z.string().nullable(),
        docNumber: z.string().nullable(),
        totalAmt: MoneyOutput.nullable(),
        balance: MoneyOutput.nullable(),
        emailStatus: z.string().nullable(),
        lastSyncedAt: z.string().nullable(),
        realmId: z
          .string()
          .nullable()
          .openapi({ description: "The QuickBooks company the invoice lives in" }),
        exchangeRate: z.string().nullable().openapi({
          description: "Home-currency units per 1 unit of the invoice's currency, when QuickBooks gives one",
        }),
        voidedAt: z
          .string()
          .nullable()
          .openapi({ description: "When the invoice was voided (here or seen voided/deleted in QBO)" }),
        discrepancy: z
          .object({ kind: z.enum(DISCREPANCY_KINDS), message: z.string(), detectedAt: z.string() })
          .nullable(),
      })
      .nullable(),
    createdAt: z.string(),
    updatedAt: z.string(),
  })
  .openapi("PurchaseOrder");

export type PurchaseOrderJson = z.infer<typeof PurchaseOrderView>;
export type ConferenceJson = z.infer<typeof ConferenceView>;
