/**
 * SPEC §11 "History": every mutation leaves its events on the PO's timeline, written in the
 * same D1 batch as the change, naming who did it and under which request; the conference's
 * feed pages through them by id.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { eventContext } from "../../src/http/actor";
import { type Caller, newApp } from "../../src/http/app-types";
import { handleQueueBatch } from "../../src/sync/consumer";
import {
  call,
  connectedConference,
  createConference,
  createPo,
  emulator,
  expectError,
  invoicedPo,
  invoicesBatch,
  paths,
  UNTAXED,
} from "../helpers";

const timelinePath = (slug: string, ref: string) => `${paths.po(slug, ref)}/events`;
const feedPath = (slug: string, query: Record<string, number> = {}) => {
  const q = new URLSearchParams(Object.entries(query).map(([k, v]) => [k, String(v)])).toString();
  return `${paths.conference(slug)}/events${q ? `?${q}` : ""}`;
};

interface Event {
  id: number;
  at: string;
  type: string;
  actor: { type: string; id?: string; name?: string };
  data: Record<string, unknown>;
  requestId?: string;
}

async function timeline(slug: string, ref: string): Promise<Event[]> {
  const res = await call<Event[]>("GET", timelinePath(slug, ref));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** A call that names its request, so the event can be traced back to it. */
function as(requestId: string) {
  return { headers: { "x-request-id": requestId } };
}

const wire = (amount: string) => ({ amount, method: "wire", paymentDate: "2026-11-20", reference: "W-1" });

/** The status events of a timeline chain up: each starts where the previous ended, from draft to `final`. */
function expectStatusChain(events: Event[], final: string) {
  const changes = events.filter((e) => e.type === "po.status_changed").map((e) => e.data);
  let at = "draft";
  for (const change of changes) {
    expect(change.from).toBe(at);
    expect(change.to).not.toBe(at);
    at = change.to as string;
  }
  expect(at).toBe(final);
}

describe("a PO's timeline", () => {
  it("tells a whole lifecycle in order, each event with its actor and request id", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const created = await call(
      "POST",
      paths.pos(slug),
      {
        organizationName: "Acme Corp",
        contactName: "Ada Lovelace",
        contactEmail: "ada@acme.test",
        lineItems: [{ description: "Gold sponsorship", quantity: 1, unitPrice: "1000.00" }],
      },
      as("req-create"),
    );
    expect(created.status).toBe(201);
    const ref = created.body.reference as string;
    expect((await call("POST", paths.send(slug, ref), undefined, as("req-send"))).status).toBe(200);
    const invoiced = await call("POST", paths.qboInvoice(slug, ref), {}, as("req-invoice"));
    expect(invoiced.status, JSON.stringify(invoiced.body)).toBe(201);
    const invoiceId = invoiced.body.qbo.invoiceId as string;
    expect((await call("POST", paths.qboInvoiceSend(slug, ref), undefined, as("req-email"))).status).toBe(
      200,
    );
    await emulator().recordPayment(realmId, invoiceId, { amount: "300.00", webhook: false });
    expect((await call("POST", paths.qboInvoiceSync(slug, ref), undefined, as("req-sync"))).status).toBe(200);
    const paid = await call("POST", paths.payments(slug, ref), wire("200.00"), as("req-pay"));
    const manualId = paid.body.payments.find((p: { source: string }) => p.source === "manual").id;
    const voided = await call(
      "POST",
      `${paths.payments(slug, ref)}/${manualId}/void`,
      { reason: "Entered twice" },
      as("req-void"),
    );
    expect(voided.status).toBe(200);
    const credited = await call(
      "POST",
      paths.creditNotes(slug, ref),
      { amount: "100.00", reason: "Goodwill" },
      as("req-credit"),
    );
    const creditId = credited.body.creditNotes[0].id;
    // A QBO payment is applied to the invoice, so it is kept (a void is refused: SPEC §9 "Cancel").
    const cancelled = await call("POST", paths.cancel(slug, ref), { qboInvoice: "keep" }, as("req-cancel"));
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);

    // The ledger pushes (`*.pushed`) happen off-request, in their own time: checked elsewhere
    // (test/ledger/push.test.ts); here they only must be the system's doing.
    const all = await timeline(slug, ref);
    for (const e of all.filter((e) => e.type.endsWith(".pushed")))
      expect(e.actor).toEqual({ type: "system" });
    const events = all.filter((e) => !e.type.endsWith(".pushed"));

    const deployment = { type: "deployment" };
    expect(events.map((e) => [e.type, e.actor, e.requestId])).toEqual([
      ["po.created", deployment, "req-create"],
      ["po.sent", deployment, "req-send"],
      ["po.status_changed", deployment, "req-send"],
      ["qbo.invoice_created", deployment, "req-invoice"],
      ["qbo.invoice_emailed", deployment, "req-email"],
      ["payment.recorded", { type: "qbo" }, "req-sync"],
      ["po.status_changed", { type: "qbo" }, "req-sync"],
      ["payment.recorded", deployment, "req-pay"],
      ["payment.voided", deployment, "req-void"],
      ["credit_note.recorded", deployment, "req-credit"],
      ["po.cancelled", deployment, "req-cancel"],
      ["po.status_changed", deployment, "req-cancel"],
    ]);
    const ids = events.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const e of events) {
      expect(e.data.reference).toBe(ref);
      expect(e.at).toMatch(/^\d{4}-\d\d-\d\dT/);
    }
    const data = events.map((e) => e.data);
    expect(data[0]).toMatchObject({ status: "draft", total: "1000.00", organizationName: "Acme Corp" });
    expect(data[2]).toMatchObject({ from: "draft", to: "sent" });
    expect(data[3]).toMatchObject({ invoiceId, realmId, docNumber: ref, total: "1000.00", tax: "0.00" });
    expect(data[4]).toMatchObject({ invoiceId, sentTo: "ada@acme.test" });
    expect(data[5]).toMatchObject({ amount: "300.00", source: "qbo", method: "other" });
    expect(data[6]).toMatchObject({ from: "sent", to: "partially_paid" });
    expect(data[7]).toMatchObject({
      paymentId: manualId,
      amount: "200.00",
      source: "manual",
      method: "wire",
    });
    expect(data[8]).toMatchObject({ paymentId: manualId, amount: "200.00", reason: "Entered twice" });
    expect(data[9]).toMatchObject({ creditNoteId: creditId, amount: "100.00", reason: "Goodwill" });
    expect(data[10]).toMatchObject({ from: "partially_paid", qboInvoice: "keep" });
    expect(data[11]).toMatchObject({ from: "partially_paid", to: "cancelled" });
    expectStatusChain(events, "cancelled");
  });

  it("records a refused change nowhere: a second send, a payment on a cancelled PO, a double void", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    await call("POST", paths.send(slug, reference));
    const paid = await call("POST", paths.payments(slug, reference), wire("50.00"));
    const voidPath = `${paths.payments(slug, reference)}/${paid.body.payments[0].id}/void`;
    await call("POST", voidPath, { reason: "first" });
    await call("POST", paths.cancel(slug, reference), {});
    const before = await timeline(slug, reference);

    expectError(await call("POST", paths.send(slug, reference)), 409, "invalid_state");
    expectError(await call("POST", paths.payments(slug, reference), wire("10.00")), 409, "invalid_state");
    expectError(await call("POST", voidPath, { reason: "again" }), 409, "invalid_state");
    expectError(await call("POST", paths.cancel(slug, reference), {}), 409, "invalid_state");

    expect(await timeline(slug, reference)).toEqual(before);
  });

  it("keeps exactly one event per payment and a consistent status story under concurrent payments", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug, {
      lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: "1000.00" }],
    });

    const results = await Promise.all([
      ...Array.from({ length: 5 }, () => call("POST", paths.payments(slug, reference), wire("250.00"))),
      call("POST", paths.creditNotes(slug, reference), { amount: "100.00", reason: "Early bird" }),
    ]);

    expect(results.map((r) => r.status)).toEqual([201, 201, 201, 201, 201, 201]);
    const po = (await call("GET", paths.po(slug, reference))).body;
    expect(po.status).toBe("overpaid");
    const events = await timeline(slug, reference);
    const recorded = events.filter((e) => e.type === "payment.recorded");
    expect(recorded).toHaveLength(5);
    expect(new Set(recorded.map((e) => e.data.paymentId))).toEqual(
      new Set(po.payments.map((p: { id: number }) => p.id)),
    );
    expect(events.filter((e) => e.type === "credit_note.recorded")).toHaveLength(1);
    expectStatusChain(events, "overpaid");
  });

  it("writes nothing for a sync that records nothing, and one event per new discrepancy", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("500.00", UNTAXED);
    const sync = () => call("POST", paths.qboInvoiceSync(slug, reference), undefined, as("req-sync"));
    const start = await timeline(slug, reference);

    expect((await sync()).status).toBe(200);
    expect(await timeline(slug, reference)).toEqual(start);

    await emulator().recordPayment(realmId, invoiceId, { amount: "100.00", webhook: false });
    await sync();
    const afterPayment = await timeline(slug, reference);
    expect(afterPayment.slice(start.length).map((e) => e.type)).toEqual([
      "payment.recorded",
      "po.status_changed",
    ]);
    await sync();
    expect(await timeline(slug, reference)).toEqual(afterPayment);

    await emulator().deletePayments(realmId, invoiceId, { webhook: false });
    await sync();
    await sync();
    const afterDelete = await timeline(slug, reference);
    expect(afterDelete.slice(afterPayment.length).map((e) => [e.type, e.actor.type])).toEqual([
      ["payment.voided", "qbo"],
      ["po.status_changed", "qbo"],
    ]);

    // A balance no linked transaction explains (a deposit): flagged once, however many syncs.
    await emulator().setFaults(realmId, {
      rules: [
        {
          kind: "body",
          times: 3,
          match: { operation: "query:Invoice" },
          body: { QueryResponse: { Invoice: [{ Id: invoiceId, TotalAmt: 500, Balance: 480 }] } },
        },
      ],
    });
    const flagged = await sync();
    expect(flagged.body.qbo.discrepancy).toMatchObject({ kind: "unexplained_balance" });
    await sync();
    await sync();
    await emulator().clearFaults(realmId);

    const discrepancies = (await timeline(slug, reference)).filter((e) => e.type === "qbo.discrepancy");
    expect(discrepancies).toHaveLength(1);
    expect(discrepancies[0]).toMatchObject({
      actor: { type: "deployment" },
      requestId: "req-sync",
      data: { reference, kind: "unexplained_balance", invoiceId, message: expect.any(String) },
    });
  });

  it("writes a payment found by the queue consumer as QuickBooks' doing, without a request id", async () => {
    const { slug, realmId, reference, invoiceId } = await invoicedPo("400.00", UNTAXED);
    await emulator().recordPayment(realmId, invoiceId, { amount: "400.00", webhook: false });
    const { batch, message } = invoicesBatch(slug, [invoiceId]);

    await handleQueueBatch(batch, env);

    expect(message.ack).toHaveBeenCalled();
    const events = await timeline(slug, reference);
    const fromQbo = events.slice(-2);
    expect(fromQbo.map((e) => [e.type, e.actor, e.requestId])).toEqual([
      ["payment.recorded", { type: "qbo" }, undefined],
      ["po.status_changed", { type: "qbo" }, undefined],
    ]);
    expect(fromQbo[1]?.data).toMatchObject({ from: "sent", to: "paid" });
    await handleQueueBatch(invoicesBatch(slug, [invoiceId]).batch, env);
    expect(await timeline(slug, reference)).toEqual(events);
  });

  it("answers 404 for a PO of another conference or an unknown one", async () => {
    const a = await createConference();
    const b = await createConference();
    const { reference } = await createPo(a);

    expectError(await call("GET", timelinePath(b, reference)), 404, "not_found");
    expectError(await call("GET", timelinePath(a, "PO-ZZZZZZ")), 404, "not_found");
  });
});

describe("the conference's event feed", () => {
  it("pages through the conference's events in ascending ids with since, and nothing of other conferences", async () => {
    const slug = await createConference();
    const other = await createConference();
    const first = await createPo(slug);
    await createPo(other);
    const second = await createPo(slug);
    await call("POST", paths.send(slug, first.reference));
    await call("POST", paths.payments(slug, second.reference), wire("100.00"));
    const all = [
      ...(await timeline(slug, first.reference)),
      ...(await timeline(slug, second.reference)),
    ].sort((x, y) => x.id - y.id);
    expect(all).toHaveLength(6);

    const seen: Event[] = [];
    let since = 0;
    for (let page = 0; page < 10; page++) {
      const res = await call("GET", feedPath(slug, { since, limit: 4 }));
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      seen.push(...res.body.items);
      if (res.body.items.length > 0) expect(res.body.nextSince).toBe(res.body.items.at(-1).id);
      else expect(res.body.nextSince).toBe(since);
      since = res.body.nextSince;
      if (res.body.items.length < 4) break;
    }

    expect(seen).toEqual(all);
    const later = await call("POST", paths.creditNotes(slug, second.reference), {
      amount: "5.00",
      reason: "x",
    });
    expect(later.status).toBe(201);
    const next = await call("GET", feedPath(slug, { since }));
    expect(next.body.items.map((e: Event) => e.type)).toEqual(["credit_note.recorded"]);
  });

  it("refuses a negative since with 400 and an unknown conference with 404", async () => {
    const slug = await createConference();
    expectError(await call("GET", feedPath(slug, { since: -1 })), 400, "validation_failed");
    expectError(await call("GET", feedPath(slug, { limit: 0 })), 400, "validation_failed");
    expectError(await call("GET", feedPath("no-such-conference")), 404, "not_found");
  });
});

describe("the actor of a request", () => {
  const probe = async (caller?: Caller) => {
    const app = newApp();
    app.use("*", async (c, next) => {
      c.set("requestId", "req-1");
      if (caller) c.set("caller", caller);
      await next();
    });
    app.get("/", (c) => c.json(eventContext(c)));
    return (await app.request("/")).json();
  };

  it("is the deployment when the auth middleware names no caller, or names the deployment", async () => {
    expect(await probe()).toEqual({ actor: { type: "deployment" }, requestId: "req-1" });
    expect(await probe({ type: "deployment" })).toEqual({
      actor: { type: "deployment" },
      requestId: "req-1",
    });
  });

  it("is the API key, by id and name (not role or conference), when a key called", async () => {
    const caller: Caller = {
      type: "api_key",
      id: "key_1",
      name: "Finance bot",
      role: "finance",
      conference: "c",
    };
    expect(await probe(caller)).toEqual({
      actor: { type: "api_key", id: "key_1", name: "Finance bot" },
      requestId: "req-1",
    });
  });
});

describe("the actor of an API key", () => {
  it("names the key (id and name) on the events of what it did", async () => {
    const slug = await createConference();
    const { reference } = await createPo(slug);
    const created = await call("POST", `${paths.conference(slug)}/api-keys`, {
      name: "registration platform",
      role: "finance",
    });

    const paid = await call(
      "POST",
      paths.payments(slug, reference),
      { amount: "5.00", method: "wire", paymentDate: "2026-03-01" },
      { token: created.body.key, headers: { "x-request-id": "req-key-1" } },
    );

    expect(paid.status).toBe(201);
    const events = (await call("GET", timelinePath(slug, reference))).body as any[];
    expect(events.find((e) => e.type === "payment.recorded")).toMatchObject({
      actor: { type: "api_key", id: created.body.id, name: "registration platform" },
      requestId: "req-key-1",
    });
  });
});
