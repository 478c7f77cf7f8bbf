import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import { PAYMENT_METHODS } from "../domain/payments";
import { PO_STATUSES } from "../domain/po-status";
import {
  createPurchaseOrder,
  getPurchaseOrder,
  listPurchaseOrders,
  recordCreditNote,
  recordPayment,
  sendPurchaseOrder,
  voidMoney,
} from "../services/purchase-orders";
import { cancelPurchaseOrderWithInvoice } from "../services/qbo-invoice";
import { eventContext } from "./actor";
import type { App, AppRouteHandler } from "./app-types";
import {
  ConferenceParams,
  commonErrors,
  DateString,
  errorResponse,
  jsonBody,
  jsonResponse,
  MoneyInput,
  PoParams,
  PurchaseOrderView,
  qboErrors,
} from "./schemas";
import { purchaseOrderView } from "./views";

const PositiveMoney = MoneyInput.refine((cents) => cents > 0, "Must be greater than zero");
const NonNegativeMoney = MoneyInput.refine((cents) => cents >= 0, "Must not be negative");

const CreatePoBody = z
  .object({
    organizationName: z.string().trim().min(1).max(100),
    contactName: z.string().trim().min(1).max(200),
    contactEmail: z.email().max(254),
    billingAddress: z.string().max(2000).optional(),
    notes: z.string().max(5000).optional(),
    lineItems: z
      .array(
        z.object({
          description: z.string().trim().min(1).max(4000),
          quantity: z.number().int().positive().max(1_000_000),
          unitPrice: NonNegativeMoney,
        }),
      )
      .min(1)
      .max(250),
  })
  .openapi("CreatePurchaseOrder");

const ListQuery = z.object({
  status: z.enum(PO_STATUSES).optional(),
  qbo: z.enum(["outstanding", "discrepancy", "pending_push", "push_failed"]).optional().openapi({
    description:
      "`outstanding`: a live QBO invoice, not paid. `discrepancy`: reconciliation flagged it. `pending_push`: a payment or credit note (or its void) still on its way to QuickBooks. `push_failed`: a push that gave up (see GET …/qbo/sync `outbox.failed`; POST …/qbo/outbox/retry).",
  }),
  limit: z.coerce.number().int().min(1).max(100).default(50),
  cursor: z.string().max(64).optional(),
});

const PaymentBody = z
  .object({
    amount: PositiveMoney,
    method: z.enum(PAYMENT_METHODS),
    reference: z.string().max(200).default(""),
    paymentDate: DateString,
    note: z.string().max(2000).default(""),
  })
  .openapi("RecordPayment");

const CreditNoteBody = z
  .object({ amount: PositiveMoney, reason: z.string().trim().min(1).max(2000) })
  .openapi("RecordCreditNote");

const CancelBody = z
  .object({
    qboInvoice: z.enum(["keep", "void", "credit"]).optional().openapi({
      description:
        "What happens to the QBO invoice (default `keep`). `void`: voided in QuickBooks; refused (409 `invalid_state`) while payments are applied to it. `credit`: a credit note of the open balance is recorded and pushed as a CreditMemo applied to the invoice, so it closes at 0 in QuickBooks with the reason on the books.",
    }),
    voidQboInvoice: z.boolean().optional().openapi({ description: "Version 1 spelling: true means `void`." }),
  })
  .refine(
    (b) =>
      b.qboInvoice === undefined ||
      b.voidQboInvoice === undefined ||
      (b.qboInvoice === "void") === b.voidQboInvoice,
    { message: "qboInvoice and voidQboInvoice disagree", path: ["qboInvoice"] },
  )
  .transform((b) => ({ qboInvoice: b.qboInvoice ?? (b.voidQboInvoice ? "void" : "keep") }))
  .openapi("CancelPurchaseOrder");

const VoidBody = z
  .object({ reason: z.string().trim().min(1).max(2000) })
  .openapi("VoidMoney", { description: "Why the row is voided (kept with it)." });

const MoneyRowParams = PoParams.extend({
  id: z.coerce
    .number()
    .int()
    .positive()
    .max(Number.MAX_SAFE_INTEGER)
    .openapi({ param: { name: "id", in: "path" }, example: 42 }),
});

const security = [{ bearer: [] }];
const stateError = { 409: errorResponse("invalid_state") };

export function registerPurchaseOrderRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders",
      security,
      request: { params: ConferenceParams, body: jsonBody(CreatePoBody) },
      responses: { 201: jsonResponse(PurchaseOrderView, "The PO, in draft"), ...commonErrors },
    }),
    async (c) => {
      const body = c.req.valid("json");
      const po = await createPurchaseOrder(
        makeDb(c.env.DB),
        c.req.valid("param").slug,
        body,
        eventContext(c),
      );
      return c.json(purchaseOrderView(po), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/purchase-orders",
      security,
      request: { params: ConferenceParams, query: ListQuery },
      responses: {
        200: jsonResponse(
          z.object({ items: z.array(PurchaseOrderView), nextCursor: z.string().nullable() }),
          "A page of POs, newest first",
        ),
        ...commonErrors,
      },
    }),
    async (c) => {
      const page = await listPurchaseOrders(
        makeDb(c.env.DB),
        c.req.valid("param").slug,
        c.req.valid("query"),
      );
      return c.json({ items: page.items.map(purchaseOrderView), nextCursor: page.nextCursor }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: "/api/conferences/{slug}/purchase-orders/{reference}",
      security,
      request: { params: PoParams },
      responses: { 200: jsonResponse(PurchaseOrderView, "The PO"), ...commonErrors },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      return c.json(purchaseOrderView(await getPurchaseOrder(makeDb(c.env.DB), slug, reference)), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/send",
      security,
      description: "Marks a draft PO as sent.",
      request: { params: PoParams },
      responses: { 200: jsonResponse(PurchaseOrderView, "The PO, sent"), ...commonErrors, ...stateError },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      return c.json(
        purchaseOrderView(await sendPurchaseOrder(makeDb(c.env.DB), slug, reference, eventContext(c))),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/cancel",
      security,
      description:
        'Cancels the PO (payments and credit notes are kept). `qboInvoice: "void"` (or `voidQboInvoice: true`) voids its QBO invoice too (409 `invalid_state` when payments are applied to it); on a PO cancelled earlier with its invoice kept, it voids the invoice now. `qboInvoice: "credit"` records a credit note of the open balance, pushed as a CreditMemo applied to the invoice (through the outbox). 409 `qbo_invoice_in_progress` while the invoice is being created.',
      request: { params: PoParams, body: jsonBody(CancelBody, false) },
      responses: { 200: jsonResponse(PurchaseOrderView, "The PO, cancelled"), ...commonErrors, ...qboErrors },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      // Without a JSON body the validator is skipped: nothing asked for means keep.
      const qboInvoice = c.req.valid("json")?.qboInvoice ?? "keep";
      const po = await cancelPurchaseOrderWithInvoice(
        c.env,
        makeDb(c.env.DB),
        slug,
        reference,
        qboInvoice,
        eventContext(c),
      );
      return c.json(purchaseOrderView(po), 200);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/payments",
      security,
      request: { params: PoParams, body: jsonBody(PaymentBody) },
      responses: {
        201: jsonResponse(PurchaseOrderView, "The PO with the payment"),
        ...commonErrors,
        ...stateError,
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const p = c.req.valid("json");
      const payment = {
        amountCents: p.amount,
        method: p.method,
        reference: p.reference,
        paymentDate: p.paymentDate,
        note: p.note,
      };
      const po = await recordPayment(c.env, makeDb(c.env.DB), slug, reference, payment, eventContext(c));
      return c.json(purchaseOrderView(po), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/credit-notes",
      security,
      request: { params: PoParams, body: jsonBody(CreditNoteBody) },
      responses: {
        201: jsonResponse(PurchaseOrderView, "The PO with the credit note"),
        ...commonErrors,
        ...stateError,
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const { amount, reason } = c.req.valid("json");
      const po = await recordCreditNote(
        c.env,
        makeDb(c.env.DB),
        slug,
        reference,
        { amountCents: amount, reason },
        eventContext(c),
      );
      return c.json(purchaseOrderView(po), 201);
    },
  );

  app.openapi(voidRoute("payment"), voidHandler("payment"));
  app.openapi(voidRoute("credit_note"), voidHandler("credit_note"));
}

type MoneyKind = "payment" | "credit_note";

function voidRoute(kind: MoneyKind) {
  const noun = kind === "payment" ? "payment" : "credit note";
  return createRoute({
    method: "post",
    path: `/api/conferences/{slug}/purchase-orders/{reference}/${kind === "payment" ? "payments" : "credit-notes"}/{id}/void`,
    security,
    description: `Voids a ${noun} recorded here by mistake: it is kept with \`voidedAt\` and the reason, leaves the totals, and the status is recomputed.${kind === "payment" ? " Payments recorded from QuickBooks follow QuickBooks (409)." : ""}`,
    request: { params: MoneyRowParams, body: jsonBody(VoidBody) },
    responses: {
      200: jsonResponse(PurchaseOrderView, `The PO without the ${noun} in its totals`),
      ...commonErrors,
      ...stateError,
    },
  });
}

function voidHandler(kind: MoneyKind): AppRouteHandler<ReturnType<typeof voidRoute>> {
  return async (c) => {
    const { slug, reference, id } = c.req.valid("param");
    const { reason } = c.req.valid("json");
    return c.json(
      purchaseOrderView(
        await voidMoney(c.env, makeDb(c.env.DB), slug, reference, kind, id, reason, eventContext(c)),
      ),
      200,
    );
  };
}
