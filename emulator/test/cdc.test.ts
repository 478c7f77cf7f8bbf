import { describe, expect, it } from "vitest";
import { sleep } from "../faults.ts";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();
const DAY = 86_400_000;

function cdc(
  qbo: { get: (path: string, params?: Record<string, string>) => Promise<any> },
  since: number,
  entities = "Invoice,Payment,CreditMemo,Customer",
) {
  return qbo.get("/cdc", { entities, changedSince: new Date(since).toISOString() });
}

/** The entity list of one CDC group, keyed by entity name. */
function groups(body: any): Record<string, any[]> {
  const result: Record<string, any[]> = {};
  for (const group of body.CDCResponse[0].QueryResponse) {
    for (const [key, value] of Object.entries(group)) if (Array.isArray(value)) result[key] = value;
  }
  return result;
}

describe("GET /cdc", () => {
  it("returns what changed since, full payloads, deleted objects as Id and LastUpdatedTime after the live ones", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { tax: { mode: "none" } } });
    const before = Date.now() - 1000;
    const customerId = await qbo.customer("CDC Customer");
    const kept = (await qbo.invoice(customerId, [[1, 100, 100]])).body.Invoice;
    const gone = (await qbo.invoice(customerId, [[1, 50, 50]])).body.Invoice;
    const { Payment } = await emulator.control.recordPayment(tokens.realmId, kept.Id, {
      amount: "40.00",
      webhook: false,
    });
    await emulator.control.deleteInvoice(tokens.realmId, gone.Id, { webhook: false });

    const response = await cdc(qbo, before);
    expect(response.status).toBe(200);
    expect(response.body.time).toEqual(expect.any(String));
    const query = response.body.CDCResponse[0].QueryResponse;
    // One group per entity asked for, in that order; CreditMemo has nothing (yet).
    expect(query).toHaveLength(4);
    expect(query[2]).toEqual({});
    const changed = groups(response.body);
    expect(changed.Customer).toMatchObject([{ Id: customerId, DisplayName: "CDC Customer" }]);
    expect(changed.Invoice).toEqual([
      expect.objectContaining({ Id: kept.Id, Balance: 60, TotalAmt: 100 }),
      {
        status: "Deleted",
        domain: "QBO",
        Id: gone.Id,
        MetaData: { LastUpdatedTime: expect.stringMatching(/-07:00$/) },
      },
    ]);
    expect(changed.Payment).toMatchObject([{ Id: Payment.Id, TotalAmt: 40 }]);
    expect(query[0]).toMatchObject({ startPosition: 1, maxResults: 2 });

    // Later: only what changed since.
    const later = Date.now() + 5;
    await new Promise((resolve) => setTimeout(resolve, 10));
    await emulator.control.voidInvoice(tokens.realmId, kept.Id, { webhook: false });
    const since = groups((await cdc(qbo, later)).body);
    expect(Object.keys(since)).toEqual(["Invoice"]);
    expect(since.Invoice).toMatchObject([{ Id: kept.Id, TotalAmt: 0, PrivateNote: "Voided" }]);

    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.requests.byOperation.cdc).toBe(2);
    expect(stats.reads.count).toBe(2);
  });

  it("serves credit memos and payments made by QBO itself (auto-applied credit) like any other change", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { tax: { mode: "none" } } });
    const customerId = await qbo.customer("Credited");
    const invoice = (await qbo.invoice(customerId, [[1, 100, 100]])).body.Invoice;
    const since = Date.now() + 2;
    await sleep(5);
    const { CreditMemo, Payment } = await emulator.control.createCreditMemo(tokens.realmId, {
      invoiceId: invoice.Id,
      amount: "25.00",
      webhook: false,
    });
    const changed = groups((await cdc(qbo, since)).body);
    expect(changed.CreditMemo).toMatchObject([{ Id: CreditMemo.Id, TotalAmt: 25 }]);
    expect(changed.Payment).toMatchObject([{ Id: Payment?.Id, TotalAmt: 0 }]);
    expect(changed.Invoice).toMatchObject([{ Id: invoice.Id, Balance: 75 }]);
  });

  it("looks back 30 days at most: an older changedSince is a fault", async () => {
    const { qbo } = await emulator.realm();
    expect((await cdc(qbo, Date.now() - 29 * DAY)).status).toBe(200);
    const old = await cdc(qbo, Date.now() - 31 * DAY);
    expect(old.status).toBe(400);
    expect(old.body.Fault.Error[0].Detail).toMatch(
      /^Operation cdc with changedSince date .* which is older than fixed days is not supported\.$/,
    );
    const missing = await qbo.get("/cdc", { entities: "Invoice" });
    expect(missing.status).toBe(400);
    expect((await qbo.get("/cdc", { entities: "TaxCode", changedSince: "2026-01-01" })).status).toBe(400);
  });

  it("answers at most cdcMaxObjects objects (Intuit: 1000)", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { cdcMaxObjects: 3 } });
    await emulator.control.seedInvoices(tokens.realmId, {
      customerName: "Many",
      invoices: Array.from({ length: 5 }, () => ({ amount: "10.00" })),
    });
    const changed = groups((await cdc(qbo, Date.now() - 60_000, "Invoice,Customer")).body);
    expect(changed.Invoice).toHaveLength(3);
    expect(changed.Customer).toBeUndefined();
    expect((await emulator.control.settings(tokens.realmId)).cdcMaxObjects).toBe(3);
  });
});
