#!/usr/bin/env node
/**
 * `npm run demo` (against a running `npm run dev`): a PO from draft to paid through the
 * QuickBooks sandbox, showing the webhook-driven sync, then the cron-driven one, and after each
 * step the events the conference platform received for it (from `npm run dev`'s receiver);
 * then the ledger QBO → ours: a credit memo QuickBooks applies by itself and a wire payment
 * arriving as one credit note and one payment, and a payment voided in QuickBooks reopening
 * the PO.
 */
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
let session;
try {
  session = JSON.parse(readFileSync(join(root, ".wrangler", "dev-session.json"), "utf8"));
} catch {
  console.error("\n✖ No running sandbox found. Start it first with `npm run dev` (in another terminal).\n");
  process.exit(1);
}
const { workerUrl, emulatorUrl, apiToken, conference, eventsLog } = session;

async function request(method, url, body, auth = true) {
  let res;
  try {
    res = await fetch(url, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${apiToken}` } : {}),
        "content-type": "application/json",
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    console.error(`\n✖ ${url} is not answering. Is \`npm run dev\` still running?\n`);
    process.exit(1);
  }
  const text = await res.text();
  if (!res.ok) {
    console.error(`\n✖ ${method} ${url} → ${res.status}\n${text}\n`);
    process.exit(1);
  }
  return text ? JSON.parse(text) : null;
}

const api = (method, path, body) => request(method, `${workerUrl}${path}`, body);
const sandbox = (method, path, body) => request(method, `${emulatorUrl}${path}`, body, false);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function show(step, po) {
  const q = po.qbo;
  console.log(`\n── ${step}`);
  console.log(
    `   ${po.reference}  status=${po.status}  subtotal=${po.subtotal}  tax=${po.tax}  total=${po.total}  paid=${po.totalPaid}  balanceDue=${po.balanceDue}`,
  );
  if (q)
    console.log(
      `   QBO invoice #${q.invoiceId} (doc ${q.docNumber})  balance=${q.balance}  email=${q.emailStatus}`,
    );
  for (const p of po.payments)
    console.log(
      `   payment ${p.amount}  source=${p.source}  method=${p.method}  ${p.reference}${p.voidedAt ? `  VOIDED: ${p.voidReason}` : ""}`,
    );
  for (const c of po.creditNotes)
    console.log(`   credit note ${c.amount}  ${c.reason}${c.voidedAt ? `  VOIDED: ${c.voidReason}` : ""}`);
}

// ── events the platform received (npm run dev's receiver appends them to eventsLog) ──────────

let eventsRead = 0;
const eventsSeen = { verified: 0, rejected: 0 };
function newEvents() {
  if (!eventsLog || !existsSync(eventsLog)) return [];
  const lines = readFileSync(eventsLog, "utf8").split("\n").filter(Boolean);
  const fresh = lines.slice(eventsRead).map((l) => JSON.parse(l));
  eventsRead = lines.length;
  return fresh;
}
newEvents(); // only this run's events from here on

/**
 * Waits for the events of `reference` since the previous step (delivery goes through a queue
 * that batches for up to a second) and prints them: until one arrived and then none for 1.5 s,
 * or 8 s with none.
 */
async function showEvents(reference) {
  if (!eventsLog) {
    console.log("   (events: restart `npm run dev` to get its event receiver)");
    return;
  }
  const got = [];
  const start = Date.now();
  let lastArrival = 0;
  for (;;) {
    const fresh = newEvents().filter((e) => e.reference === reference);
    if (fresh.length) {
      got.push(...fresh);
      lastArrival = Date.now();
    }
    if (got.length && Date.now() - lastArrival > 1_500) break;
    if (!got.length && Date.now() - start > 8_000) break;
    await sleep(100);
  }
  for (const e of got) eventsSeen[e.verified ? "verified" : "rejected"]++;
  console.log(
    got.length
      ? `   events → platform: ${got.map((e) => `${e.type}${e.verified ? " ✓" : " ✗"}`).join(", ")}`
      : "   events → platform: none within 8 s (is the receiver of `npm run dev` running?)",
  );
}

async function waitForStatus(reference, status, via) {
  const start = Date.now();
  for (;;) {
    const po = await api("GET", `/api/conferences/${conference}/purchase-orders/${reference}`);
    if (po.status === status) return { po, ms: Date.now() - start };
    if (Date.now() - start > 20_000) {
      console.error(
        `\n✖ ${reference} did not become ${status} via ${via} within 20 s (it is ${po.status}).\n`,
      );
      process.exit(1);
    }
    await sleep(200);
  }
}

const conf = await api("GET", `/api/conferences/${conference}`);
const realmId = conf.qbo.realmId;
const company = await (await fetch(`${emulatorUrl}/__control/realms/${realmId}/settings`)).json();
console.log(
  `Conference "${conf.name}" → QuickBooks sandbox company ${realmId} (connected: ${conf.qbo.connected})`,
);
console.log(
  `   a company like a real US one: Automated Sales Tax ${company.tax?.ratePercent ?? 0}%, custom transaction numbers ${company.customTransactionNumbers ? "on" : "off"}, home currency ${company.homeCurrency}`,
);

let po = await api("POST", `/api/conferences/${conference}/purchase-orders`, {
  organizationName: `Initech ${Math.floor(Math.random() * 10000)}`,
  contactName: "Bill Lumbergh",
  contactEmail: "ap@initech.example",
  billingAddress: "4120 Freidrich Lane\nAustin, TX 78744",
  lineItems: [
    { description: "Gold sponsorship", quantity: 1, unitPrice: "5000.00" },
    { description: "Extra booth passes", quantity: 4, unitPrice: "299.99" },
  ],
});
show("1. Purchase order created", po);
await showEvents(po.reference);

po = await api("POST", `/api/conferences/${conference}/purchase-orders/${po.reference}/qbo-invoice`, {
  send: true,
});
show("2. QuickBooks invoice created and emailed", po);
await showEvents(po.reference);

const half = (Number(po.qbo.balance.replace(".", "")) / 2 / 100).toFixed(2);
await sandbox("POST", `/__control/realms/${realmId}/invoices/${po.qbo.invoiceId}/payments`, { amount: half });
let waited = await waitForStatus(po.reference, "partially_paid", "webhook");
show(`3. Customer paid ${half} in QuickBooks → webhook → queue → reconciled (${waited.ms} ms)`, waited.po);
await showEvents(po.reference);

const rest = waited.po.balanceDue;
await sandbox("POST", `/__control/realms/${realmId}/invoices/${po.qbo.invoiceId}/payments`, { amount: rest });
waited = await waitForStatus(po.reference, "paid", "webhook");
show(`4. Customer paid the remaining ${rest} → paid (${waited.ms} ms)`, waited.po);
await showEvents(po.reference);

let quiet = await api("POST", `/api/conferences/${conference}/purchase-orders`, {
  organizationName: "Umbrella Corp",
  contactName: "Albert Wesker",
  contactEmail: "finance@umbrella.example",
  lineItems: [{ description: "Community sponsorship", quantity: 1, unitPrice: "750.00" }],
});
quiet = await api(
  "POST",
  `/api/conferences/${conference}/purchase-orders/${quiet.reference}/qbo-invoice`,
  {},
);
await sandbox("POST", `/__control/realms/${realmId}/invoices/${quiet.qbo.invoiceId}/payments`, {
  amount: quiet.qbo.balance,
  webhook: false,
});
show("5. Another invoice paid in QuickBooks, but no webhook arrives", quiet);
await showEvents(quiet.reference);
await fetch(`${workerUrl}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);
waited = await waitForStatus(quiet.reference, "paid", "cron");
show(`6. The 15-minute cron planned a sync → queue → reconciled (${waited.ms} ms)`, waited.po);
await showEvents(quiet.reference);

// The ledger, QBO → ours: credits are credit notes, never cash; a void in QuickBooks reopens.
let hooli = await api("POST", `/api/conferences/${conference}/purchase-orders`, {
  organizationName: `Hooli ${Math.floor(Math.random() * 10000)}`,
  contactName: "Gavin Belson",
  contactEmail: "ap@hooli.example",
  lineItems: [{ description: "Platinum sponsorship", quantity: 1, unitPrice: "2000.00" }],
});
hooli = await api(
  "POST",
  `/api/conferences/${conference}/purchase-orders/${hooli.reference}/qbo-invoice`,
  {},
);
// A credit memo typed in QuickBooks for the customer: "Automatically apply credits" links it
// to the open invoice with a payment of 0.00; then the customer wires the rest.
await sandbox("POST", `/__control/realms/${realmId}/credit-memos`, {
  customerId: hooli.qbo.customerId,
  amount: "500.00",
  description: "Speaker slot not used",
});
const wireAmount = (Number(hooli.qbo.balance.replace(".", "")) / 100 - 500).toFixed(2);
const wire = await sandbox("POST", `/__control/realms/${realmId}/invoices/${hooli.qbo.invoiceId}/payments`, {
  amount: wireAmount,
  method: "Wire transfer",
  reference: "FED-20261207-01",
});
waited = await waitForStatus(hooli.reference, "paid", "webhook");
show(
  `7. A 500.00 credit applied automatically by QuickBooks + a wire of ${wireAmount} → one credit note, one payment (${waited.ms} ms)`,
  waited.po,
);
await showEvents(hooli.reference);

await sandbox("POST", `/__control/realms/${realmId}/payments/${wire.Payment.Id}/void`, {});
waited = await waitForStatus(hooli.reference, "sent", "webhook");
show(`8. The wire voided in QuickBooks → webhook → the paid PO reopens (${waited.ms} ms)`, waited.po);
await showEvents(hooli.reference);

// 9. Ours → QuickBooks: a wire recorded through the API appears in QuickBooks as a Payment.
let wired = await api("POST", `/api/conferences/${conference}/purchase-orders`, {
  organizationName: `Pied Piper ${Math.floor(Math.random() * 10000)}`,
  contactName: "Gavin Belson",
  contactEmail: "ap@hooli.example",
  lineItems: [{ description: "Platinum sponsorship", quantity: 1, unitPrice: "2000.00" }],
});
wired = await api(
  "POST",
  `/api/conferences/${conference}/purchase-orders/${wired.reference}/qbo-invoice`,
  {},
);
const recorded = await api(
  "POST",
  `/api/conferences/${conference}/purchase-orders/${wired.reference}/payments`,
  {
    amount: "1000.00",
    method: "wire",
    reference: "WIRE-20261130-PIEDPIPER-0042",
    paymentDate: new Date().toISOString().slice(0, 10),
  },
);
const pushStart = Date.now();
console.log(
  `\n── 9. A wire of 1000.00 recorded through the API → 201 at once, qbo.state=${recorded.payments[0].qbo?.state}`,
);
let pushed;
for (;;) {
  pushed = await api("GET", `/api/conferences/${conference}/purchase-orders/${wired.reference}`);
  if (pushed.payments[0].qbo?.state !== "pending") break;
  if (Date.now() - pushStart > 20_000) {
    console.error("\n✖ the wire was not pushed to QuickBooks within 20 s.\n");
    process.exit(1);
  }
  await sleep(200);
}
const qboPayment = (await sandbox("GET", `/__control/realms/${realmId}/payments`)).payments.find(
  (p) => p.Id === pushed.payments[0].qbo?.id,
);
console.log(
  `   outbox → queue → QuickBooks (${Date.now() - pushStart} ms): qbo=${JSON.stringify(pushed.payments[0].qbo)}`,
);
if (qboPayment) {
  console.log(
    `   QuickBooks Payment #${qboPayment.Id}: ${qboPayment.TotalAmt} on ${qboPayment.TxnDate}, ref "${qboPayment.PaymentRefNum}", applied to invoice #${qboPayment.Line?.[0]?.LinkedTxn?.[0]?.TxnId}`,
  );
  console.log(`   its private note: ${qboPayment.PrivateNote}`);
}
await showEvents(wired.reference);

const status = await api("GET", `/api/conferences/${conference}/qbo/sync`);
console.log(
  `\n── Sync status: outstanding=${status.outstanding}, failures=${status.failures.length}, outbox pending=${status.outbox?.pending ?? 0} failed=${status.outbox?.failed.length ?? 0}`,
);
for (const run of status.lastRuns.slice(0, 4)) {
  console.log(
    `   ${run.trigger.padEnd(8)} ${run.startedAt}  checked=${run.invoicesChecked}  payments=${run.paymentsRecorded}  credit notes=${run.creditNotesRecorded}${run.ledgerFallback ? `  fallback: ${run.ledgerFallback}` : ""}`,
  );
}
if (eventsLog)
  console.log(
    `\n── Events received by the platform for these POs: ${eventsSeen.verified} with a valid signature, ${eventsSeen.rejected} rejected`,
  );
console.log("\nDone.");
