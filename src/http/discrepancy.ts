import { createRoute, z } from "@hono/zod-openapi";
import { makeDb } from "../db/client";
import { acknowledgeDiscrepancy } from "../services/discrepancy";
import { eventContext } from "./actor";
import type { App } from "./app-types";
import { commonErrors, errorResponse, jsonBody, jsonResponse, PoParams, PurchaseOrderView } from "./schemas";
import { purchaseOrderView } from "./views";

const AcknowledgeBody = z
  .object({ note: z.string().trim().min(1).max(2000) })
  .openapi("AcknowledgeDiscrepancy", { description: "Why the discrepancy is fine (kept in the timeline)." });

export function registerDiscrepancyRoutes(app: App): void {
  app.openapi(
    createRoute({
      method: "post",
      path: "/api/conferences/{slug}/purchase-orders/{reference}/discrepancy/acknowledge",
      security: [{ bearer: [] }],
      description:
        "A person has looked at the PO's QuickBooks discrepancy: it is cleared, and the timeline gets `qbo.discrepancy_acknowledged` with what it was and the note. A later sync that finds the same problem raises it again. 409 `invalid_state` when the PO has none.",
      request: { params: PoParams, body: jsonBody(AcknowledgeBody) },
      responses: {
        200: jsonResponse(PurchaseOrderView, "The PO without the discrepancy"),
        ...commonErrors,
        409: errorResponse("invalid_state"),
      },
    }),
    async (c) => {
      const { slug, reference } = c.req.valid("param");
      const po = await acknowledgeDiscrepancy(
        makeDb(c.env.DB),
        slug,
        reference,
        c.req.valid("json").note,
        eventContext(c),
      );
      return c.json(purchaseOrderView(po), 200);
    },
  );
}
