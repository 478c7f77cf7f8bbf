/**
 * The ledger, ours → QBO (SPEC §9 "Ours → QBO", "Outbox", "Cancel"): payments and credit notes
 * recorded through the API reach QuickBooks through the outbox and the sync queue, exactly once,
 * whatever QuickBooks does meanwhile. Every test runs the real route, queue and consumer against
 * the emulator; each turns off tax (amounts are then the PO's lines) and Intuit's 10 requests a
 * second (an invoice and a credit memo push in the same second pass it; a 429 makes the push wait
 * 60 s, correct but too slow for a test: the rate budget has its own tests).
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { makeDb } from "../../src/db/client";
import { redriveStalePushes } from "../../src/ledger/outbox";
import { pushPurchaseOrder } from "../../src/ledger/push";
import {
  call,
  connectedConference as connectedConferenceThrottled,
  createPo,
  emulator,
  expectError,
  invoicedPo as invoicedPoThrottled,
  paths,
  UNTAXED,
} from "../helpers";

async function invoicedPo(...args: Parameters<typeof invoicedPoThrottled>) {
  const po = await invoicedPoThrottled(...args);
  await emulator().setLimits(po.realmId, {});
  return po;
}

async function connectedConference(...args: Parameters<typeof connectedConferenceThrottled>) {
  const conference = await connectedConferenceThrottled(...args);
  await emulator().setLimits(conference.realmId, {});
  return conference;
}

const WAIT = { timeout: 15_000, interval: 100 };

const wire = (amount: string, extra: Record<string, unknown> = {}) => ({
  amount,
  method: "wire",
  paymentDate: "2026-11-30",
  reference: "WIRE-2026-11-30-ACME-CORP-000042",
  ...extra,
});

async function getPo(slug: string, reference: string) {
  const res = await call("GET", paths.po(slug, reference));
  expect(res.status).toBe(200);
  return res.body;
}

/** Waits until every money row of the PO has left `pending`; returns the PO. */
async function settled(slug: string, reference: string) {
  let po: any;
  await vi.waitFor(async () => {
    po = await getPo(slug, reference);
    const rows = [...po.payments, ...po.creditNotes];
    expect(rows.filter((r: any) => r.qbo?.state === "pending")).toEqual([]);
  }, WAIT);
  return po;
}

async function qboPayments(realmId: string) {
  return ((await emulator().payments(realmId)).payments as any[]).filter((p) => p.status !== "Deleted");
}

async function qboInvoice(realmId: string, invoiceId: string) {
  return ((await emulator().invoices(realmId)).invoices as any[]).find((i) => i.Id === invoiceId);
}

describe("a payment recorded here", () => {
  it("answers 201 at once while QuickBooks is down, then becomes a linked QBO Payment", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", UNTAXED);
    await call("PUT", paths.conference(slug), {
      name: "Test Conf",
      qbo: { realmId, environment: "sandbox", depositAccountId: "35" },
    });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 503, times: 1, match: { operation: "create:payment" } }],
    });

    const res = await call("POST", paths.payments(slug, reference), wire("500.00"));

    expect(res.status, JSON.stringify(res.body)).toBe(201);
    expect(res.body.payments[0]).toMatchObject({
      source: "manual",
      voidedAt: null,
      qbo: { id: null, state: "pending" },
    });
    expect(res.body).toMatchObject({ status: "partially_paid", totalPaid: "500.00", balanceDue: "700.00" });

    const po = await settled(slug, reference);
    const [payment] = await qboPayments(realmId);
    expect(po.payments[0].qbo).toEqual({ id: payment.Id, state: "synced" });
    expect(payment).toMatchObject({
      TotalAmt: 500,
      TxnDate: "2026-11-30",
      PaymentRefNum: "WIRE-2026-11-30-ACME-",
      DepositToAccountRef: { value: "35" },
      Line: [{ Amount: 500, LinkedTxn: [{ TxnId: invoiceId, TxnType: "Invoice" }] }],
    });
    expect(payment.PrivateNote).toContain(`qpo-payment:${slug}:${po.payments[0].id}`);
    expect(payment.PrivateNote).toContain(reference);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(700);
    const events = (await call("GET", `${paths.po(slug, reference)}/events`)).body;
    const pushed = (Array.isArray(events) ? events : events.items).filter(
      (e: any) => e.type === "payment.pushed",
    );
    expect(pushed).toHaveLength(1);
    expect(pushed[0]).toMatchObject({
      actor: { type: "system" },
      data: { amount: "500.00", qboPaymentId: payment.Id },
    });
  });

  it("makes one QBO payment when the answer is lost after QuickBooks committed it", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { operation: "create:payment" } }],
    });

    expect((await call("POST", paths.payments(slug, reference), wire("100.00"))).status).toBe(201);

    const po = await settled(slug, reference);
    const payments = await qboPayments(realmId);
    expect(payments).toHaveLength(1);
    expect(po.payments[0].qbo).toEqual({ id: payments[0].Id, state: "synced" });
  });

  it("finds its payment by the PrivateNote marker when QuickBooks has forgotten the requestid", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", {
      ...UNTAXED,
      requestIdRetentionSeconds: 0,
    });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { operation: "create:payment" } }],
    });

    expect((await call("POST", paths.payments(slug, reference), wire("100.00"))).status).toBe(201);

    const po = await settled(slug, reference);
    const payments = await qboPayments(realmId);
    expect(payments).toHaveLength(1);
    expect(po.payments[0].qbo).toEqual({ id: payments[0].Id, state: "synced" });
  });

  it("makes one QBO payment when several push runs for the PO meet (two messages, a re-drive)", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "latency", ms: 300, times: 1, match: { operation: "create:payment" } }],
    });
    const poId = (
      await env.DB.prepare("SELECT id FROM purchase_orders WHERE reference = ?")
        .bind(reference)
        .first<{ id: number }>()
    )?.id as number;

    await call("POST", paths.payments(slug, reference), wire("100.00"));
    const db = makeDb(env.DB);
    await Promise.all([pushPurchaseOrder(env, db, poId), pushPurchaseOrder(env, db, poId)]);

    await settled(slug, reference);
    expect(await qboPayments(realmId)).toHaveLength(1);
  });

  it("shows a refused push as failed, lists it in the sync status and the PO filter, and retries it", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 400, times: 1, match: { operation: "create:payment" } }],
    });

    expect((await call("POST", paths.payments(slug, reference), wire("100.00"))).status).toBe(201);

    let po: any;
    await vi.waitFor(async () => {
      po = await getPo(slug, reference);
      expect(po.payments[0].qbo.state).toBe("failed");
    }, WAIT);
    expect(po.payments[0].qbo.error).toEqual(expect.any(String));
    const status = (await call("GET", paths.qboSync(slug))).body;
    expect(status.outbox).toEqual({
      pending: 0,
      failed: [
        expect.objectContaining({
          reference,
          kind: "payment",
          id: po.payments[0].id,
          action: "create",
          error: expect.any(String),
        }),
      ],
    });
    const failedList = (await call("GET", paths.pos(slug, { qbo: "push_failed" }))).body.items;
    expect(failedList.map((p: any) => p.reference)).toEqual([reference]);

    const retry = await call("POST", `${paths.conference(slug)}/qbo/outbox/retry`);
    expect(retry.status, JSON.stringify(retry.body)).toBe(202);
    expect(retry.body).toEqual({ retried: 1, purchaseOrders: 1 });

    po = await settled(slug, reference);
    expect(po.payments[0].qbo).toEqual({ id: expect.any(String), state: "synced" });
    expect(await qboPayments(realmId)).toHaveLength(1);
    expect((await call("GET", paths.qboSync(slug))).body.outbox).toEqual({ pending: 0, failed: [] });
    expect((await call("GET", paths.pos(slug, { qbo: "push_failed" }))).body.items).toEqual([]);
  });

  it("is pushed right after the invoice is created when it was recorded before (a deposit)", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const { reference } = await createPo(slug);
    const early = await call("POST", paths.payments(slug, reference), wire("200.00"));
    expect(early.body).toMatchObject({ status: "partially_paid", totalPaid: "200.00" });
    expect(early.body.payments[0].qbo).toBeNull();
    await call("POST", paths.payments(slug, reference), wire("100.00", { reference: "second" }));

    const created = await call("POST", paths.qboInvoice(slug, reference), {});

    expect(created.status, JSON.stringify(created.body)).toBe(201);
    const po = await settled(slug, reference);
    expect(po.status).toBe("partially_paid");
    expect(po.payments.map((p: any) => p.qbo.state)).toEqual(["synced", "synced"]);
    expect(await qboPayments(realmId)).toHaveLength(2);
    expect((await qboInvoice(realmId, created.body.qbo.invoiceId)).Balance).toBe(900);
  });

  it("keeps a pending push in the pending_push filter until QuickBooks has it; the cron re-drives a lost one", async () => {
    const { slug, realmId, reference } = await invoicedPo("1200.00", UNTAXED);
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 400, times: 1, match: { operation: "create:payment" } }],
    });
    await call("POST", paths.payments(slug, reference), wire("50.00"));
    await vi.waitFor(
      async () => expect((await getPo(slug, reference)).payments[0].qbo.state).toBe("failed"),
      WAIT,
    );
    // As if the push had been pending for 10 minutes and its queue message were lost.
    const old = new Date(Date.now() - 10 * 60_000).toISOString();
    await env.DB.prepare(
      "UPDATE ledger_outbox SET state = 'pending', updated_at = ? WHERE conference_slug = ?",
    )
      .bind(old, slug)
      .run();
    await env.DB.prepare(
      "UPDATE payments SET qbo_state = 'pending', qbo_error = NULL WHERE id = (SELECT row_id FROM ledger_outbox WHERE conference_slug = ?)",
    )
      .bind(slug)
      .run();
    expect(
      (await call("GET", paths.pos(slug, { qbo: "pending_push" }))).body.items.map((p: any) => p.reference),
    ).toEqual([reference]);

    expect(await redriveStalePushes(env, makeDb(env.DB))).toBeGreaterThanOrEqual(1);

    await settled(slug, reference);
    expect(await qboPayments(realmId)).toHaveLength(1);
    expect((await call("GET", paths.pos(slug, { qbo: "pending_push" }))).body.items).toEqual([]);
  });

  it("voids its QBO payment when voided here after it was pushed", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", UNTAXED);
    await call("POST", paths.payments(slug, reference), wire("300.00"));
    const pushed = await settled(slug, reference);

    const res = await call("POST", `${paths.payments(slug, reference)}/${pushed.payments[0].id}/void`, {
      reason: "entered twice",
    });

    expect(res.status).toBe(200);
    expect(res.body.payments[0]).toMatchObject({ voidedAt: expect.any(String), qbo: { state: "pending" } });
    expect(res.body.totalPaid).toBe("0.00");
    const po = await settled(slug, reference);
    expect(po.payments[0].qbo).toEqual({ id: pushed.payments[0].qbo.id, state: "synced" });
    const [payment] = await qboPayments(realmId);
    expect(payment.TotalAmt).toBe(0);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1200);
  });
});

describe("a credit note recorded here", () => {
  it.each([
    ["on", true],
    ["off", false],
  ])(
    "becomes a CreditMemo applied to the invoice (QBO's automatic credits %s)",
    async (_, autoApplyCredits) => {
      const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", {
        ...UNTAXED,
        autoApplyCredits,
      });

      const res = await call("POST", paths.creditNotes(slug, reference), {
        amount: "150.00",
        reason: "Booth downgraded",
      });

      expect(res.status).toBe(201);
      expect(res.body.creditNotes[0]).toMatchObject({ source: "manual", qbo: { state: "pending" } });
      const po = await settled(slug, reference);
      const memos = (await emulator().creditMemos(realmId)).creditMemos as any[];
      expect(memos).toHaveLength(1);
      expect(po.creditNotes[0].qbo).toEqual({ id: memos[0].Id, state: "synced" });
      expect(memos[0]).toMatchObject({ TotalAmt: 150, RemainingCredit: 0 });
      expect(memos[0].Line[0].Description).toBe("Booth downgraded");
      expect(memos[0].PrivateNote).toContain(`qpo-credit-note:${slug}:${po.creditNotes[0].id}`);
      expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1050);
      // One linking payment: QBO's own when it applied the credit, else ours.
      expect(await qboPayments(realmId)).toHaveLength(1);
    },
  );

  it("credits exactly its amount in an Automated Sales Tax company: the memo's line is the amount before tax", async () => {
    // The emulator's default company: automated sales tax at 8.875 %.
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00");
    expect((await qboInvoice(realmId, invoiceId)).TotalAmt).toBe(1306.5);

    await call("POST", paths.creditNotes(slug, reference), { amount: "150.00", reason: "Booth downgraded" });

    const po = await settled(slug, reference);
    expect(po.creditNotes[0].qbo.state).toBe("synced");
    const memos = (await emulator().creditMemos(realmId)).creditMemos as any[];
    expect(memos).toHaveLength(1);
    // 137.77 + 8.875 % (12.23) = 150.00: the customer is credited what the credit note says.
    expect(memos[0]).toMatchObject({ TotalAmt: 150, RemainingCredit: 0 });
    expect(memos[0].Line[0].Amount).toBe(137.77);
    expect(memos[0].Line[0].SalesItemLineDetail.TaxCodeRef.value).toBe("TAX");
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1156.5);
    expect(po).toMatchObject({ total: "1306.50", totalCredited: "150.00", balanceDue: "1156.50" });
  });

  it("voids a memo QuickBooks taxed at another rate than the invoice's and makes it again at the memo's own rate", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00");
    // The company's rate changed after the invoice (or the memo's line is taxed otherwise).
    await emulator().updateSettings(realmId, { tax: { mode: "automated", ratePercent: 10 } });

    await call("POST", paths.creditNotes(slug, reference), { amount: "150.00", reason: "Booth downgraded" });

    const po = await settled(slug, reference);
    expect(po.creditNotes[0].qbo.state).toBe("synced");
    const memos = (await emulator().creditMemos(realmId)).creditMemos as any[];
    expect(memos).toHaveLength(2);
    const [wrong, right] = memos;
    expect(wrong).toMatchObject({ TotalAmt: 0 });
    expect(wrong.PrivateNote).toMatch(/^Voided/);
    expect(right).toMatchObject({ TotalAmt: 150, RemainingCredit: 0 });
    expect(right.Line[0].Amount).toBe(136.36); // 136.36 + 10 % (13.64) = 150.00
    expect(po.creditNotes[0].qbo.id).toBe(right.Id);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1156.5);
  });

  it("after a push that died once its wrong memo was made, finds that memo by its marker, voids it, and credits exactly", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00");
    await emulator().updateSettings(realmId, { tax: { mode: "automated", ratePercent: 10 } });
    // QuickBooks makes the first memo and the answer is lost: the push retries from its marker.
    await emulator().setFaults(realmId, {
      rules: [{ kind: "commit-then-drop", times: 1, match: { operation: "create:creditmemo" } }],
    });

    await call("POST", paths.creditNotes(slug, reference), { amount: "150.00", reason: "Booth downgraded" });

    const po = await settled(slug, reference);
    expect(po.creditNotes[0].qbo.state).toBe("synced");
    const memos = (await emulator().creditMemos(realmId)).creditMemos as any[];
    const open = memos.filter((m) => m.TotalAmt !== 0);
    expect(open).toEqual([expect.objectContaining({ Id: po.creditNotes[0].qbo.id, TotalAmt: 150 })]);
    expect(memos.length).toBeGreaterThanOrEqual(2);
    for (const voided of memos.filter((m) => m.TotalAmt === 0)) expect(voided.PrivateNote).toMatch(/^Voided/);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1156.5);
  });
});

describe("cancelling a PO with a QuickBooks invoice", () => {
  it("refuses to void the invoice while payments are applied to it, here or in QuickBooks", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", UNTAXED);
    await call("POST", paths.payments(slug, reference), wire("100.00"));
    expectError(
      await call("POST", paths.cancel(slug, reference), { qboInvoice: "void" }),
      409,
      "invalid_state",
    );

    const other = await invoicedPo("1200.00", UNTAXED);
    await emulator().recordPayment(other.realmId, other.invoiceId, { amount: "10.00", webhook: false });
    expectError(
      await call("POST", paths.cancel(other.slug, other.reference), { voidQboInvoice: true }),
      409,
      "invalid_state",
    );

    expect((await getPo(slug, reference)).status).not.toBe("cancelled");
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBeGreaterThan(0);
    expect((await getPo(other.slug, other.reference)).status).not.toBe("cancelled");
  });

  it("with credit, closes the QBO invoice at 0 with a credit memo for the open balance", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", UNTAXED);
    await call("POST", paths.payments(slug, reference), wire("200.00"));

    const res = await call("POST", paths.cancel(slug, reference), { qboInvoice: "credit" });

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status: "cancelled", totalCredited: "1000.00", balanceDue: "0.00" });
    expect(res.body.creditNotes[0].reason).toContain("cancelled");
    const po = await settled(slug, reference);
    expect(po.status).toBe("cancelled");
    expect(po.creditNotes[0].qbo.state).toBe("synced");
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(0);
  });
});

describe("a credit memo QuickBooks applied to another invoice", () => {
  it("fails the push with an error that says where the credit went", async () => {
    const { slug, realmId, reference: older, invoiceId: olderInvoice } = await invoicedPo("500.00", UNTAXED);
    // A second PO of the same organization: the same QBO customer, a newer invoice.
    const { reference } = await createPo(slug, {
      lineItems: [{ description: "Booth", quantity: 1, unitPrice: "800.00" }],
    });
    const created = await call("POST", paths.qboInvoice(slug, reference), {});
    expect(created.status).toBe(201);

    await call("POST", paths.creditNotes(slug, reference), { amount: "100.00", reason: "Late booth" });

    let po: any;
    await vi.waitFor(async () => {
      po = await getPo(slug, reference);
      expect(po.creditNotes[0].qbo.state).toBe("failed");
    }, WAIT);
    expect(po.creditNotes[0].qbo.error).toContain(`invoice ${olderInvoice}`);
    expect(po.creditNotes[0].qbo.id).toEqual(expect.any(String));
    // Nothing was forced: QuickBooks' own application stands, and no second memo was made.
    expect((await qboInvoice(realmId, olderInvoice)).Balance).toBe(400);
    expect((await emulator().creditMemos(realmId)).creditMemos).toHaveLength(1);
    expect((await getPo(slug, older)).creditNotes).toEqual([]);
  });
});

describe("a credit note voided here after it was pushed", () => {
  it("voids its CreditMemo, so the invoice's balance comes back", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1200.00", {
      ...UNTAXED,
      autoApplyCredits: false,
    });
    await call("POST", paths.creditNotes(slug, reference), { amount: "200.00", reason: "Goodwill" });
    const pushed = await settled(slug, reference);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1000);

    const res = await call("POST", `${paths.creditNotes(slug, reference)}/${pushed.creditNotes[0].id}/void`, {
      reason: "not agreed",
    });

    expect(res.status).toBe(200);
    const po = await settled(slug, reference);
    expect(po.creditNotes[0]).toMatchObject({ voidedAt: expect.any(String), qbo: { state: "synced" } });
    const [memo] = (await emulator().creditMemos(realmId)).creditMemos as any[];
    expect(memo.TotalAmt).toBe(0);
    expect((await qboInvoice(realmId, invoiceId)).Balance).toBe(1200);
  });
});

describe("both halves of the ledger together", () => {
  it.each([
    ["applied by us", false],
    ["applied by QuickBooks", true],
  ])(
    "a sync after our pushes records nothing more: our payment and credit memo (%s) are recognised as ours",
    async (_, autoApplyCredits) => {
      const { slug, reference } = await invoicedPo("1000.00", { ...UNTAXED, autoApplyCredits });
      await call("POST", paths.payments(slug, reference), wire("300.00"));
      await call("POST", paths.creditNotes(slug, reference), { amount: "100.00", reason: "Goodwill" });
      const pushed = await settled(slug, reference);

      const synced = await call("POST", paths.qboInvoiceSync(slug, reference));

      expect(synced.status, JSON.stringify(synced.body)).toBe(200);
      expect(synced.body.payments.map((p: any) => [p.source, p.amount, p.qbo.id])).toEqual([
        ["manual", "300.00", pushed.payments[0].qbo.id],
      ]);
      expect(synced.body.creditNotes.map((c: any) => [c.source, c.amount, c.qbo.id])).toEqual([
        ["manual", "100.00", pushed.creditNotes[0].qbo.id],
      ]);
      expect(synced.body).toMatchObject({
        balanceDue: "600.00",
        qbo: { balance: "600.00", discrepancy: null },
      });
    },
  );
});
