import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import { createQboInvoice, qboInvoicePdf, sendQboInvoice, syncQboInvoice } from "../services/qbo-invoice";
import { eventContext } from "./actor";
import type { App } from "./app-types";
import { commonErrors, jsonBody, jsonResponse, PoParams, PurchaseOrderView, qboErrors } from "./schemas";
import { purchaseOrderView } from "./views";

const CreateInvoiceBody = z.object({ send: z.boolean().default(false) }).openapi("CreateQboInvoice");
const security = [{ bearer: [] }];
const base = "/api/conferences/{slug}/purchase-orders/{reference}/qbo-invoice";

export function registerQboInvoiceRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: base,
      security,
      description:
        "Creates the PO's QuickBooks invoice (finding or creating the customer). Exactly one invoice per PO, ever. `send: true` also emails it.",
      request: { params: PoParams, body: jsonBody(CreateInvoiceBody, false) },
      responses: {
        201: jsonResponse(PurchaseOrderView, "The PO with `qbo` filled"),
        ...commonErrors,
        ...qboErrors,
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const { send } = CreateInvoiceBody.parse(c.req.valid("json") ?? {});
      const po = await createQboInvoice(c.env, makeDb(c.env.DB), slug, reference, { send }, eventContext(c));
      return c.json(purchaseOrderView(po), 201);
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/send`,
      security,
      description: "Emails the invoice through QuickBooks to the PO's contact email.",
      request: { params: PoParams },
      responses: { 200: jsonResponse(PurchaseOrderView, "The PO"), ...commonErrors, ...qboErrors },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      return c.json(
        purchaseOrderView(await sendQboInvoice(c.env, makeDb(c.env.DB), slug, reference, eventContext(c))),
        200,
      );
    },
  );

  app.openapi(
    createRoute({
      method: "get",
      path: `${base}/pdf`,
      security,
      request: { params: PoParams },
      responses: {
        200: {
          content: { "application/pdf": { schema: z.string().openapi({ format: "binary" }) } },
          description: "The invoice PDF",
        },
        ...commonErrors,
        ...qboErrors,
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const pdf = await qboInvoicePdf(c.env, makeDb(c.env.DB), slug, reference);
      return c.body(pdf, 200, {
        "content-type": "application/pdf",
        "content-disposition": `inline; filename="${reference}.pdf"`,
      });
    },
  );

  app.openapi(
    createRoute({
      method: "post",
      path: `${base}/sync`,
      security,
      description:
        "Reconciles the invoice's balance onto the PO now (records QBO payments, flags discrepancies).",
      request: { params: PoParams },
      responses: {
        200: jsonResponse(PurchaseOrderView, "The PO after reconciling"),
        ...commonErrors,
        ...qboErrors,
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      return c.json(
        purchaseOrderView(await syncQboInvoice(c.env, makeDb(c.env.DB), slug, reference, eventContext(c))),
        200,
      );
    },
  );
}
