/**
 * SPEC §15 "Cancel never strands an invoice": a cancel cannot land while the invoice is being
 * created, and a cancelled PO that kept its invoice is still reconciled and can be voided later.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { call, connectedConference, createPo, emulator, invoicedPo, UNTAXED } from "../helpers";

const poPath = (slug: string, ref: string) => `/api/conferences/${slug}/purchase-orders/${ref}`;

describe("cancelling while the QuickBooks invoice is being created", () => {
  it("answers 409 qbo_invoice_in_progress, and the invoice then lands on a live PO", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const { reference } = await createPo(slug);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "latency", ms: 1500, match: { operation: "create:invoice" } }],
    });

    const creating = call("POST", `${poPath(slug, reference)}/qbo-invoice`, {});
    await vi.waitFor(
      async () => {
        const row = await env.DB.prepare(
          "SELECT qbo_create_claimed_at FROM purchase_orders WHERE reference = ?",
        )
          .bind(reference)
          .first<{ qbo_create_claimed_at: string | null }>();
        expect(row?.qbo_create_claimed_at).not.toBeNull();
      },
      { timeout: 5_000, interval: 20 },
    );
    const cancel = await call("POST", `${poPath(slug, reference)}/cancel`, {});
    const created = await creating;

    expect(cancel.status).toBe(409);
    expect(cancel.body.error.code).toBe("qbo_invoice_in_progress");
    expect(created.status, JSON.stringify(created.body)).toBe(201);
    expect(created.body).toMatchObject({ status: "sent", qbo: { invoiceId: expect.any(String) } });
    const after = await call("POST", `${poPath(slug, reference)}/cancel`, { qboInvoice: "void" });
    expect(after.status, JSON.stringify(after.body)).toBe(200);
    expect(after.body.status).toBe("cancelled");
    expect(after.body.qbo.voidedAt).toEqual(expect.any(String));
  });

  it("lets a cancel through once the claim is older than a live request can be", async () => {
    const { slug } = await connectedConference({ settings: UNTAXED });
    const { reference } = await createPo(slug);
    const stale = new Date(Date.now() - 3 * 60 * 1000).toISOString();
    await env.DB.prepare("UPDATE purchase_orders SET qbo_create_claimed_at = ? WHERE reference = ?")
      .bind(stale, reference)
      .run();

    const res = await call("POST", `${poPath(slug, reference)}/cancel`, {});

    expect(res.status).toBe(200);
    expect(res.body.status).toBe("cancelled");
  });
});

describe("a cancelled PO that kept its QuickBooks invoice", () => {
  it("is still reconciled: money paid in QuickBooks is recorded and flagged, and the PO stays cancelled", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("300.00", UNTAXED);
    expect((await call("POST", `${poPath(slug, reference)}/cancel`, {})).body.status).toBe("cancelled");
    await emulator().recordPayment(realmId, invoiceId, { amount: "300.00", webhook: false });

    const outstanding = (await call("GET", `/api/conferences/${slug}/purchase-orders?qbo=outstanding`)).body;
    expect(outstanding.items.map((p: any) => p.reference)).toEqual([reference]);
    const res = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", totalPaid: "300.00", balanceDue: "0.00" });
    expect(res.body.payments).toMatchObject([{ amount: "300.00", source: "qbo" }]);
    expect(res.body.qbo.discrepancy).toMatchObject({ kind: "cancelled_po_paid" });
    const again = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);
    expect(again.body.payments).toHaveLength(1);
  });

  it("can have its invoice voided later with qboInvoice: void, once", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("300.00", UNTAXED);
    await call("POST", `${poPath(slug, reference)}/cancel`, {});

    const res = await call("POST", `${poPath(slug, reference)}/cancel`, { qboInvoice: "void" });

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.status).toBe("cancelled");
    expect(res.body.qbo).toMatchObject({ totalAmt: "0.00", voidedAt: expect.any(String) });
    const inQbo = (await emulator().invoices(realmId)).invoices.find((i) => i.Id === invoiceId);
    expect(inQbo).toMatchObject({ TotalAmt: 0 });
    const twice = await call("POST", `${poPath(slug, reference)}/cancel`, { voidQboInvoice: true });
    expect(twice.status).toBe(409);
    expect(twice.body.error.code).toBe("invalid_state");
    const sync = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);
    expect(sync.status).toBe(409);
    const outstanding = (await call("GET", `/api/conferences/${slug}/purchase-orders?qbo=outstanding`)).body;
    expect(outstanding.items).toEqual([]);
  });

  it("answers 409 to a second cancel that asks for nothing more", async () => {
    const { slug, reference } = await invoicedPo("300.00", UNTAXED);
    await call("POST", `${poPath(slug, reference)}/cancel`, {});

    const res = await call("POST", `${poPath(slug, reference)}/cancel`, { qboInvoice: "keep" });

    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("invalid_state");
  });

  it("refuses a body whose two spellings disagree with 400, and changes nothing", async () => {
    const { slug, reference } = await invoicedPo("300.00", UNTAXED);

    const res = await call("POST", `${poPath(slug, reference)}/cancel`, {
      qboInvoice: "keep",
      voidQboInvoice: true,
    });

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe("validation_failed");
    expect((await call("GET", poPath(slug, reference))).body.status).toBe("sent");
  });
});
