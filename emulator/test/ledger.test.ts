import { describe, expect, it } from "vitest";
import type { SettingsPatch } from "../control-api.ts";
import { type QboClient, useEmulator } from "./harness.ts";

const emulator = useEmulator();

/**
 * A realm without sales tax, so totals are the line amounts, and without throttling (these
 * tests send bursts; throttling is tested elsewhere); one customer.
 */
async function ledgerRealm(settings: SettingsPatch = {}) {
  const { tokens, qbo } = await emulator.realm({ settings: { tax: { mode: "none" }, ...settings } });
  await emulator.control.setLimits(tokens.realmId, {});
  const customerId = await qbo.customer("Ledger Customer");
  return { realmId: tokens.realmId, qbo, customerId };
}

async function invoice(qbo: QboClient, customerId: string, amount: number, txnDate?: string) {
  const response = await qbo.post("/invoice", {
    CustomerRef: { value: customerId },
    TxnDate: txnDate,
    Line: [
      {
        DetailType: "SalesItemLineDetail",
        Amount: amount,
        SalesItemLineDetail: { Qty: 1, UnitPrice: amount },
      },
    ],
  });
  expect(response.status, response.text).toBe(200);
  return response.body.Invoice;
}

async function creditMemo(qbo: QboClient, customerId: string, amount: number, extra: object = {}) {
  const response = await qbo.post("/creditmemo", {
    CustomerRef: { value: customerId },
    Line: [{ DetailType: "SalesItemLineDetail", Amount: amount, Description: "Refund" }],
    ...extra,
  });
  expect(response.status, response.text).toBe(200);
  return response.body.CreditMemo;
}

const line = (amount: number, txnId: string, txnType: "Invoice" | "CreditMemo") => ({
  Amount: amount,
  LinkedTxn: [{ TxnId: txnId, TxnType: txnType }],
});

async function read(qbo: QboClient, entity: string, id: string) {
  const response = await qbo.get(`/${entity.toLowerCase()}/${id}`);
  return response.status === 200 ? response.body[entity] : response.body.Fault.Error[0];
}

describe("payments with cash and credit", () => {
  it("applies cash and a credit memo in one payment, linked both ways", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 30, { PrivateNote: "qpo-credit-note:conf:1" });
    expect(memo).toMatchObject({ TotalAmt: 30, RemainingCredit: 30 });
    expect(memo.LinkedTxn).toBeUndefined();

    const created = await qbo.post("/payment", {
      CustomerRef: { value: customerId },
      TotalAmt: 70,
      PaymentRefNum: "WIRE-1",
      PaymentMethodRef: { value: "2", name: "Check" },
      Line: [line(100, inv.Id, "Invoice"), line(30, memo.Id, "CreditMemo")],
    });
    expect(created.status, created.text).toBe(200);
    const payment = created.body.Payment;
    expect(payment).toMatchObject({ TotalAmt: 70, UnappliedAmt: 0, PaymentRefNum: "WIRE-1" });
    expect(payment.Line).toEqual([line(100, inv.Id, "Invoice"), line(30, memo.Id, "CreditMemo")]);

    const after = await read(qbo, "Invoice", inv.Id);
    expect(after).toMatchObject({ Balance: 0, LinkedTxn: [{ TxnId: payment.Id, TxnType: "Payment" }] });
    const usedMemo = await read(qbo, "CreditMemo", memo.Id);
    expect(usedMemo).toMatchObject({ RemainingCredit: 0 });

    const found = await qbo.query(`SELECT * FROM Payment WHERE Id IN ('${payment.Id}', '999')`);
    expect(found.body.QueryResponse.Payment).toMatchObject([{ Id: payment.Id, TotalAmt: 70 }]);
    const byRef = await qbo.query("SELECT * FROM Payment WHERE PaymentRefNum = 'WIRE-1'");
    expect(byRef.body.QueryResponse.Payment).toHaveLength(1);
    const memos = await qbo.query(`SELECT * FROM CreditMemo WHERE Id = '${memo.Id}'`);
    expect(memos.body.QueryResponse.CreditMemo).toMatchObject([{ Id: memo.Id, RemainingCredit: 0 }]);
    // PrivateNote is not queryable, as on Invoice (4001), unless the realm allows it.
    const byNote = await qbo.query("SELECT * FROM CreditMemo WHERE PrivateNote LIKE 'qpo-credit-note:%'");
    expect(byNote.body.Fault.Error[0].code).toBe("4001");
  });

  it("takes the credit-only form {Amount, LinkedTxn: [CreditMemo, Invoice]} and keeps overpaid cash unapplied", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 40);
    const linking = await qbo.post("/payment", {
      CustomerRef: { value: customerId },
      TotalAmt: 0,
      Line: [
        {
          Amount: 40,
          LinkedTxn: [
            { TxnId: memo.Id, TxnType: "CreditMemo" },
            { TxnId: inv.Id, TxnType: "Invoice" },
          ],
        },
      ],
    });
    expect(linking.body.Payment).toMatchObject({ TotalAmt: 0, UnappliedAmt: 0 });
    const overpaid = await qbo.post("/payment", {
      CustomerRef: { value: customerId },
      TotalAmt: 80,
      Line: [line(60, inv.Id, "Invoice")],
    });
    expect(overpaid.body.Payment).toMatchObject({ TotalAmt: 80, UnappliedAmt: 20 });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 0 });
    const customer = await read(qbo, "Customer", customerId);
    expect(customer.Balance).toBe(-20);
  });

  it("refuses what QBO refuses and changes nothing", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const other = await qbo.customer("Someone Else");
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 30);
    const foreign = await invoice(qbo, other, 10);
    const attempts: Array<[unknown[], number, string]> = [
      [[line(101, inv.Id, "Invoice")], 101, "6000"],
      [[line(50, inv.Id, "Invoice"), line(31, memo.Id, "CreditMemo")], 19, "6000"],
      [[line(10, foreign.Id, "Invoice")], 10, "6000"],
      [[line(10, "99999", "Invoice")], 10, "610"],
      [[line(10, inv.Id, "Invoice"), line(20, memo.Id, "CreditMemo")], 0, "6000"],
      [[line(50, inv.Id, "Invoice"), line(20, memo.Id, "CreditMemo")], 29, "6000"],
      [[{ Amount: 5, LinkedTxn: [{ TxnId: inv.Id, TxnType: "Estimate" }] }], 5, "2010"],
    ];
    for (const [lines, total, code] of attempts) {
      const response = await qbo.post("/payment", {
        CustomerRef: { value: customerId },
        TotalAmt: total,
        Line: lines,
      });
      expect([response.status, response.body.Fault?.Error[0].code]).toEqual([400, code]);
    }
    const tooLong = await qbo.post("/payment", {
      CustomerRef: { value: customerId },
      TotalAmt: 1,
      PaymentRefNum: "x".repeat(22),
    });
    expect(tooLong.body.Fault.Error[0]).toMatchObject({ code: "2050", element: "PaymentRefNum" });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100, LinkedTxn: [] });
    expect(await read(qbo, "CreditMemo", memo.Id)).toMatchObject({ RemainingCredit: 30 });
    expect((await qbo.query("SELECT COUNT(*) FROM Payment")).body.QueryResponse.totalCount).toBe(0);
  });

  it("taxes credit memo lines like invoice lines", async () => {
    const { qbo } = await emulator.realm();
    const customerId = await qbo.customer("Taxed");
    // Two creates: far under any limit, so the realm keeps its defaults.
    const memo = await creditMemo(qbo, customerId, 1000);
    expect(memo).toMatchObject({
      TotalAmt: 1088.75,
      RemainingCredit: 1088.75,
      TxnTaxDetail: { TotalTax: 88.75 },
    });
    const exempt = await creditMemo(qbo, customerId, 10, {
      Line: [
        {
          DetailType: "SalesItemLineDetail",
          Amount: 10,
          SalesItemLineDetail: { TaxCodeRef: { value: "NON" } },
        },
      ],
    });
    expect(exempt.TotalAmt).toBe(10);
  });
});

describe("automatically apply credits", () => {
  it("on (the default): a new memo is applied to the oldest open invoices by QBO's zero payment", async () => {
    const { qbo, customerId } = await ledgerRealm();
    const newer = await invoice(qbo, customerId, 100, "2026-11-02");
    const older = await invoice(qbo, customerId, 50, "2026-11-01");
    const memo = await creditMemo(qbo, customerId, 120);
    expect(memo.RemainingCredit).toBe(0);
    const [link] = (await read(qbo, "Invoice", older.Id)).LinkedTxn;
    expect((await read(qbo, "Invoice", newer.Id)).LinkedTxn).toEqual([link]);
    const payment = await read(qbo, "Payment", link.TxnId);
    expect(payment).toMatchObject({
      TotalAmt: 0,
      UnappliedAmt: 0,
      PrivateNote: "Created by QB Online to link credits to charges",
      Line: [line(50, older.Id, "Invoice"), line(70, newer.Id, "Invoice"), line(120, memo.Id, "CreditMemo")],
    });
    expect(await read(qbo, "Invoice", older.Id)).toMatchObject({ Balance: 0 });
    expect(await read(qbo, "Invoice", newer.Id)).toMatchObject({ Balance: 30 });
    expect((await qbo.get("/preferences")).body.Preferences.SalesFormsPrefs.AutoApplyCredit).toBe(true);

    // Unused credit goes to the customer's next invoice.
    const spare = await creditMemo(qbo, customerId, 45);
    expect(spare.RemainingCredit).toBe(15);
    const next = await invoice(qbo, customerId, 100);
    expect(next).toMatchObject({ Balance: 85, LinkedTxn: [{ TxnType: "Payment" }] });
  });

  it("off: the memo waits, its credit unused", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 30);
    expect(memo).toMatchObject({ RemainingCredit: 30 });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100, LinkedTxn: [] });
    expect((await qbo.get("/preferences")).body.Preferences.SalesFormsPrefs.AutoApplyCredit).toBe(false);
  });
});

describe("void and delete", () => {
  it("a voided payment stays at 0 and gives back Balance and credit; a deleted one is 610", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 30);
    const paid = (
      await qbo.post("/payment", {
        CustomerRef: { value: customerId },
        TotalAmt: 20,
        PrivateNote: "qpo-payment:conf:7",
        Line: [line(50, inv.Id, "Invoice"), line(30, memo.Id, "CreditMemo")],
      })
    ).body.Payment;
    const stale = await qbo.post(
      "/payment",
      { Id: paid.Id, SyncToken: "9", sparse: true },
      {
        operation: "update",
        include: "void",
      },
    );
    expect(stale.body.Fault.Error[0].code).toBe("5010");
    const voided = await qbo.post(
      "/payment",
      { Id: paid.Id, SyncToken: paid.SyncToken, sparse: true },
      {
        operation: "update",
        include: "void",
      },
    );
    expect(voided.body.Payment).toMatchObject({
      TotalAmt: 0,
      UnappliedAmt: 0,
      PrivateNote: "Voided - qpo-payment:conf:7",
      Line: [line(0, inv.Id, "Invoice"), line(0, memo.Id, "CreditMemo")],
    });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100, LinkedTxn: [] });
    expect(await read(qbo, "CreditMemo", memo.Id)).toMatchObject({ RemainingCredit: 30 });
    expect(await read(qbo, "Payment", paid.Id)).toMatchObject({ TotalAmt: 0 });

    const second = (
      await qbo.post("/payment", {
        CustomerRef: { value: customerId },
        TotalAmt: 40,
        Line: [line(40, inv.Id, "Invoice")],
      })
    ).body.Payment;
    const deleted = await qbo.post(
      "/payment",
      { Id: second.Id, SyncToken: second.SyncToken },
      { operation: "delete" },
    );
    expect(deleted.body.Payment).toEqual({ Id: second.Id, status: "Deleted", domain: "QBO" });
    expect(await read(qbo, "Payment", second.Id)).toMatchObject({ code: "610" });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100, LinkedTxn: [] });
  });

  it("voiding or deleting a memo takes its credit back from the invoices", async () => {
    const { qbo, customerId } = await ledgerRealm();
    const inv = await invoice(qbo, customerId, 100);
    const memo = await creditMemo(qbo, customerId, 30);
    const linked = await read(qbo, "Invoice", inv.Id);
    expect(linked).toMatchObject({ Balance: 70, LinkedTxn: [{ TxnType: "Payment" }] });
    const autoPayment = linked.LinkedTxn[0].TxnId;
    const voided = await qbo.post(
      "/creditmemo",
      { Id: memo.Id, SyncToken: memo.SyncToken },
      { operation: "void" },
    );
    expect(voided.body.CreditMemo).toMatchObject({ TotalAmt: 0, RemainingCredit: 0, PrivateNote: "Voided" });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100, LinkedTxn: [] });
    expect(await read(qbo, "Payment", autoPayment)).toMatchObject({ code: "610" });

    const other = await creditMemo(qbo, customerId, 25);
    const removed = await qbo.post(
      "/creditmemo",
      { Id: other.Id, SyncToken: other.SyncToken },
      { operation: "delete" },
    );
    expect(removed.body.CreditMemo).toEqual({ Id: other.Id, status: "Deleted", domain: "QBO" });
    expect(await read(qbo, "CreditMemo", other.Id)).toMatchObject({ code: "610" });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100 });
  });
});

describe("requestid", () => {
  it("replays a payment and a credit memo create instead of creating twice", async () => {
    const { qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    const inv = await invoice(qbo, customerId, 100);
    const memoBody = {
      CustomerRef: { value: customerId },
      Line: [{ DetailType: "SalesItemLineDetail", Amount: 10 }],
    };
    const first = await qbo.post("/creditmemo", memoBody, { requestid: "memo-1" });
    const again = await qbo.post("/creditmemo", memoBody, { requestid: "memo-1" });
    expect(again.text).toBe(first.text);
    const payBody = { CustomerRef: { value: customerId }, TotalAmt: 10, Line: [line(10, inv.Id, "Invoice")] };
    const paid = await qbo.post("/payment", payBody, { requestid: "pay-1" });
    const replay = await qbo.post("/payment", payBody, { requestid: "pay-1" });
    expect(replay.body.Payment.Id).toBe(paid.body.Payment.Id);
    expect((await qbo.query("SELECT COUNT(*) FROM CreditMemo")).body.QueryResponse.totalCount).toBe(1);
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 90 });
  });
});

describe("control API", () => {
  it("pays by cash, by credit or both, and voids, with webhooks", async () => {
    const { realmId, qbo, customerId } = await ledgerRealm({ autoApplyCredits: false });
    await emulator.control.configureWebhook({
      url: emulator.control.receiverUrl("ledger"),
      verifierToken: "v",
    });
    const inv = await invoice(qbo, customerId, 100);
    const both = await emulator.control.payInvoice(realmId, inv.Id, {
      amount: "20.00",
      credit: { amount: "30.00" },
      method: "Check",
      reference: "CHK-9",
    });
    expect(both.CreditMemo).toMatchObject({ TotalAmt: 30, RemainingCredit: 0 });
    expect(both.Payment).toMatchObject({
      TotalAmt: 20,
      PaymentRefNum: "CHK-9",
      PaymentMethodRef: { value: "2", name: "Check" },
      Line: [line(50, inv.Id, "Invoice"), line(30, both.CreditMemo?.Id ?? "", "CreditMemo")],
    });
    const { CreditMemo: spare } = await emulator.control.createCreditMemo(realmId, {
      customerId,
      amount: "15.00",
    });
    const creditOnly = await emulator.control.payInvoice(realmId, inv.Id, {
      credit: { creditMemoId: spare.Id },
    });
    expect(creditOnly.Payment).toMatchObject({
      TotalAmt: 0,
      Line: [line(15, inv.Id, "Invoice"), line(15, spare.Id, "CreditMemo")],
    });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 35 });

    const applied = await emulator.control.createCreditMemo(realmId, { invoiceId: inv.Id, amount: "5.00" });
    expect(applied.Payment).toMatchObject({ TotalAmt: 0 });
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 30 });

    await emulator.control.voidPayment(realmId, both.Payment.Id);
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 80 });
    const removal = await emulator.control.voidCreditMemo(realmId, spare.Id);
    expect(removal.updatedPayments).toEqual([creditOnly.Payment.Id]);
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 95 });
    await emulator.control.deletePayment(realmId, applied.Payment?.Id ?? "");
    expect(await read(qbo, "Invoice", inv.Id)).toMatchObject({ Balance: 100 });
    expect((await emulator.control.creditMemos(realmId)).creditMemos).toHaveLength(3);

    const expected = [
      "CreditMemo:Create",
      "Payment:Create",
      "CreditMemo:Create",
      "Payment:Create",
      "CreditMemo:Update", // paying with the spare memo uses its credit
      "CreditMemo:Create",
      "Payment:Create",
      "Payment:Void",
      "CreditMemo:Update", // the voided payment gives its credit back
      "CreditMemo:Void",
      "Payment:Update",
      "Payment:Delete",
      "CreditMemo:Update", // so does the deleted one
    ];
    // One POST may carry several events (and the invoice's own Updates and API echoes): the
    // payments' and credit memos' events are the ones this test follows.
    let seen: string[] = [];
    for (let attempt = 0; attempt < 100 && seen.length < expected.length; attempt++) {
      const { received } = await emulator.control.received("ledger");
      seen = received
        .flatMap((request) =>
          JSON.parse(request.body).eventNotifications.flatMap(
            (notification: { dataChangeEvent: { entities: Array<{ name: string; operation: string }> } }) =>
              notification.dataChangeEvent.entities,
          ),
        )
        .filter((entity: { name: string }) => entity.name !== "Invoice")
        .map((entity: { name: string; operation: string }) => `${entity.name}:${entity.operation}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(seen.sort()).toEqual(expected.sort());
    await emulator.control.clearWebhook();
  });
});
