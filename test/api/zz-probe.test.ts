import { it } from "vitest";
import { call, createConference, createPo } from "../helpers";

it("probe", async () => {
  const doc = await call("GET", "/openapi.json", undefined, { token: null });
  console.log(JSON.stringify(doc.body.components.securitySchemes), JSON.stringify(doc.body.paths["/api/conferences/{slug}/purchase-orders"].post.security));
  console.log(JSON.stringify(doc.body.components.schemas.CreatePurchaseOrder).slice(0, 1500));
  console.log(JSON.stringify(doc.body.paths["/api/conferences/{slug}/purchase-orders"].get.parameters));
  const slug = await createConference();
  const po = await createPo(slug);
  const r = await call("POST", `/api/conferences/${slug}/purchase-orders/${po.reference}/cancel`, undefined, { rawBody: "" });
  console.log("cancel empty json body", r.status, JSON.stringify(r.body));
  const r2 = await call("POST", `/api/conferences/${slug}/purchase-orders/${po.reference}/cancel`, undefined, { rawBody: "x", headers: {"content-type": "text/plain"} });
  console.log("cancel text body", r2.status, JSON.stringify(r2.body));
  const r3 = await call("GET", `/api/conferences/${slug}/purchase-orders?status=draft&status=sent`);
  console.log("double status", r3.status, JSON.stringify(r3.body).slice(0,200));
});
