import { describe, expect, it } from "vitest";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

const HOSTILE_DEFAULTS = {
  tax: { mode: "automated", ratePercent: 8.875 },
  homeCurrency: "USD",
  multicurrency: false,
  exchangeRates: { EUR: 1.08, GBP: 1.27, CAD: 0.73 },
  customTransactionNumbers: true,
  onlinePayments: false,
  requestIdRetentionSeconds: 300,
  pdfRequiresAcceptPdf: true,
  hideInactiveCustomers: true,
  autoApplyCredits: true,
  privateNoteQueryable: false,
  timestampOffset: "-07:00",
  cdcWindowDays: 30,
  cdcMaxObjects: 1000,
  webhookEchoes: true,
  monthlyReadCap: null,
  previousRefreshTokenGrace: true,
};

describe("realm settings", () => {
  it("start hostile: a real US company, not a tidy sandbox", async () => {
    const { tokens } = await emulator.realm();
    expect(await emulator.control.settings(tokens.realmId)).toEqual(HOSTILE_DEFAULTS);
  });

  it("take a partial object at creation, over the defaults", async () => {
    const { tokens } = await emulator.realm({
      settings: { customTransactionNumbers: false, tax: { mode: "none" } },
    });
    expect(await emulator.control.settings(tokens.realmId)).toEqual({
      ...HOSTILE_DEFAULTS,
      customTransactionNumbers: false,
      tax: { mode: "none" },
    });
  });

  it("PATCH merges: tax is replaced whole, exchange rates per currency", async () => {
    const { tokens } = await emulator.realm();
    const updated = await emulator.control.updateSettings(tokens.realmId, {
      multicurrency: true,
      exchangeRates: { EUR: 1.1, AUD: 0.66 },
      tax: { mode: "automated", ratePercent: 5 },
    });
    expect(updated).toEqual({
      ...HOSTILE_DEFAULTS,
      multicurrency: true,
      exchangeRates: { EUR: 1.1, GBP: 1.27, CAD: 0.73, AUD: 0.66 },
      tax: { mode: "automated", ratePercent: 5 },
    });
    expect(await emulator.control.settings(tokens.realmId)).toEqual(updated);
  });

  it("refuses unknown or malformed settings with 400, changing nothing", async () => {
    const { tokens } = await emulator.realm();
    const refused = [
      { customTxnNumbers: false },
      { homeCurrency: "usd" },
      { timestampOffset: "PST" },
      { tax: { mode: "automated" } },
      { tax: { mode: "automated", ratePercent: 8.123456789 } },
      { exchangeRates: { EUR: 0 } },
    ];
    for (const patch of refused) {
      await expect(emulator.control.updateSettings(tokens.realmId, patch as any)).rejects.toMatchObject({
        status: 400,
      });
    }
    expect(await emulator.control.settings(tokens.realmId)).toEqual(HOSTILE_DEFAULTS);
  });

  it("apply to an existing realm when POST /realms reuses its id", async () => {
    const realmId = "7700000001";
    await emulator.control.createRealm({ realmId });
    await emulator.control.createRealm({ realmId, settings: { onlinePayments: true } });
    expect((await emulator.control.settings(realmId)).onlinePayments).toBe(true);
  });
});

describe("seeding name lists", () => {
  it("creates vendors, employees and customers (inactive, foreign) that share one name space", async () => {
    const { tokens } = await emulator.realm({ settings: { multicurrency: true } });
    const realmId = tokens.realmId;
    const { Vendor } = await emulator.control.createVendor(realmId, { DisplayName: "Acme Supplies" });
    expect(Vendor).toMatchObject({ Id: expect.any(String), DisplayName: "Acme Supplies", Active: true });
    const { Employee } = await emulator.control.createEmployee(realmId, { DisplayName: "Ada Lovelace" });
    expect(Employee).toMatchObject({ DisplayName: "Ada Lovelace", Active: true });
    const { Customer } = await emulator.control.createCustomer(realmId, {
      DisplayName: "Old Client",
      Active: false,
      CurrencyRef: { value: "EUR" },
      PrimaryEmailAddr: { Address: "ap@old.test" },
    });
    expect(Customer).toMatchObject({
      DisplayName: "Old Client",
      Active: false,
      CurrencyRef: { value: "EUR", name: "Euro" },
      PrimaryEmailAddr: { Address: "ap@old.test" },
    });
    for (const name of ["acme supplies", "ADA LOVELACE", "Old Client"]) {
      await expect(emulator.control.createCustomer(realmId, { DisplayName: name })).rejects.toMatchObject({
        status: 400,
        body: { code: "6240" },
      });
    }
    await expect(emulator.control.createVendor(realmId, { DisplayName: "old client" })).rejects.toMatchObject(
      {
        status: 400,
        body: { code: "6240" },
      },
    );
  });
});

describe("forgetting requestids", () => {
  it("forgets every remembered requestid, so a retry creates again", async () => {
    const { tokens, qbo } = await emulator.realm();
    await qbo.post("/customer", { DisplayName: "First" }, { requestid: "c-1" });
    await qbo.post("/customer", { DisplayName: "Second" }, { requestid: "c-2" });
    expect(await emulator.control.forgetRequestIds(tokens.realmId)).toEqual({ forgotten: 2 });
    const retry = await qbo.post("/customer", { DisplayName: "First" }, { requestid: "c-1" });
    expect(retry.body.Fault.Error[0].code).toBe("6240");
    expect(await emulator.control.forgetRequestIds(tokens.realmId)).toEqual({ forgotten: 0 });
  });
});
