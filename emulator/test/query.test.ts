import { describe, expect, it } from "vitest";
import { parseQuery, QuerySyntaxError } from "../qbo/query.ts";
import { useEmulator } from "./harness.ts";

describe("the query parser", () => {
  it("reads keywords in any case, with defaults for paging", () => {
    expect(parseQuery("select * from invoice")).toEqual({
      entity: "Invoice",
      count: false,
      conditions: [],
      startPosition: 1,
      maxResults: 100,
    });
  });

  it("unescapes \\' and \\\\ inside string literals", () => {
    const query = parseQuery("SELECT * FROM Customer WHERE DisplayName = 'O\\'Brien \\\\ Sons'");
    expect(query.conditions).toEqual([{ field: "DisplayName", operator: "=", values: ["O'Brien \\ Sons"] }]);
  });

  it("reads IN lists, AND, STARTPOSITION and MAXRESULTS", () => {
    const query = parseQuery(
      "SELECT * FROM Invoice WHERE Id IN ('1', '2','3') AND DocNumber = '1001' STARTPOSITION 11 MAXRESULTS 1000",
    );
    expect(query).toMatchObject({
      conditions: [
        { field: "Id", operator: "IN", values: ["1", "2", "3"] },
        { field: "DocNumber", operator: "=", values: ["1001"] },
      ],
      startPosition: 11,
      maxResults: 1000,
    });
  });

  it("reads LIKE with its pattern as written", () => {
    const query = parseQuery("SELECT * FROM Customer WHERE DisplayName LIKE '%acme%'");
    expect(query.conditions).toEqual([{ field: "DisplayName", operator: "LIKE", values: ["%acme%"] }]);
  });

  it.each([
    ["SELECT * FROM Invoice WHERE Id = '1", /Lexical error at line 1, column 36\. Encountered: <EOF>/],
    ["SELECT * FROM Vendor", /Unsupported entity/],
    [
      "SELECT * FROM Customer WHERE DisplayName = 'O\u2019Brien'",
      /Encountered: "\\u2019" \(8217\), after : "'O"/,
    ],
    ["SELECT * FROM Customer WHERE DisplayName = '\u2018Quoted'", /Encountered: "\\u2018" \(8216\)/],
    ["SELECT * FROM Customer WHERE DisplayName = 'A \u2013 B'", /Encountered: "\\u2013" \(8211\)/],
    ["SELECT * FROM Customer WHERE DisplayName = 'Trailing\\'", /Lexical error.*Encountered: <EOF>/],
    ["SELECT * FROM Invoice WHERE Id IN ('1',)", /expecting a quoted value/],
    ["SELECT * FROM Invoice MAXRESULTS 1001", /MAXRESULTS must be between 1 and 1000/],
    ["SELECT * FROM Invoice STARTPOSITION 0", /STARTPOSITION/],
    ["SELECT * FROM Invoice WHERE Id = '1' OR Id = '2'", /was expecting/],
    ["", /end of query/],
  ])("rejects %j", (text, message) => {
    expect(() => parseQuery(text)).toThrow(QuerySyntaxError);
    expect(() => parseQuery(text)).toThrow(message);
  });
});

describe("GET and POST /query", () => {
  const emulator = useEmulator();

  it("finds a customer by DisplayName, ignoring case, with quotes and backslashes escaped", async () => {
    const { qbo } = await emulator.realm();
    const id = await qbo.customer("O'Brien \\ Sons");
    await qbo.customer("Someone Else");
    const found = await qbo.query("select * from Customer where DisplayName = 'o\\'brien \\\\ SONS'");
    expect(found.status).toBe(200);
    expect(found.body.QueryResponse).toMatchObject({ startPosition: 1, maxResults: 1 });
    expect(found.body.QueryResponse.Customer.map((c: { Id: string }) => c.Id)).toEqual([id]);
    expect(found.body.time).toEqual(expect.any(String));
  });

  it("answers an empty QueryResponse when nothing matches", async () => {
    const { qbo } = await emulator.realm();
    const none = await qbo.query("SELECT * FROM Customer WHERE DisplayName = 'Nobody'");
    expect(none.status).toBe(200);
    expect(none.body.QueryResponse).toEqual({});
  });

  it("pages with STARTPOSITION (1-based) and MAXRESULTS, and defaults to 100 rows", async () => {
    const { tokens, qbo } = await emulator.realm();
    const { ids } = await emulator.control.seedInvoices(tokens.realmId, {
      customerName: "Bulk",
      invoices: Array.from({ length: 150 }, () => ({ amount: "10.00" })),
    });
    const all = await qbo.query("SELECT * FROM Invoice");
    expect(all.body.QueryResponse.Invoice).toHaveLength(100);
    expect(all.body.QueryResponse.maxResults).toBe(100);
    const page = await qbo.query("SELECT * FROM Invoice STARTPOSITION 141 MAXRESULTS 20");
    expect(page.body.QueryResponse.startPosition).toBe(141);
    expect(page.body.QueryResponse.Invoice.map((i: { Id: string }) => i.Id)).toEqual(ids.slice(140));
    const count = await qbo.query("SELECT COUNT(*) FROM Invoice");
    expect(count.body.QueryResponse.totalCount).toBe(150);
  });

  it("takes a long IN list as an application/text POST body", async () => {
    const { tokens, qbo } = await emulator.realm();
    const { ids } = await emulator.control.seedInvoices(tokens.realmId, {
      customerName: "Bulk",
      invoices: Array.from({ length: 600 }, (_, i) => ({
        amount: "10.00",
        paid: i % 2 ? "10.00" : undefined,
      })),
    });
    const wanted = ids.filter((_, i) => i % 3 === 0);
    const text = `SELECT * FROM Invoice WHERE Id IN (${wanted.map((id) => `'${id}'`).join(",")}) MAXRESULTS 1000`;
    const response = await qbo.request("POST", "/query", { rawBody: text, contentType: "application/text" });
    expect(response.status).toBe(200);
    const invoices = response.body.QueryResponse.Invoice as Array<{ Id: string; Balance: number }>;
    expect(invoices.map((i) => i.Id)).toEqual(wanted);
    expect(invoices[1]).toMatchObject({ Balance: 0, TotalAmt: 10 });
  });

  it("refuses a POST /query that is not application/text", async () => {
    const { qbo } = await emulator.realm();
    const response = await qbo.request("POST", "/query", {
      rawBody: "SELECT * FROM Invoice",
      contentType: "application/json",
    });
    expect(response.status).toBe(415);
  });

  it("answers 400 with Fault 4000 for a malformed query, and 4001 for an unknown field", async () => {
    const { qbo } = await emulator.realm();
    const malformed = await qbo.query("SELECT * FORM Invoice");
    expect(malformed.status).toBe(400);
    expect(malformed.body.Fault.type).toBe("ValidationFault");
    expect(malformed.body.Fault.Error[0]).toMatchObject({ code: "4000", Message: "Error parsing query" });
    const tooMany = await qbo.query("SELECT * FROM Invoice MAXRESULTS 5000");
    expect(tooMany.body.Fault.Error[0].code).toBe("4000");
    const unknown = await qbo.query("SELECT * FROM Invoice WHERE Colour = 'red'");
    expect(unknown.status).toBe(400);
    expect(unknown.body.Fault.Error[0].code).toBe("4001");
  });
});
