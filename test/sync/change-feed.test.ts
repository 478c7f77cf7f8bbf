/**
 * The change feed (SPEC §10): one CDC read per connected realm from its checkpoint minus a
 * 2-minute overlap; the full outstanding sync when there is no checkpoint or it is older than 29
 * days; deleted payments found through our own rows; `webhooksMissed`. Runs in its own workerd
 * (worker-cron): the change feed walks every connected conference in D1.
 */
import { env } from "cloudflare:workers";
import { describe, expect, it, vi } from "vitest";
import { makeDb } from "../../src/db/client";
import { runChangeFeed } from "../../src/sync/change-feed";
import { call, connectedConference, createPo, emulator, paths, postWebhook, UNTAXED } from "../helpers";

const db = () => makeDb(env.DB);

async function setCheckpoint(realmId: string, at: Date) {
  await env.DB.prepare(
    `INSERT INTO cdc_checkpoints (realm_id, checkpoint, updated_at) VALUES (?1, ?2, ?2)
     ON CONFLICT (realm_id) DO UPDATE SET checkpoint = ?2`,
  )
    .bind(realmId, at.toISOString())
    .run();
}

async function checkpointOf(realmId: string): Promise<string | null> {
  const row = await env.DB.prepare("SELECT checkpoint FROM cdc_checkpoints WHERE realm_id = ?")
    .bind(realmId)
    .first<{ checkpoint: string }>();
  return row?.checkpoint ?? null;
}

/** A PO of the conference with its QBO invoice (created through the API). */
async function invoiced(slug: string, total: string) {
  const po = await createPo(slug, { lineItems: [{ description: "Booth", quantity: 1, unitPrice: total }] });
  const res = await call("POST", paths.qboInvoice(slug, po.reference), {});
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return { reference: po.reference, invoiceId: res.body.qbo.invoiceId as string };
}

const cdcReads = async (realmId: string) => {
  const ops = (await emulator().stats(realmId)).requests.byOperation as Record<string, number>;
  return Object.entries(ops)
    .filter(([op]) => op.toLowerCase().includes("cdc"))
    .reduce((n, [, v]) => n + v, 0);
};

async function runsOf(slug: string, trigger: string) {
  return (await call("GET", paths.qboSync(slug))).body.lastRuns.filter((r: any) => r.trigger === trigger);
}

describe("the change feed", () => {
  it("runs the full outstanding sync for a realm without a checkpoint, and for one older than 29 days", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    await invoiced(slug, "100.00");
    await emulator().resetStats(realmId);

    const first = await runChangeFeed(env, db());
    expect(first).toMatchObject({ fullSyncs: 1, cdcReads: 0, failed: 0 });
    expect(await cdcReads(realmId)).toBe(0);
    expect(Date.parse((await checkpointOf(realmId)) ?? "")).toBeGreaterThan(Date.now() - 60_000);
    await vi.waitFor(async () => expect(await runsOf(slug, "cron")).toHaveLength(1), { timeout: 10_000 });

    await setCheckpoint(realmId, new Date(Date.now() - 30 * 86_400_000));
    expect(await runChangeFeed(env, db())).toMatchObject({ fullSyncs: 1, cdcReads: 0 });
    expect(await cdcReads(realmId)).toBe(0);
    await vi.waitFor(async () => expect(await runsOf(slug, "cron")).toHaveLength(2), { timeout: 10_000 });
  });

  it("reads CDC once for two conferences on one realm, from the checkpoint minus 2 minutes", async () => {
    const a = await connectedConference({ settings: UNTAXED });
    const po = await invoiced(a.slug, "300.00");
    // A second conference connected to the same company.
    const b = await connectedConference({ settings: UNTAXED });
    const again = await emulator().issueTokens(a.realmId);
    const stored = await call("PUT", paths.qboTokens(b.slug), {
      realmId: a.realmId,
      accessToken: again.accessToken,
      refreshToken: again.refreshToken,
      accessTokenExpiresAt: again.accessTokenExpiresAt,
      refreshTokenExpiresAt: again.refreshTokenExpiresAt,
    });
    expect(stored.status, JSON.stringify(stored.body)).toBe(200);
    await emulator().recordPayment(a.realmId, po.invoiceId, { amount: "300.00", webhook: false });
    // The payment is 1 minute older than the checkpoint: only the overlap finds it.
    await setCheckpoint(a.realmId, new Date(Date.now() + 60_000));
    await emulator().resetStats(a.realmId);

    const totals = await runChangeFeed(env, db());
    expect(totals).toMatchObject({ fullSyncs: 0, failed: 0 });
    expect(await cdcReads(a.realmId)).toBe(1);
    await vi.waitFor(
      async () => expect((await call("GET", paths.po(a.slug, po.reference))).body.status).toBe("paid"),
      { timeout: 10_000, interval: 100 },
    );
    expect(await runsOf(a.slug, "cdc")).toEqual([expect.objectContaining({ invoicesChecked: 1 })]);
    expect(await runsOf(b.slug, "cdc")).toEqual([]);
    expect(Date.parse((await checkpointOf(a.realmId)) ?? "")).toBeGreaterThan(Date.now() - 60_000);
  });

  it("syncs the PO of a payment deleted in QuickBooks, found through our own row's qbo_id", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const po = await invoiced(slug, "80.00");
    const paid = await emulator().recordPayment(realmId, po.invoiceId, { amount: "80.00", webhook: false });
    await setCheckpoint(realmId, new Date(Date.now() - 5 * 60_000));
    await runChangeFeed(env, db());
    await vi.waitFor(
      async () => expect((await call("GET", paths.po(slug, po.reference))).body.status).toBe("paid"),
      { timeout: 10_000, interval: 100 },
    );
    // Our row of that payment names its QBO id (as the ledger records it).
    await env.DB.prepare(
      "UPDATE payments SET qbo_id = ? WHERE purchase_order_id = (SELECT id FROM purchase_orders WHERE reference = ?)",
    )
      .bind(paid.Payment.Id, po.reference)
      .run();
    const runsBefore = (await runsOf(slug, "cdc")).length;

    await emulator().deletePayments(realmId, po.invoiceId, { webhook: false });
    await runChangeFeed(env, db());
    await vi.waitFor(async () => expect((await runsOf(slug, "cdc")).length).toBe(runsBefore + 1), {
      timeout: 10_000,
      interval: 100,
    });
    // The deleted payment links no invoice any more: only our row tied it to this conference.
    const found = await env.DB.prepare(
      "SELECT entity FROM cdc_changes WHERE conference_slug = ? AND entity = 'Payment' AND entity_id = ?",
    )
      .bind(slug, paid.Payment.Id)
      .all();
    expect(found.results.length).toBeGreaterThanOrEqual(1);
  });

  it("counts the changes it found that no webhook delivered as webhooksMissed", async () => {
    const { slug, realmId } = await connectedConference({ settings: UNTAXED });
    const delivered = await invoiced(slug, "50.00");
    const lost = await invoiced(slug, "60.00");
    await setCheckpoint(realmId, new Date(Date.now() - 5 * 60_000));
    await emulator().recordPayment(realmId, delivered.invoiceId, { amount: "50.00", webhook: false });
    await emulator().recordPayment(realmId, lost.invoiceId, { amount: "60.00", webhook: false });

    // Intuit's webhook for the first invoice and its payment arrives; for the second, none.
    const { payments } = await emulator().payments(realmId);
    const { invoices } = await emulator().invoices(realmId);
    const payment = payments.find((p: any) =>
      p.Line.some((l: any) => l.LinkedTxn.some((t: any) => t.TxnId === delivered.invoiceId)),
    ) as any;
    const invoice = invoices.find((i: any) => i.Id === delivered.invoiceId) as any;
    const res = await postWebhook(
      JSON.stringify({
        eventNotifications: [
          {
            realmId,
            dataChangeEvent: {
              entities: [
                {
                  name: "Payment",
                  id: payment.Id,
                  operation: "Create",
                  lastUpdated: payment.MetaData.LastUpdatedTime,
                },
                {
                  name: "Invoice",
                  id: invoice.Id,
                  operation: "Update",
                  lastUpdated: invoice.MetaData.LastUpdatedTime,
                },
              ],
            },
          },
        ],
      }),
    );
    expect(res.status).toBe(200);
    await vi.waitFor(
      async () => {
        const n = await env.DB.prepare("SELECT COUNT(*) AS n FROM webhook_inbox").first<{ n: number }>();
        expect(n?.n).toBe(0);
      },
      { timeout: 10_000 },
    );

    await runChangeFeed(env, db());
    // Changes younger than 15 minutes are not judged yet: a webhook may still be on its way.
    expect((await call("GET", paths.qboSync(slug))).body.webhooksMissed).toBe(0);
    // Fifteen minutes later (the findings made older, as the clock would):
    await env.DB.prepare(
      "UPDATE cdc_changes SET last_updated = last_updated - 1000 WHERE conference_slug = ?",
    )
      .bind(slug)
      .run();
    await env.DB.prepare(
      "UPDATE webhook_deliveries SET last_updated = last_updated - 1000 WHERE realm_id = ?",
    )
      .bind(realmId)
      .run();
    const status = (await call("GET", paths.qboSync(slug))).body;
    // The second invoice and its payment: 2 changes that only the change feed saw.
    expect(status.webhooksMissed).toBe(2);
  });

  it("documents webhooksMissed in the OpenAPI schema of the sync status", async () => {
    const doc = (await call("GET", paths.openapi, undefined, { token: null })).body;
    const field = doc.components.schemas.SyncStatus.properties.webhooksMissed;
    expect(field).toMatchObject({ type: "integer" });
    expect(field.description).toContain("no webhook delivered");
    expect(doc.components.schemas.SyncStatus.required).toContain("webhooksMissed");
  });
});
