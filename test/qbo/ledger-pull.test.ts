/**
 * SPEC §9 "QBO → ours": reconciliation follows the invoice's linked payments and credit memos,
 * one by one, with at most three QBO reads per batch.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { parseLedgerMarker } from "../../src/domain/ledger-markers";
import { paymentMethodOf, splitPayment } from "../../src/qbo/linked-txns";
import { Payment } from "../../src/qbo/schemas";
import { call, emulator, invoicedPo, paths, postWebhook, UNTAXED } from "../helpers";

const sync = (slug: string, reference: string) => call("POST", paths.qboInvoiceSync(slug, reference));
const getPo = (slug: string, reference: string) => call("GET", paths.po(slug, reference));
const timeline = async (slug: string, reference: string) =>
  (await call("GET", `${paths.po(slug, reference)}/events`)).body as {
    type: string;
    actor: { type: string };
  }[];

/** The QBO side of a row, as D1 holds it (the API shows it once the ledger's views land). */
async function qboColumns(table: "payments" | "credit_notes", id: number) {
  return env.DB.prepare(`SELECT source, qbo_id AS qboId, qbo_state AS qboState FROM ${table} WHERE id = ?`)
    .bind(id)
    .first<{ source: string; qboId: string | null; qboState: string | null }>();
}

async function invoiceOf(realmId: string, invoiceId: string) {
  const { invoices } = await emulator().invoices(realmId);
  const invoice = invoices.find((i) => i.Id === invoiceId);
  if (!invoice) throw new Error("invoice missing");
  return invoice as typeof invoice & { CustomerRef: { value: string } };
}

/** Reads by the last sync: invoice, payment and credit-memo queries. */
async function reads(realmId: string) {
  const { byOperation } = (await emulator().stats(realmId)).requests;
  return {
    invoice: byOperation["query:Invoice"] ?? 0,
    payment: byOperation["query:Payment"] ?? 0,
    creditMemo: byOperation["query:CreditMemo"] ?? 0,
    total: Object.values(byOperation).reduce((a, b) => a + b, 0),
  };
}

const classic = (realmId: string, name: string, id: string, operation: string) =>
  JSON.stringify({
    eventNotifications: [
      {
        realmId,
        dataChangeEvent: { entities: [{ name, id, operation, lastUpdated: new Date().toISOString() }] },
      },
    ],
  });

describe("QBO → ours: payments and credit memos line by line", () => {
  it("records a cash payment with its date, reference and method, in at most three reads", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("900.00", UNTAXED);
    const { Payment } = await emulator().payInvoice(realmId, invoiceId, {
      amount: "400.00",
      method: "WIRE transfer",
      reference: "WX-7781",
      webhook: false,
    });
    await emulator().resetStats(realmId);

    const res = await sync(slug, reference);

    expect(res.body.payments).toEqual([
      expect.objectContaining({
        amount: "400.00",
        method: "wire",
        reference: "WX-7781",
        paymentDate: Payment.TxnDate,
        source: "qbo",
      }),
    ]);
    expect(await qboColumns("payments", res.body.payments[0].id)).toEqual({
      source: "qbo",
      qboId: Payment.Id,
      qboState: "synced",
    });
    expect(res.body).toMatchObject({ status: "partially_paid", balanceDue: "500.00", creditNotes: [] });
    expect(res.body.qbo).toMatchObject({ balance: "500.00", discrepancy: null });
    expect(await reads(realmId)).toMatchObject({ invoice: 1, payment: 1, total: 2 });
    const events = await timeline(slug, reference);
    expect(events.filter((e) => e.type === "payment.recorded").map((e) => e.actor.type)).toEqual(["qbo"]);
  });

  it("records a credit memo applied in QBO as a credit note, never as a payment", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("300.00", UNTAXED);
    const { CreditMemo } = await emulator().createCreditMemo(realmId, {
      invoiceId,
      amount: "75.00",
      description: "Booth downgrade",
      webhook: false,
    });

    const res = await sync(slug, reference);

    expect(res.body.payments).toEqual([]);
    expect(res.body.creditNotes).toEqual([expect.objectContaining({ amount: "75.00" })]);
    expect(res.body.creditNotes[0].reason).toContain("Booth downgrade");
    expect(await qboColumns("credit_notes", res.body.creditNotes[0].id)).toEqual({
      source: "qbo",
      qboId: CreditMemo.Id,
      qboState: "synced",
    });
    expect(res.body).toMatchObject({ totalCredited: "75.00", balanceDue: "225.00", status: "sent" });
    expect(res.body.qbo.balance).toBe("225.00");
    const again = await sync(slug, reference);
    expect(again.body.creditNotes).toHaveLength(1);

    // Voided in QBO: the webhook names only the memo; the PO is found by the id its note carries.
    await emulator().voidCreditMemo(realmId, CreditMemo.Id, { webhook: false });
    expect((await postWebhook(classic(realmId, "CreditMemo", CreditMemo.Id, "Void"))).status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.totalCredited).toBe("0.00"), {
      timeout: 10_000,
      interval: 100,
    });
    const po = (await getPo(slug, reference)).body;
    expect(po.creditNotes).toEqual([
      expect.objectContaining({ amount: "75.00", voidReason: "Voided in QuickBooks" }),
    ]);
    expect(po).toMatchObject({ balanceDue: "300.00", qbo: expect.objectContaining({ balance: "300.00" }) });
  });

  it("turns a payment and a credit applied automatically into one payment and one credit note", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1000.00", UNTAXED);
    await emulator().payInvoice(realmId, invoiceId, { amount: "600.00", method: "Check", webhook: false });
    const customerId = (await invoiceOf(realmId, invoiceId)).CustomerRef.value;
    // "Automatically apply credits" (on by default): QBO links the memo with a zero-amount payment.
    const { CreditMemo, Payment } = await emulator().createCreditMemo(realmId, {
      customerId,
      amount: "400.00",
      webhook: false,
    });
    expect(Payment?.TotalAmt).toBe(0);

    const res = await sync(slug, reference);

    expect(res.body.payments.map((p: any) => [p.amount, p.method])).toEqual([["600.00", "check"]]);
    expect(res.body.creditNotes.map((c: any) => c.amount)).toEqual(["400.00"]);
    expect(res.body).toMatchObject({ status: "paid", balanceDue: "0.00", totalPaid: "600.00" });
    expect((await qboColumns("credit_notes", res.body.creditNotes[0].id))?.qboId).toBe(CreditMemo.Id);
    expect(res.body.qbo.discrepancy).toBeNull();
  });

  it("splits one Payment holding cash and a credit into a payment and a credit note", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("500.00", UNTAXED);
    const { Payment, CreditMemo } = await emulator().payInvoice(realmId, invoiceId, {
      amount: "350.00",
      credit: { amount: "150.00", description: "Early-bird discount" },
      webhook: false,
    });
    await emulator().resetStats(realmId);

    const res = await sync(slug, reference);

    expect(res.body.payments.map((p: any) => [p.amount, p.reference])).toEqual([
      ["350.00", `QBO Payment #${Payment.Id}`],
    ]);
    expect(res.body.creditNotes.map((c: any) => c.amount)).toEqual(["150.00"]);
    expect((await qboColumns("credit_notes", res.body.creditNotes[0].id))?.qboId).toBe(CreditMemo?.Id);
    expect(res.body).toMatchObject({ status: "paid", balanceDue: "0.00" });
    // The budget: invoice, payment and credit-memo queries, one each.
    expect(await reads(realmId)).toEqual({ invoice: 1, payment: 1, creditMemo: 1, total: 3 });
  });

  it("reopens a paid PO when its QBO payment is voided, and again when one is deleted (webhooks)", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("800.00", UNTAXED);
    const first = await emulator().payInvoice(realmId, invoiceId, { amount: "300.00", webhook: false });
    const second = await emulator().payInvoice(realmId, invoiceId, { amount: "500.00", webhook: false });
    expect((await sync(slug, reference)).body.status).toBe("paid");

    await emulator().voidPayment(realmId, second.Payment.Id, { webhook: false });
    expect((await postWebhook(classic(realmId, "Payment", second.Payment.Id, "Void"))).status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("partially_paid"), {
      timeout: 10_000,
      interval: 100,
    });

    // A deleted payment cannot be read: the PO is found by the QBO id its row carries.
    await emulator().deletePayment(realmId, first.Payment.Id, { webhook: false });
    expect((await postWebhook(classic(realmId, "Payment", first.Payment.Id, "Delete"))).status).toBe(200);
    await vi.waitFor(async () => expect((await getPo(slug, reference)).body.status).toBe("sent"), {
      timeout: 10_000,
      interval: 100,
    });

    const po = (await getPo(slug, reference)).body;
    expect(po).toMatchObject({ totalPaid: "0.00", balanceDue: "800.00" });
    expect(po.payments.map((p: any) => [p.amount, p.voidReason])).toEqual([
      ["300.00", "Deleted in QuickBooks"],
      ["500.00", "Voided in QuickBooks"],
    ]);
    expect(po.payments.every((p: any) => p.voidedAt !== null)).toBe(true);
    const types = (await timeline(slug, reference)).map((e) => e.type);
    expect(types.filter((t) => t === "payment.voided")).toHaveLength(2);
  });

  it("never counts our own pushed payments twice: by QBO id, or by the marker when the answer was lost", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("1000.00", UNTAXED);
    // The real outbox is kept out of QuickBooks (its pushes are refused), so this test can play it.
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 400, times: 10, match: { operation: "create:payment" } }],
    });
    const manual = async (amount: string) =>
      (
        await call("POST", paths.payments(slug, reference), {
          amount,
          method: "ach",
          paymentDate: "2026-11-20",
        })
      ).body.payments.at(-1).id as number;
    const pushed = await manual("200.00");
    const lost = await manual("300.00");
    await vi.waitFor(
      async () => {
        const states = (await getPo(slug, reference)).body.payments.map((p: any) => p.qbo?.state);
        expect(states).toEqual(["failed", "failed"]);
      },
      { timeout: 10_000, interval: 100 },
    );
    await emulator().clearFaults(realmId);
    // As the outbox would have pushed them: one knows its QBO id, one lost the push's answer.
    const a = await emulator().payInvoice(realmId, invoiceId, { amount: "200.00", webhook: false });
    await emulator().payInvoice(realmId, invoiceId, {
      amount: "300.00",
      privateNote: `PO ${reference} qpo-payment:${slug}:${lost}`,
      webhook: false,
    });
    await env.DB.prepare("UPDATE payments SET qbo_id = ?, qbo_state = 'synced' WHERE id = ?")
      .bind(a.Payment.Id, pushed)
      .run();
    await env.DB.prepare("UPDATE payments SET qbo_state = 'pending' WHERE id = ?").bind(lost).run();
    const theirs = await emulator().payInvoice(realmId, invoiceId, { amount: "100.00", webhook: false });

    const res = await sync(slug, reference);
    await sync(slug, reference);

    expect(res.body.payments.map((p: any) => [p.source, p.amount])).toEqual([
      ["manual", "200.00"],
      ["manual", "300.00"],
      ["qbo", "100.00"],
    ]);
    expect(res.body).toMatchObject({ balanceDue: "400.00", status: "partially_paid" });
    expect(res.body.qbo.balance).toBe("400.00");
    const lostRow = await qboColumns("payments", lost);
    expect(lostRow).toMatchObject({ source: "manual", qboState: "synced" });
    expect(lostRow?.qboId).not.toBeNull();
    expect(lostRow?.qboId).not.toBe(theirs.Payment.Id);
    expect((await getPo(slug, reference)).body.payments).toHaveLength(3);
  });

  it("flags what no linked payment or credit explains as unexplained_balance, with the amount", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("500.00", UNTAXED);
    // A deposit or journal entry lowered the balance: QBO's invoice links nothing for it.
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          match: { operation: "query:Invoice" },
          body: { QueryResponse: { Invoice: [{ Id: invoiceId, TotalAmt: 500, Balance: 450 }] } },
        },
      ],
    });

    const res = await sync(slug, reference);

    expect(res.body.payments).toEqual([]);
    expect(res.body.qbo.discrepancy).toMatchObject({ kind: "unexplained_balance" });
    expect(res.body.qbo.discrepancy.message).toContain("50.00");
    await emulator().clearFaults(realmId);
  });

  it("flags one of our pushes applied to the wrong invoice instead of recording it", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("500.00", UNTAXED);
    // Another PO's payment (its marker names a row this PO does not have) landed on this invoice.
    const { Payment } = await emulator().payInvoice(realmId, invoiceId, {
      amount: "50.00",
      privateNote: `qpo-payment:${slug}:999999`,
      webhook: false,
    });

    const res = await sync(slug, reference);

    expect(res.body.payments).toEqual([]);
    expect(res.body.qbo.discrepancy).toMatchObject({ kind: "unexplained_balance" });
    expect(res.body.qbo.discrepancy.message).toContain(`Payment #${Payment.Id}`);
    expect(res.body.qbo.discrepancy.message).toContain("50.00");
  });

  it("falls back to the balance rule when payments cannot be read, and the sync run says so", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("250.00", UNTAXED);
    await emulator().payInvoice(realmId, invoiceId, { amount: "100.00", webhook: false });
    await emulator().setFaults(realmId, {
      rules: [{ kind: "status", status: 400, match: { operation: "query:Payment" } }],
    });

    expect((await call("POST", paths.qboSync(slug))).status).toBe(202);
    await vi.waitFor(
      async () => expect((await call("GET", paths.qboSync(slug))).body.lastRuns).toHaveLength(1),
      { timeout: 10_000, interval: 100 },
    );

    const [run] = (await call("GET", paths.qboSync(slug))).body.lastRuns;
    expect(run.ledgerFallback).toContain("balance rule");
    expect((await getPo(slug, reference)).body.payments).toEqual([
      expect.objectContaining({ amount: "100.00", reference: `QBO Invoice #${invoiceId}` }),
    ]);
    await emulator().clearFaults(realmId);
    // Once payments can be read again, the aggregated row is replaced by the line-level one.
    const res = await sync(slug, reference);
    expect(res.body.totalPaid).toBe("100.00");
    expect(res.body.payments.map((p: any) => [p.reference.slice(0, 13), p.voidedAt === null])).toEqual([
      ["QBO Invoice #", false],
      ["QBO Payment #", true],
    ]);
  });
});

describe("reading a Payment's lines (pure)", () => {
  const payment = (lines: [string, string, number][], extra: Record<string, unknown> = {}) =>
    Payment.parse({
      Id: "9",
      Line: lines.map(([TxnType, TxnId, Amount]) => ({ Amount, LinkedTxn: [{ TxnId, TxnType }] })),
      ...extra,
    });

  it("uses credit lines up against the invoice lines in order; the rest is cash", () => {
    const parts = splitPayment(
      payment([
        ["Invoice", "1", 100],
        ["Invoice", "2", 50.5],
        ["CreditMemo", "7", 120],
        ["JournalEntry", "8", 10],
      ]),
    );
    expect(parts?.get("1")).toEqual({ cashCents: 0, credits: new Map([["7", 10_000]]), otherCents: 0 });
    expect(parts?.get("2")).toEqual({
      cashCents: 2_050,
      credits: new Map([["7", 2_000]]),
      otherCents: 1_000,
    });
    expect(splitPayment(payment([["Invoice", "1", 1.005]]))).toBeNull();
  });

  it("names the method from PaymentMethodRef: wire, ACH, check, else other (Cash is not ACH)", () => {
    const method = (name?: string) =>
      paymentMethodOf(payment([], name === undefined ? {} : { PaymentMethodRef: { value: "1", name } }));
    expect([method("Wire Transfer"), method("ach"), method("Cheque"), method("CHECK")]).toEqual([
      "wire",
      "ach",
      "check",
      "check",
    ]);
    expect([method("Cash"), method("Visa"), method(undefined), method("Machine")]).toEqual([
      "other",
      "other",
      "other",
      "other",
    ]);
  });

  it("reads our marker anywhere in the note, after QBO's 'Voided - ' too", () => {
    expect(parseLedgerMarker("Voided - PO PO-ABC123 qpo-payment:pycon-2027:42")).toEqual({
      kind: "payment",
      conferenceSlug: "pycon-2027",
      localId: 42,
    });
    expect(parseLedgerMarker("qpo-credit-note:demo:7")?.kind).toBe("credit_note");
    expect(parseLedgerMarker("Created by QB Online to link credits to charges.")).toBeNull();
  });
});
