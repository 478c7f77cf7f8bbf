/**
 * SPEC §15 "A PO's invoice lives in one company". A conference reconnected to another QBO
 * company must never act there on the old invoice ids: in a fresh company the same ids name
 * somebody else's invoices (the emulator numbers every company from 1, as small real
 * companies do), e.g. a stranger's 5,000.00 invoice, paid in full.
 */
import { createExecutionContext, createScheduledController, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import { call, consent, emulator, followCallback, invoicedPo, postWebhook, UNTAXED } from "../helpers";

const poPath = (slug: string, ref: string) => `/api/conferences/${slug}/purchase-orders/${ref}`;

async function runCron(cron: string) {
  const ctx = createExecutionContext();
  await worker.scheduled(createScheduledController({ scheduledTime: Date.now(), cron }), env, ctx);
  await waitOnExecutionContext(ctx);
}

/** A second company whose invoice ids collide with the first one's: invoice `invoiceId` is a stranger's 5,000.00, paid. */
async function collidingCompany(invoiceId: string) {
  const grant = await emulator().createRealm({});
  const { ids } = await emulator().seedInvoices(grant.realmId, {
    customerName: "Stranger Industries",
    invoices: Array.from({ length: Number(invoiceId) + 1 }, () => ({ amount: "5000.00", paid: "5000.00" })),
  });
  expect(ids).toContain(invoiceId);
  await emulator().resetStats(grant.realmId);
  return grant;
}

const tokensBody = (
  grant: Awaited<ReturnType<typeof collidingCompany>>,
  extra: Record<string, unknown> = {},
) => ({
  realmId: grant.realmId,
  accessToken: grant.accessToken,
  refreshToken: grant.refreshToken,
  accessTokenExpiresAt: grant.accessTokenExpiresAt,
  refreshTokenExpiresAt: grant.refreshTokenExpiresAt,
  ...extra,
});

/** An invoiced 100.00 PO whose conference was then forced onto a colliding company. */
async function reconnectedElsewhere() {
  const po = await invoicedPo("100.00", UNTAXED);
  const other = await collidingCompany(po.invoiceId);
  const res = await call("PUT", `/api/conferences/${po.slug}/qbo/tokens`, tokensBody(other, { force: true }));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { ...po, otherRealmId: other.realmId, other };
}

function touched(stats: { requests: { byOperation: Record<string, number> } }) {
  return Object.entries(stats.requests.byOperation).filter(([, n]) => n > 0);
}

describe("storing tokens for another company", () => {
  it("refuses with 409 qbo_realm_change_blocked while POs have open invoices in the current one, and changes nothing", async () => {
    const po = await invoicedPo("100.00", UNTAXED);
    const other = await collidingCompany(po.invoiceId);

    const res = await call("PUT", `/api/conferences/${po.slug}/qbo/tokens`, tokensBody(other));

    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("qbo_realm_change_blocked");
    expect(res.body.error.message).toContain(po.realmId);
    expect(res.body.error.details).toMatchObject({
      requestedRealmId: other.realmId,
      openInvoices: [{ realmId: po.realmId, openInvoices: 1 }],
    });
    const conference = (await call("GET", `/api/conferences/${po.slug}`)).body;
    expect(conference.qbo).toMatchObject({ realmId: po.realmId, connected: true, previousRealms: [] });
  });

  it("connects with force: true and then shows both companies", async () => {
    const { slug, realmId, otherRealmId } = await reconnectedElsewhere();

    const conference = (await call("GET", `/api/conferences/${slug}`)).body;

    expect(conference.qbo.realmId).toBe(otherRealmId);
    expect(conference.qbo.previousRealms).toEqual([{ realmId, openInvoices: 1 }]);
  });

  it("allows another company freely when no invoice is open in the current one", async () => {
    const po = await invoicedPo("100.00", UNTAXED);
    await emulator().recordPayment(po.realmId, po.invoiceId, { amount: "100.00", webhook: false });
    expect((await call("POST", `${poPath(po.slug, po.reference)}/qbo-invoice/sync`)).body.status).toBe(
      "paid",
    );
    const other = await collidingCompany(po.invoiceId);

    const res = await call("PUT", `/api/conferences/${po.slug}/qbo/tokens`, tokensBody(other));

    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body.qbo).toMatchObject({ realmId: other.realmId, previousRealms: [] });
  });
});

describe("a PO whose invoice lives in the company the conference left", () => {
  it("is not synced by the cron: one realm_changed discrepancy, nothing read or recorded from the new company", async () => {
    const { slug, reference, realmId, otherRealmId } = await reconnectedElsewhere();

    await runCron("*/15 * * * *");
    let first: any;
    await vi.waitFor(
      async () => {
        first = (await call("GET", poPath(slug, reference))).body;
        expect(first.qbo.discrepancy?.kind).toBe("realm_changed");
      },
      { timeout: 10_000, interval: 100 },
    );
    // The daily full sync (the 15-minute cron now reads the change feed once a checkpoint exists).
    await runCron("0 3 * * *");
    await vi.waitFor(
      async () => {
        const runs = (await call("GET", `/api/conferences/${slug}/qbo/sync`)).body.lastRuns;
        expect(runs.length).toBeGreaterThanOrEqual(2);
      },
      { timeout: 10_000, interval: 100 },
    );

    const after = (await call("GET", poPath(slug, reference))).body;
    expect(after).toMatchObject({ status: "sent", totalPaid: "0.00", balanceDue: "100.00", payments: [] });
    expect(after.qbo).toMatchObject({ totalAmt: "100.00", balance: "100.00", realmId });
    expect(after.qbo.discrepancy.message).toContain(realmId);
    expect(after.qbo.discrepancy.message).toContain(otherRealmId);
    expect(after.qbo.discrepancy.detectedAt).toBe(first.qbo.discrepancy.detectedAt);
    expect(touched(await emulator().stats(otherRealmId))).toEqual([]);
  });

  it("is not synced by the sync route either: 200 with the realm_changed discrepancy, no payment", async () => {
    const { slug, reference, otherRealmId } = await reconnectedElsewhere();

    const res = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);

    expect(res.status).toBe(200);
    expect(res.body.qbo.discrepancy.kind).toBe("realm_changed");
    expect(res.body.payments).toEqual([]);
    expect(touched(await emulator().stats(otherRealmId))).toEqual([]);
  });

  it("is not emailed, fetched or voided: 409 invalid_state naming both companies, the PO unchanged", async () => {
    const { slug, reference, realmId, otherRealmId, invoiceId } = await reconnectedElsewhere();
    const before = (await call("GET", poPath(slug, reference))).body;

    const attempts = [
      await call("POST", `${poPath(slug, reference)}/qbo-invoice/send`),
      await call("GET", `${poPath(slug, reference)}/qbo-invoice/pdf`),
      await call("POST", `${poPath(slug, reference)}/cancel`, { qboInvoice: "void" }),
      await call("POST", `${poPath(slug, reference)}/cancel`, { voidQboInvoice: true }),
    ];

    for (const res of attempts) {
      expect(res.status).toBe(409);
      expect(res.body.error.code).toBe("invalid_state");
      expect(res.body.error.message).toContain(realmId);
      expect(res.body.error.message).toContain(otherRealmId);
      expect(res.body.error.details).toEqual({ invoiceRealmId: realmId, connectedRealmId: otherRealmId });
    }
    expect((await call("GET", poPath(slug, reference))).body).toEqual(before);
    expect(touched(await emulator().stats(otherRealmId))).toEqual([]);
    const stranger = (await emulator().invoices(otherRealmId)).invoices.find((i) => i.Id === invoiceId);
    expect(stranger).toMatchObject({ TotalAmt: 5000, Balance: 0 });
    expect(stranger?.EmailStatus).not.toBe("EmailSent");
  });

  it("ignores a webhook of the new company about an invoice with the same id", async () => {
    const { slug, reference, invoiceId, otherRealmId } = await reconnectedElsewhere();
    const body = JSON.stringify({
      eventNotifications: [
        {
          realmId: otherRealmId,
          dataChangeEvent: {
            entities: [
              { name: "Invoice", id: invoiceId, operation: "Update", lastUpdated: new Date().toISOString() },
            ],
          },
        },
      ],
    });

    expect((await postWebhook(body)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));

    const po = (await call("GET", poPath(slug, reference))).body;
    expect(po).toMatchObject({ totalPaid: "0.00", payments: [] });
    expect(po.qbo.totalAmt).toBe("100.00");
  });

  it("is synced again once the conference reconnects to the invoice's company", async () => {
    const { slug, reference, realmId, invoiceId } = await reconnectedElsewhere();
    await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);
    await emulator().recordPayment(realmId, invoiceId, { amount: "40.00", webhook: false });
    const back = await emulator().issueTokens(realmId);

    const res = await call("PUT", `/api/conferences/${slug}/qbo/tokens`, tokensBody(back));
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    const synced = await call("POST", `${poPath(slug, reference)}/qbo-invoice/sync`);

    expect(synced.status).toBe(200);
    expect(synced.body).toMatchObject({ status: "partially_paid", totalPaid: "40.00", balanceDue: "60.00" });
    expect(synced.body.qbo.discrepancy).toBeNull();
  });
});

describe("the conference's realm", () => {
  it("cannot be changed by PUT once tokens are stored (409), and GET shows the grant's realm", async () => {
    const { slug, realmId } = await invoicedPo("100.00", UNTAXED);

    const res = await call("PUT", `/api/conferences/${slug}`, {
      name: "Renamed",
      qbo: { realmId: "999999999", environment: "sandbox" },
    });

    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe("invalid_state");
    const conference = (await call("GET", `/api/conferences/${slug}`)).body;
    expect(conference).toMatchObject({ name: "Test Conf", qbo: { realmId } });
    const same = await call("PUT", `/api/conferences/${slug}`, {
      name: "Renamed",
      qbo: { realmId, environment: "sandbox" },
    });
    expect(same.status).toBe(200);
    expect(same.body).toMatchObject({ name: "Renamed", qbo: { realmId } });
  });
});

describe("completing OAuth for another company", () => {
  it("refuses with a 409 page and no code exchange while invoices are open, and connects when the link was asked with force", async () => {
    const po = await invoicedPo("100.00", UNTAXED);
    const other = await collidingCompany(po.invoiceId);

    const plain = (await call("POST", `/api/conferences/${po.slug}/qbo/connect`)).body.url;
    const refused = await followCallback(await consent(plain, other.realmId));

    expect(refused.status).toBe(409);
    expect(refused.body).toContain("force");
    expect((await emulator().stats(other.realmId)).tokenCalls.authorization_code).toBe(0);
    expect((await call("GET", `/api/conferences/${po.slug}`)).body.qbo.realmId).toBe(po.realmId);

    const forced = (await call("POST", `/api/conferences/${po.slug}/qbo/connect`, { force: true })).body.url;
    const connected = await followCallback(await consent(forced, other.realmId));

    expect(connected.status).toBe(200);
    const conference = (await call("GET", `/api/conferences/${po.slug}`)).body;
    expect(conference.qbo).toMatchObject({
      realmId: other.realmId,
      previousRealms: [{ realmId: po.realmId, openInvoices: 1 }],
    });
  });
});
