import { describe, expect, it } from "vitest";
import { useEmulator } from "./harness.ts";

const emulator = useEmulator();

const ids = (response: { body: any }) => (response.body.QueryResponse.Customer ?? []).map((c: any) => c.Id);

describe("customer names (one name space with vendors and employees)", () => {
  it("refuses a vendor's, an employee's or an inactive customer's name with 6240, whatever its case", async () => {
    const { tokens, qbo } = await emulator.realm();
    await emulator.control.createVendor(tokens.realmId, { DisplayName: "Globex Supplies" });
    await emulator.control.createEmployee(tokens.realmId, { DisplayName: "Hank Scorpio" });
    await emulator.control.createCustomer(tokens.realmId, { DisplayName: "Sleepy Co", Active: false });
    for (const name of ["Globex Supplies", "hank scorpio", "SLEEPY CO"]) {
      const clash = await qbo.post("/customer", { DisplayName: name });
      expect(clash.status).toBe(400);
      expect(clash.body.Fault.Error[0]).toMatchObject({
        code: "6240",
        Message: "Duplicate Name Exists Error",
        Detail: expect.stringContaining("Another customer, vendor or employee is already using this name"),
      });
    }
  });
});

describe("inactive customers", () => {
  it("are hidden from default queries, COUNT and Id look-ups included", async () => {
    const { tokens, qbo } = await emulator.realm();
    const active = await qbo.customer("Awake Ltd");
    const { Customer } = await emulator.control.createCustomer(tokens.realmId, {
      DisplayName: "Dormant Ltd",
      Active: false,
    });
    expect(ids(await qbo.query("SELECT * FROM Customer"))).toEqual([active]);
    expect(
      (await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Dormant Ltd'")).body.QueryResponse,
    ).toEqual({});
    expect(
      (await qbo.query(`SELECT * FROM Customer WHERE Id = '${Customer.Id}'`)).body.QueryResponse,
    ).toEqual({});
    expect((await qbo.query("SELECT COUNT(*) FROM Customer")).body.QueryResponse.totalCount).toBe(1);
    // A read by id still finds it.
    expect((await qbo.get(`/customer/${Customer.Id}`)).body.Customer).toMatchObject({ Active: false });
  });

  it("are found with Active IN (true, false) or Active = false", async () => {
    const { tokens, qbo } = await emulator.realm();
    const active = await qbo.customer("Awake Inc");
    const { Customer } = await emulator.control.createCustomer(tokens.realmId, {
      DisplayName: "Dormant Inc",
      Active: false,
    });
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE Active IN (true, false)"))).toEqual([
      active,
      Customer.Id,
    ]);
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE Active = false"))).toEqual([Customer.Id]);
    expect(
      ids(
        await qbo.query(
          "SELECT * FROM Customer WHERE DisplayName = 'dormant inc' AND Active IN (true, false)",
        ),
      ),
    ).toEqual([Customer.Id]);
  });

  it("are returned by default queries with hideInactiveCustomers off", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { hideInactiveCustomers: false } });
    await emulator.control.createCustomer(tokens.realmId, { DisplayName: "Visible Sleeper", Active: false });
    expect(ids(await qbo.query("SELECT * FROM Customer"))).toHaveLength(1);
  });

  it("are reactivated by a sparse update, which checks the SyncToken (5010)", async () => {
    const { tokens, qbo } = await emulator.realm();
    const { Customer } = await emulator.control.createCustomer(tokens.realmId, {
      DisplayName: "Come Back Co",
      Active: false,
      PrimaryEmailAddr: { Address: "ap@comeback.test" },
    });
    const stale = await qbo.post("/customer", {
      Id: Customer.Id,
      SyncToken: "7",
      sparse: true,
      Active: true,
    });
    expect(stale.status).toBe(400);
    expect(stale.body.Fault.Error[0].code).toBe("5010");
    const reactivated = await qbo.post("/customer", {
      Id: Customer.Id,
      SyncToken: Customer.SyncToken,
      sparse: true,
      Active: true,
    });
    expect(reactivated.status).toBe(200);
    expect(reactivated.body.Customer).toMatchObject({
      Id: Customer.Id,
      SyncToken: "1",
      Active: true,
      DisplayName: "Come Back Co",
      PrimaryEmailAddr: { Address: "ap@comeback.test" },
    });
    expect(ids(await qbo.query("SELECT * FROM Customer"))).toEqual([Customer.Id]);
    const stats = await emulator.control.stats(tokens.realmId);
    expect(stats.requests.byOperation["update:customer"]).toBe(2);
  });

  it("keep their currency: an update may not change it, and a new name must be free", async () => {
    const { tokens, qbo } = await emulator.realm({ settings: { multicurrency: true } });
    const euro = (
      await emulator.control.createCustomer(tokens.realmId, {
        DisplayName: "Euro",
        CurrencyRef: { value: "EUR" },
      })
    ).Customer;
    await qbo.customer("Taken");
    const currency = await qbo.post("/customer", {
      Id: euro.Id,
      SyncToken: "0",
      sparse: true,
      CurrencyRef: { value: "USD" },
    });
    expect(currency.body.Fault.Error[0]).toMatchObject({ code: "6000", element: "CurrencyRef" });
    const renamed = await qbo.post("/customer", {
      Id: euro.Id,
      SyncToken: "0",
      sparse: true,
      DisplayName: "TAKEN",
    });
    expect(renamed.body.Fault.Error[0].code).toBe("6240");
  });

  it("a full update (no sparse) clears the fields it does not send", async () => {
    const { qbo } = await emulator.realm();
    const id = await qbo.customer("Full", {
      CompanyName: "Full Corp",
      PrimaryEmailAddr: { Address: "a@full.test" },
    });
    const updated = await qbo.post("/customer", { Id: id, SyncToken: "0", DisplayName: "Full Renamed" });
    expect(updated.status).toBe(200);
    expect(updated.body.Customer).toMatchObject({ DisplayName: "Full Renamed", Active: true });
    expect(updated.body.Customer.CompanyName).toBeUndefined();
    expect(updated.body.Customer.PrimaryEmailAddr).toBeUndefined();
    expect((await qbo.post("/customer", { DisplayName: "Full" })).status).toBe(200);
  });
});

describe("the query language on customer names", () => {
  it("matches LIKE with % wildcards, ignoring case", async () => {
    const { qbo } = await emulator.realm();
    const acme = await qbo.customer("Acme Corp");
    const acmeUk = await qbo.customer("ACME (UK) Ltd");
    await qbo.customer("Globex");
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE 'acme%'"))).toEqual([
      acme,
      acmeUk,
    ]);
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE '%(uk)%'"))).toEqual([acmeUk]);
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName LIKE 'acme'"))).toEqual([]);
  });

  it("treats % inside = literally", async () => {
    const { qbo } = await emulator.realm();
    const percent = await qbo.customer("100% Cotton");
    await qbo.customer("100 Cotton");
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName = '100% Cotton'"))).toEqual([
      percent,
    ]);
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName = '100%'"))).toEqual([]);
  });

  it("answers 4000 for curly quotes, en dashes and a trailing backslash, and finds non-Latin names", async () => {
    const { qbo } = await emulator.realm();
    const cyrillic = await qbo.customer("Рога и копыта");
    for (const literal of ["O\u2019Brien", "\u2018Quoted\u2019", "Smith \u2013 Jones", "Back\\"]) {
      const response = await qbo.query(`SELECT * FROM Customer WHERE DisplayName = '${literal}'`);
      expect(response.status).toBe(400);
      expect(response.body.Fault.Error[0]).toMatchObject({
        code: "4000",
        Message: "Error parsing query",
        Detail: expect.stringMatching(/^QueryParserError: Invalid content\. Lexical error at line 1/),
      });
    }
    const curly = await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'O\u2019Brien'");
    expect(curly.body.Fault.Error[0].Detail).toContain('Encountered: "\\u2019" (8217)');
    expect(ids(await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'рога и копыта'"))).toEqual([
      cyrillic,
    ]);
  });
});
