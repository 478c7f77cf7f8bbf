#!/usr/bin/env node
/**
 * `npm run test:chaos`: 200 POs through create → invoice → send → partial and full payments →
 * webhooks → cron, with the QBO emulator failing a random 20% of calls (429 with Retry-After,
 * 500/502/503, a response lost after the write committed, added latency) and webhooks delivered
 * out of order, duplicated and replayed. Then the invariants:
 *   1. exactly one QBO invoice per PO;
 *   2. the ledger (SPEC §9): customers pay in cash, with credit memos applied by hand, with cash
 *      and a credit in one Payment, and with credits QBO applies by itself; some payments are
 *      then voided in QBO. After settling, for every PO: balanceDue equals the invoice's Balance,
 *      its live QBO payments are the cash QBO applies to the invoice and its credit notes the
 *      credit, each QBO payment and credit memo counted once (no duplicate);
 *   3. no PO lost, none stuck without a recorded failure;
 *   4. no 5xx to the API caller except qbo_api_error (502) / qbo_unavailable (503);
 *   5. a third conference is reconnected mid-run to another company whose invoice ids collide
 *      with its own (each a stranger's 5,000.00, paid): nothing is recorded from that company,
 *      no request reaches it except the change feed's CDC reads of the company the conference
 *      is now connected to, and every one of its POs shows a `realm_changed` discrepancy;
 *   6. events to the conference platform (SPEC §12): the two conferences' event endpoints point
 *      at emulator receivers that answer 500 to ~30% of deliveries and hang past the Worker's
 *      10 s timeout on ~5% (seeded; at most twice per webhook-id, 3 hangs per receiver). After settling, every PO
 *      event of a subscribed type was acknowledged (2xx, in time) at least once, duplicates
 *      carry the same webhook-id (one id per event), no unsubscribed type was sent, and no
 *      delivery is left pending or failed.
 *   7. lost webhooks (SPEC §10): ~15% of the ledger's webhook events (payments, credit memos,
 *      voids) are never delivered; the change feed (CDC, on the 15-minute cron) reconciles
 *      them, with no failure recorded.
 *   8. queue send failures: for the middle third of the deliveries every queue send of the
 *      Worker's requests fails (the bench Worker's switch); each delivery is still answered 200
 *      at once, and nothing acknowledged is lost: the inbox is empty at the end.
 *   9. the ledger push (SPEC §9 "Ours → QBO"): ~15% of the POs also get a payment recorded
 *      through the API while QuickBooks fails 20% of calls. Each such payment ends up in
 *      QuickBooks exactly once (one live QBO Payment carrying its marker
 *      `qpo-payment:<slug>:<id>` in PrivateNote, for its amount, linked to its invoice), is
 *      never recorded back as money found in QuickBooks, and no row is left `pending`; a
 *      `failed` one must show in the sync status's `outbox.failed` and still has no duplicate.
 * Runs the bench Worker (the production app plus /__bench/*: bench/worker/) for invariant 8's switch.
 * The companies throttle as Intuit does (10 requests/s, 500/min per company, the emulator's
 * default), and the Worker's rate budget must keep every path under that: no request is
 * throttled over the limits (the only 429s are injected faults).
 * The companies are as hostile as real ones (sales tax, custom transaction numbers) and forget
 * a requestid after 2 seconds, so a retried create must find its invoice by DocNumber.
 *  10. Intuit's token endpoint (SPEC §10): the two companies issue access tokens the Worker
 *      may use for only ~20 s (it refreshes 5 minutes before expiry), so it refreshes all through
 *      the run, and a seeded schedule fails some refreshes: 500/502/503, a dropped connection,
 *      and at least two answers lost after Intuit rotated the token ("commit-then-drop"; the
 *      Worker must retry with the previous refresh token). No conference ends `needsReconnect`,
 *      no work is left failed by a token error. `CHAOS_TOKEN_FAULTS=0` keeps the refreshes but
 *      injects no token faults.
 * The seed is printed first; `CHAOS_SEED=<n> npm run test:chaos` replays a run.
 */
import { createHmac } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { freePort, root, sandboxSecrets, startSandbox } from "../../scripts/lib/sandbox.mjs";

const SEED = Number(process.env.CHAOS_SEED ?? Math.floor(Math.random() * 2 ** 31));
const PO_COUNT = Number(process.env.CHAOS_POS ?? 200);
const FAULT_RATE = 0.2;
/** Invariant 10: seeded faults on Intuit's token endpoint (on unless CHAOS_TOKEN_FAULTS=0). */
const TOKEN_FAULTS = (process.env.CHAOS_TOKEN_FAULTS ?? "1") !== "0";
/** The Worker treats access tokens as expired 5 minutes early (SPEC §6): ~20 s of use each. */
const ACCESS_TOKEN_TTL_SECONDS = 5 * 60 + 20;
/** Invariant 6's receivers: which types each conference subscribes to (null: every type). */
const SUBSCRIPTIONS = {
  "chaos-east": ["payment.recorded", "sync.failed"],
  "chaos-west": ["qbo.invoice_created", "po.cancelled", "qbo.*", "sync.*"],
};
/**
 * Locally (wrangler dev) a hung delivery stalls the platform-events consumer far more than one
 * batch would on Cloudflare, so hangs are capped per receiver to keep the run in minutes.
 * CHAOS_RECEIVER_HANGS raises the cap.
 */
const RECEIVER_CHAOS = {
  seed: SEED,
  failRate: 0.3,
  hangRate: 0.05,
  hangMs: 11_000,
  maxFailuresPerId: 2,
  maxHangs: Number(process.env.CHAOS_RECEIVER_HANGS ?? 3),
};
console.log(`chaos seed: ${SEED}  (replay with CHAOS_SEED=${SEED} npm run test:chaos)`);

/** mulberry32: small, seedable, good enough to drive the schedule. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const shuffle = (list) => {
  for (let i = list.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
};
/**
 * Invariant 10: the fault rules of one company's token endpoint. Rules are consumed in order by
 * `token:refresh_token` calls only: a seeded schedule of 12 calls where every other call is
 * faulted (two answers lost after the token rotated, among the first seven calls; at least one
 * 500/502/503 and one dropped connection; the rest of either kind) and the call after each fault
 * is not, then no fault for every later call (so the companies' random faults never hit it and
 * the figures are exact). Faults back to back are a token-endpoint outage, which the queue's
 * retries are not meant to outlast (see the README). Its own PRNG: the rest of the run replays
 * as before.
 */
function tokenSchedule(seed) {
  const next = prng(seed);
  const status = () => ({ kind: "status", status: [500, 502, 503][Math.floor(next() * 3)] });
  const faults = [
    { kind: "commit-then-drop" },
    { kind: "commit-then-drop" },
    status(),
    { kind: "drop" },
    next() < 0.5 ? status() : { kind: "drop" },
    next() < 0.5 ? status() : { kind: "drop" },
  ];
  // The lost answers first among the first four faults (calls 1, 3, 5, 7), the rest shuffled.
  const head = faults.slice(0, 4);
  for (let i = head.length - 1; i > 0; i--) {
    const j = Math.floor(next() * (i + 1));
    [head[i], head[j]] = [head[j], head[i]];
  }
  const order = [...head, ...faults.slice(4)];
  const slots = order.flatMap((fault) => [fault, { kind: "pass" }]);
  const match = { operation: "token:refresh_token" };
  const pass = (times) => ({ kind: "latency", ms: 0, times, match });
  const rules = slots.map((s) => (s.kind === "pass" ? pass(1) : { ...s, times: 1, match }));
  return { slots, rules: [...rules, pass(100_000)] };
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const cents = (s) => Math.round(Number(s) * 100);
const money = (c) => (c / 100).toFixed(2);

const secrets = sandboxSecrets("chaos");
const persistTo = join(root, ".wrangler", "chaos-state");
rmSync(persistTo, { recursive: true, force: true });

const violations = [];
const unexpected5xx = [];
const sandbox = await startSandbox({
  workerPort: await freePort(),
  emulatorPort: await freePort(),
  secrets,
  secretsAsVars: true,
  persistTo,
  config: "bench/wrangler.bench.toml",
  vars: { SYNC_BATCH_SIZE: "40" },
  // CHAOS_LOGS=1 shows the Worker's and the emulator's logs (e.g. qbo.refresh_answer_lost).
  stdio: process.env.CHAOS_LOGS === "1" ? "inherit" : "ignore",
});
/** Invariant 7: share of the ledger's webhook events that are never delivered. */
const LOST_WEBHOOK_RATE = 0.15;
/** Invariant 9: share of the POs that also get a payment recorded through the API. */
const MANUAL_PAYMENT_RATE = 0.15;

async function api(method, path, body) {
  const res = await fetch(`${sandbox.workerUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${secrets.API_TOKEN}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = { raw: text.slice(0, 200) };
  }
  if (res.status >= 500) {
    const code = json?.error?.code;
    if (
      !(res.status === 502 && code === "qbo_api_error") &&
      !(res.status === 503 && code === "qbo_unavailable")
    ) {
      unexpected5xx.push(`${method} ${path} → ${res.status} ${text.slice(0, 200)}`);
    }
  }
  return { status: res.status, body: json };
}

async function control(method, path, body) {
  const res = await fetch(`${sandbox.emulatorUrl}/__control${path}`, {
    method,
    headers: { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!res.ok) throw new Error(`control ${method} ${path} → ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Retries an API call while it answers a documented transient failure. */
async function withRetries(what, fn, done) {
  let res = null;
  for (let attempt = 1; attempt <= 30; attempt++) {
    res = await fn();
    if (done(res)) return res;
    const code = res.body?.error?.code;
    if (!["qbo_unavailable", "qbo_api_error", "qbo_invoice_in_progress"].includes(code)) {
      violations.push(`${what}: unexpected answer ${res.status} ${JSON.stringify(res.body).slice(0, 200)}`);
      return res;
    }
    await sleep(50 + Math.floor(rand() * 200));
  }
  violations.push(
    `${what}: still failing after 30 attempts, last ${res?.status} ${JSON.stringify(res?.body).slice(0, 160)}`,
  );
  return null;
}

/** Whether `type` is one an endpoint with `filters` (null: every type) receives. */
function subscribed(filters, type) {
  return (
    filters === null || filters.some((f) => (f.endsWith("*") ? type.startsWith(f.slice(0, -1)) : f === type))
  );
}

/** Every PO event of the conference, through the API's feed. */
async function poEvents(slug) {
  const all = [];
  for (let since = 0; ; ) {
    const page = (await api("GET", `/api/conferences/${slug}/events?since=${since}&limit=500`)).body;
    all.push(...page.items);
    if (page.items.length < 500) return all;
    since = page.nextSince;
  }
}

/** Invariant 6 for one conference, as it stands now. */
async function checkEvents(slug) {
  const filters = SUBSCRIPTIONS[slug];
  const problems = [];
  const { received } = await control("GET", `/receiver/${slug}`);
  const acknowledged = new Set();
  /** An event's identity apart from its webhook-id → the webhook-ids it came under. */
  const idsOf = new Map();
  for (const r of received) {
    const body = JSON.parse(r.body);
    const id = r.headers["webhook-id"];
    if (body.id !== id) problems.push(`${slug}: webhook-id ${id} carries body id ${body.id}`);
    if (!subscribed(filters, body.type)) problems.push(`${slug}: ${id} of unsubscribed type ${body.type}`);
    if (r.status >= 200 && r.status < 300 && !r.hung) acknowledged.add(id);
    const what = JSON.stringify([
      body.type,
      body.occurredAt,
      body.data?.purchaseOrder?.reference ?? null,
      body.data?.event?.data ?? body.data,
    ]);
    idsOf.set(what, new Set([...(idsOf.get(what) ?? []), id]));
  }
  for (const [what, ids] of idsOf) {
    if (ids.size > 1)
      problems.push(
        `${slug}: one event sent under ${ids.size} webhook-ids (${[...ids]}): ${what.slice(0, 120)}`,
      );
  }
  const events = (await poEvents(slug)).filter((e) => subscribed(filters, e.type));
  for (const e of events) {
    if (!acknowledged.has(`evt_${e.id}`))
      problems.push(`${slug}: evt_${e.id} (${e.type}) never acknowledged`);
  }
  for (const status of ["pending", "failed"]) {
    const { items } = (
      await api("GET", `/api/conferences/${slug}/event-endpoint/deliveries?status=${status}&limit=200`)
    ).body;
    for (const d of items) {
      const overdue = d.nextAttemptAt !== null && Date.parse(d.nextAttemptAt) < Date.now() - 60_000;
      problems.push(
        `${slug}: delivery ${d.id} (${d.eventId}) ${status}${overdue ? ", overdue without a retry" : ""} after ${d.attempts} attempts, ${d.lastError}`,
      );
    }
  }
  const failedAttempts = received.filter((r) => r.status >= 300 || r.hung).length;
  return { problems, expected: events.length, received: received.length, failedAttempts };
}

async function pool(items, width, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) {
        const item = items[next++];
        await fn(item);
      }
    }),
  );
}

function sign(body) {
  return createHmac("sha256", secrets.QBO_WEBHOOK_VERIFIER_TOKEN).update(body).digest("base64");
}

try {
  // Two conferences, each on its own QuickBooks company, both failing 20% of the time.
  const conferences = [];
  for (const slug of ["chaos-east", "chaos-west"]) {
    await api("PUT", `/api/conferences/${slug}`, { name: slug });
    // A real company's defaults (sales tax, custom transaction numbers), and a requestid memory
    // of 2 seconds, so retries after lost answers must find their invoice by DocNumber.
    const grant = await control("POST", "/realms", {
      companyName: slug,
      accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS,
      settings: { requestIdRetentionSeconds: 2 },
    });
    const stored = await api("PUT", `/api/conferences/${slug}/qbo/tokens`, grant);
    if (stored.status !== 200) throw new Error(`storing tokens failed: ${JSON.stringify(stored.body)}`);
    const tokens = tokenSchedule(SEED + 7919 * (conferences.length + 1));
    if (!TOKEN_FAULTS) tokens.slots = [];
    await control("PUT", `/realms/${grant.realmId}/faults`, {
      rules: TOKEN_FAULTS ? tokens.rules : tokens.rules.slice(-1),
      random: {
        rate: FAULT_RATE,
        seed: SEED,
        kinds: ["throttle", "status", "commit-then-fail", "commit-then-drop", "latency"],
        retryAfterSeconds: 1,
      },
    });
    conferences.push({ slug, realmId: grant.realmId, tokenSlots: tokens.slots });
    // Invariant 6: the conference platform's receiver, unreliable on purpose.
    await control("PUT", `/receiver/${slug}`, { statuses: [], chaos: RECEIVER_CHAOS });
    const endpoint = await api("PUT", `/api/conferences/${slug}/event-endpoint`, {
      url: `${sandbox.emulatorUrl}/__receiver/${slug}`,
      ...(SUBSCRIPTIONS[slug] ? { events: SUBSCRIPTIONS[slug] } : {}),
    });
    if (endpoint.status !== 200) throw new Error(`event endpoint: ${JSON.stringify(endpoint.body)}`);
  }

  // 200 POs, a few organizations shared between them (customer look-ups race too).
  const pos = [];
  await pool(
    Array.from({ length: PO_COUNT }, (_, i) => i),
    6,
    async (i) => {
      const conference = conferences[i % conferences.length];
      const unit = 1 + Math.floor(rand() * 500000); // cents
      const created = await api("POST", `/api/conferences/${conference.slug}/purchase-orders`, {
        organizationName: `Org ${i % 17} O'Neil \\ Co`,
        contactName: "Chaos",
        contactEmail: `po${i}@chaos.example`,
        lineItems: [
          { description: "Sponsorship", quantity: 1 + (i % 3), unitPrice: money(unit) },
          { description: "Passes", quantity: 3, unitPrice: "0.10" },
        ],
      });
      if (created.status !== 201) {
        violations.push(`create PO ${i}: ${created.status}`);
        return;
      }
      pos.push({ conference, reference: created.body.reference });
    },
  );
  console.log(`• ${pos.length} POs created`);

  await pool(pos, 6, async (po) => {
    const base = `/api/conferences/${po.conference.slug}/purchase-orders/${po.reference}`;
    const invoiced = await withRetries(
      `invoice ${po.reference}`,
      () => api("POST", `${base}/qbo-invoice`, {}),
      (r) => r.status === 201 || r.body?.error?.code === "qbo_invoice_exists",
    );
    if (!invoiced) return;
    const current = await api("GET", base);
    po.invoiceId = current.body.qbo?.invoiceId;
    po.customerId = current.body.qbo?.customerId;
    po.total = cents(current.body.total);
    await withRetries(
      `send ${po.reference}`,
      () => api("POST", `${base}/qbo-invoice/send`),
      (r) => r.status === 200,
    );
  });
  const invoiced = pos.filter((p) => p.invoiceId);
  console.log(`• ${invoiced.length} invoices created and sent`);

  // A third conference, invoiced in its own company (also failing 20% of the time)…
  const moved = { slug: "chaos-moved", pos: [] };
  await api("PUT", `/api/conferences/${moved.slug}`, { name: moved.slug });
  const movedGrant = await control("POST", "/realms", { companyName: moved.slug });
  moved.realmId = movedGrant.realmId;
  await api("PUT", `/api/conferences/${moved.slug}/qbo/tokens`, movedGrant);
  await control("PUT", `/realms/${moved.realmId}/faults`, {
    rules: [],
    random: {
      rate: FAULT_RATE,
      seed: SEED + 1,
      kinds: ["throttle", "status", "latency"],
      retryAfterSeconds: 1,
    },
  });
  await pool(
    Array.from({ length: 20 }, (_, i) => i),
    4,
    async (i) => {
      const created = await api("POST", `/api/conferences/${moved.slug}/purchase-orders`, {
        organizationName: `Moved ${i % 5}`,
        contactName: "Chaos",
        contactEmail: `moved${i}@chaos.example`,
        lineItems: [{ description: "Sponsorship", quantity: 1, unitPrice: "100.00" }],
      });
      const base = `/api/conferences/${moved.slug}/purchase-orders/${created.body.reference}`;
      const done = await withRetries(
        `invoice ${created.body.reference}`,
        () => api("POST", `${base}/qbo-invoice`, {}),
        (r) => r.status === 201 || r.body?.error?.code === "qbo_invoice_exists",
      );
      if (done)
        moved.pos.push({
          reference: created.body.reference,
          base,
          invoiceId: (await api("GET", base)).body.qbo?.invoiceId,
        });
    },
  );
  // …and a company whose invoice ids collide with it, every one a stranger's 5,000.00, paid.
  const intruder = await control("POST", "/realms", { companyName: "intruder" });
  const maxId = Math.max(...moved.pos.map((p) => Number(p.invoiceId)));
  await control("POST", `/realms/${intruder.realmId}/seed-invoices`, {
    customerName: "Stranger Industries",
    invoices: Array.from({ length: maxId + 5 }, () => ({ amount: "5000.00", paid: "5000.00" })),
  });
  await control("POST", `/realms/${intruder.realmId}/stats/reset`);
  console.log(`• ${moved.pos.length} POs invoiced in ${moved.slug}; a colliding company is ready`);
  // Invariant 7: the change feed's first sweep of a company is a full sync that sets its
  // checkpoint; sweeping once now makes the sweeps while settling CDC reads, so what heals the
  // lost webhooks below is the change feed itself, not a full sync.
  await fetch(`${sandbox.workerUrl}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);

  // Customers pay in QuickBooks: credits (by hand, or with cash in one Payment) for some, a
  // partial payment for all, the rest for about 70%; credits QBO applies by itself at the end
  // (to the customer's oldest open invoices); then about 10% of the cash payments are voided.
  const events = [];
  /** `po`: the PO the change is about (null for credits QBO applies by itself). */
  const event = (po, realmId, name, id, operation = "Create") =>
    events.push({
      realmId,
      name,
      id,
      operation,
      lastUpdated: new Date().toISOString(),
      po,
      lost: rand() < LOST_WEBHOOK_RATE,
    });
  /** Invariant 9: payments recorded through the API, pushed to QuickBooks by the outbox. */
  const manualPayments = [];
  const today = new Date().toISOString().slice(0, 10);
  const cashPayments = [];
  const autoCredits = [];
  for (const po of invoiced) {
    const realm = po.conference.realmId;
    let left = po.total;
    const r = rand();
    if (r < 0.15) {
      const credit = Math.max(1, Math.floor(left * (0.1 + rand() * 0.2)));
      const { CreditMemo, Payment } = await control("POST", `/realms/${realm}/credit-memos`, {
        invoiceId: po.invoiceId,
        amount: money(credit),
        description: "Chaos credit",
        webhook: false,
      });
      event(po, realm, "CreditMemo", CreditMemo.Id);
      if (Payment) event(po, realm, "Payment", Payment.Id);
      left -= credit;
    } else if (r < 0.3) {
      const credit = Math.max(1, Math.floor(left * (0.1 + rand() * 0.2)));
      const cash = Math.max(1, Math.floor((left - credit) * (0.2 + rand() * 0.5)));
      const { Payment, CreditMemo } = await control(
        "POST",
        `/realms/${realm}/invoices/${po.invoiceId}/payments`,
        {
          amount: money(cash),
          credit: { amount: money(credit) },
          method: rand() < 0.5 ? "Wire" : "Check",
          webhook: false,
        },
      );
      event(po, realm, "Payment", Payment.Id);
      if (CreditMemo) event(po, realm, "CreditMemo", CreditMemo.Id);
      cashPayments.push({ realm, id: Payment.Id });
      left -= credit + cash;
    } else if (r < 0.4) {
      autoCredits.push({ realm, customerId: po.customerId, amount: Math.max(1, Math.floor(left * 0.1)) });
    }
    if (left > 1 && rand() < MANUAL_PAYMENT_RATE) {
      // Invariant 9: the sponsor's wire is recorded here; the outbox pushes it to QuickBooks
      // in the background while the rest of this loop changes the same companies.
      const amount = Math.max(1, Math.floor(left * (0.1 + rand() * 0.3)));
      const recorded = await api(
        "POST",
        `/api/conferences/${po.conference.slug}/purchase-orders/${po.reference}/payments`,
        { amount: money(amount), method: rand() < 0.5 ? "wire" : "check", paymentDate: today },
      );
      if (recorded.status !== 201) {
        violations.push(
          `${po.reference}: recording a payment answered ${recorded.status} ${JSON.stringify(recorded.body).slice(0, 200)}`,
        );
      } else {
        const row = recorded.body.payments
          .filter((p) => p.source === "manual")
          .reduce((a, b) => (b.id > a.id ? b : a));
        manualPayments.push({ po, id: row.id, amount });
        left -= amount;
      }
    }
    if (left <= 0) continue;
    const first = Math.max(1, Math.floor(left * (0.2 + rand() * 0.5)));
    const payments = [first];
    if (rand() < 0.7 && left - first > 0) payments.push(left - first);
    for (const amount of payments) {
      const { Payment } = await control("POST", `/realms/${realm}/invoices/${po.invoiceId}/payments`, {
        amount: money(amount),
        webhook: false,
      });
      event(po, realm, "Payment", Payment.Id);
      cashPayments.push({ po, realm, id: Payment.Id });
    }
  }
  // Credits QBO applies by itself go to the customer's oldest open invoices; one landing on an
  // invoice whose manual payment is not pushed yet would leave that push more than the balance
  // (a conflict the product reports as a failed push, not what this run checks), so the pushes
  // finish first.
  const pendingManual = async () => {
    let pending = 0;
    for (const po of new Set(manualPayments.map((m) => m.po))) {
      const view = (
        await api("GET", `/api/conferences/${po.conference.slug}/purchase-orders/${po.reference}`)
      ).body;
      pending += view.payments.filter((p) => p.source === "manual" && p.qbo?.state === "pending").length;
    }
    return pending;
  };
  for (let i = 0; i < 60 && (await pendingManual()) > 0; i++) await sleep(2_000);
  for (const credit of autoCredits) {
    const { CreditMemo, Payment } = await control("POST", `/realms/${credit.realm}/credit-memos`, {
      customerId: credit.customerId,
      amount: money(credit.amount),
      webhook: false,
    });
    event(null, credit.realm, "CreditMemo", CreditMemo.Id);
    if (Payment) event(null, credit.realm, "Payment", Payment.Id);
  }
  let voided = 0;
  for (const payment of cashPayments) {
    if (rand() >= 0.1) continue;
    await control("POST", `/realms/${payment.realm}/payments/${payment.id}/void`, { webhook: false });
    event(payment.po, payment.realm, "Payment", payment.id, "Void");
    voided++;
  }
  // Invariant 7: POs none of whose changes is announced by a webhook; only the change feed sees them.
  const unannounced = invoiced.filter((po) => events.filter((e) => e.po === po).every((e) => e.lost));
  console.log(
    `• ${events.length} QBO changes: payments, credit memos (${autoCredits.length} applied automatically), ${voided} payments voided; ` +
      `${manualPayments.length} payments recorded through the API; ${events.filter((e) => e.lost).length} webhooks will be lost (${unannounced.length} POs with no webhook at all)`,
  );

  // Webhooks: grouped, shuffled, 20% duplicated at once, 10% replayed at the end.
  const deliveries = [];
  for (let i = 0; i < events.length; ) {
    const size = 1 + Math.floor(rand() * 4);
    const group = events.slice(i, i + size).filter((e) => !e.lost);
    i += size;
    if (group.length === 0) continue;
    const body = JSON.stringify({
      eventNotifications: group.map((e) => ({
        realmId: e.realmId,
        dataChangeEvent: {
          entities: [{ name: e.name, id: e.id, operation: e.operation, lastUpdated: e.lastUpdated }],
        },
      })),
    });
    deliveries.push(body);
    if (rand() < 0.2) deliveries.push(body);
  }
  const replays = deliveries.filter(() => rand() < 0.1);
  // Mid-run, the third conference is reconnected to the colliding company: refused without
  // force, then forced; QuickBooks then reports changes to the colliding invoices.
  const reconnect = (async () => {
    await sleep(200 + Math.floor(rand() * 500));
    const blocked = await api("PUT", `/api/conferences/${moved.slug}/qbo/tokens`, intruder);
    if (blocked.body?.error?.code !== "qbo_realm_change_blocked")
      violations.push(
        `realm change without force answered ${blocked.status} ${JSON.stringify(blocked.body)}`,
      );
    const forced = await api("PUT", `/api/conferences/${moved.slug}/qbo/tokens`, {
      ...intruder,
      force: true,
    });
    if (forced.status !== 200) violations.push(`forced realm change answered ${forced.status}`);
    const body = JSON.stringify({
      eventNotifications: [
        {
          realmId: intruder.realmId,
          dataChangeEvent: {
            entities: moved.pos.map((p) => ({
              name: "Invoice",
              id: p.invoiceId,
              operation: "Update",
              lastUpdated: new Date().toISOString(),
            })),
          },
        },
      ],
    });
    await fetch(`${sandbox.workerUrl}/webhooks/qbo`, {
      method: "POST",
      headers: { "content-type": "application/json", "intuit-signature": sign(body) },
      body,
    }).then((r) => r.body?.cancel());
  })();
  let webhookNon200 = 0;
  let slowAcks = 0;
  // Invariant 8: every queue send of the requests fails for the middle third of the deliveries.
  const ordered = [...shuffle(deliveries), ...replays];
  const failFrom = Math.floor(ordered.length / 3);
  const failUntil = Math.floor((2 * ordered.length) / 3);
  let posted = 0;
  await pool(ordered, 4, async (body) => {
    const n = posted++;
    if (n === failFrom) await api("POST", "/__bench/queue-failing", { failing: true });
    if (n === failUntil) await api("POST", "/__bench/queue-failing", { failing: false });
    const t0 = Date.now();
    const res = await fetch(`${sandbox.workerUrl}/webhooks/qbo`, {
      method: "POST",
      headers: { "content-type": "application/json", "intuit-signature": sign(body) },
      body,
    });
    if (res.status !== 200) webhookNon200++;
    if (Date.now() - t0 > 3_000) slowAcks++; // Intuit's timeout
    await res.body?.cancel();
  });
  await api("POST", "/__bench/queue-failing", { failing: false });
  const leftInInbox = (await api("GET", "/__bench/inbox")).body.rows;
  await reconnect;
  if (slowAcks) violations.push(`${slowAcks} webhook deliveries took longer than Intuit's 3 s to answer`);
  if (webhookNon200) violations.push(`${webhookNon200} webhook deliveries were not answered 200`);
  console.log(
    `• ${deliveries.length + replays.length} webhook deliveries posted (out of order, duplicated, replayed; queue sends failing for deliveries ${failFrom}–${failUntil - 1}, ${leftInInbox} left in the inbox)`,
  );

  // Let the queue work (retries included), then the cron, until everything settles.
  const consistent = async () => {
    const invoices = new Map();
    const applied = new Map(); // realm:invoice → {cash, credit, payments:Set, creditMemos:Set}
    const at = (key) => {
      if (!applied.has(key))
        applied.set(key, { cash: 0, credit: 0, payments: new Set(), creditMemos: new Set() });
      return applied.get(key);
    };
    for (const { realmId } of conferences) {
      for (const inv of (await control("GET", `/realms/${realmId}/invoices`)).invoices)
        invoices.set(`${realmId}:${inv.Id}`, inv);
      // What each live payment applies to each invoice: credit lines used up in line order,
      // the rest of an invoice line is cash (the Worker's rule, src/qbo/linked-txns.ts).
      for (const p of (await control("GET", `/realms/${realmId}/payments`)).payments) {
        if (p.status === "Deleted") continue;
        // Our own pushes (invariant 9) are manual payments here, never `source: "qbo"`.
        if (/qpo-payment:/.test(p.PrivateNote ?? "")) continue;
        const credits = p.Line.filter((l) => l.LinkedTxn[0]?.TxnType === "CreditMemo").map((l) => ({
          id: l.LinkedTxn[0].TxnId,
          left: cents(String(l.Amount)),
        }));
        for (const line of p.Line) {
          const txn = line.LinkedTxn[0];
          if (txn?.TxnType !== "Invoice") continue;
          const slot = at(`${realmId}:${txn.TxnId}`);
          let left = cents(String(line.Amount));
          for (const c of credits) {
            const used = Math.min(left, c.left);
            if (used <= 0) continue;
            c.left -= used;
            left -= used;
            slot.credit += used;
            slot.creditMemos.add(c.id);
          }
          slot.cash += left;
          if (left > 0) slot.payments.add(p.Id);
        }
      }
    }
    const stuck = [];
    for (const po of invoiced) {
      const key = `${po.conference.realmId}:${po.invoiceId}`;
      const inv = invoices.get(key);
      const want = at(key);
      const view = (
        await api("GET", `/api/conferences/${po.conference.slug}/purchase-orders/${po.reference}`)
      ).body;
      const live = view.payments.filter((p) => p.source === "qbo" && !p.voidedAt);
      const credits = view.creditNotes.filter((c) => !c.voidedAt);
      const got = {
        cash: live.reduce((s, p) => s + cents(p.amount), 0),
        credit: credits.reduce((s, c) => s + cents(c.amount), 0),
        payments: live.length,
        creditMemos: credits.length,
        balanceDue: cents(view.balanceDue),
      };
      const names = [...live.map((p) => p.reference), ...credits.map((c) => c.reason)];
      const duplicates = names.filter((n, i) => names.indexOf(n) !== i);
      const expected = {
        cash: want.cash,
        credit: want.credit,
        payments: want.payments.size,
        creditMemos: want.creditMemos.size,
        balanceDue: cents(String(inv.Balance)),
      };
      if (JSON.stringify(got) !== JSON.stringify(expected) || duplicates.length > 0)
        stuck.push({ po, got: { ...got, duplicates }, expected });
    }
    return stuck;
  };
  let stuck = [];
  const deadline = Date.now() + 150_000;
  for (let round = 1; ; round++) {
    await sleep(round === 1 ? 8_000 : 6_000);
    stuck = await consistent();
    console.log(`• settle round ${round}: ${stuck.length} POs not yet reconciled`);
    if (stuck.length === 0 || Date.now() > deadline) break;
    await fetch(`${sandbox.workerUrl}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);
  }

  // The moved conference's POs are planned by the cron like any outstanding invoice.
  await fetch(`${sandbox.workerUrl}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);
  for (let i = 0; i < 30; i++) {
    await sleep(1_000);
    const views = await Promise.all(moved.pos.map((p) => api("GET", p.base)));
    if (views.every((v) => v.body.qbo?.discrepancy?.kind === "realm_changed")) break;
  }

  // Invariant 1: exactly one QBO invoice per PO (found by DocNumber = reference, taxed as the
  // company taxes), and no stray invoices.
  for (const { realmId } of conferences) {
    const { invoices } = await control("GET", `/realms/${realmId}/invoices`);
    const byDoc = new Map();
    for (const inv of invoices) byDoc.set(inv.DocNumber ?? "", (byDoc.get(inv.DocNumber ?? "") ?? 0) + 1);
    for (const po of pos.filter((p) => p.conference.realmId === realmId)) {
      const n = byDoc.get(po.reference) ?? 0;
      if (n !== 1) violations.push(`${po.reference}: ${n} QBO invoices with DocNumber ${po.reference}`);
    }
    if (invoices.length !== pos.filter((p) => p.conference.realmId === realmId).length) {
      violations.push(`realm ${realmId}: ${invoices.length} invoices for ${pos.length / 2} POs`);
    }
    if (!invoices.some((inv) => (inv.TxnTaxDetail?.TotalTax ?? 0) > 0))
      violations.push(`realm ${realmId}: no invoice was taxed`);
  }
  // Invariants 2 and 3: reconciled, or visibly failed.
  const failures = new Set();
  for (const { slug } of conferences) {
    for (const f of (await api("GET", `/api/conferences/${slug}/qbo/sync`)).body.failures) {
      for (const id of f.invoiceIds) failures.add(id);
    }
  }
  // Invariant 9: a push that gave up is a recorded failure too (finance retries it).
  const failedPushes = new Map(); // PO reference → failed outbox entries
  for (const { slug } of conferences) {
    for (const f of (await api("GET", `/api/conferences/${slug}/qbo/sync`)).body.outbox?.failed ?? [])
      failedPushes.set(f.reference, [...(failedPushes.get(f.reference) ?? []), f]);
  }
  for (const s of stuck) {
    const detail = `recorded ${JSON.stringify(s.got)}, QBO ${JSON.stringify(s.expected)}`;
    // A QBO payment or credit memo counted twice is wrong whatever failed (rows name them:
    // "QBO Payment #<id>", "QBO Credit Memo #<id>").
    const duplicate = s.got.duplicates.length > 0;
    if (duplicate) violations.push(`${s.po.reference}: counted twice: ${s.got.duplicates.join(", ")}`);
    else if (!failures.has(s.po.invoiceId) && !failedPushes.has(s.po.reference))
      violations.push(`${s.po.reference}: ${detail}, and no failure recorded`);
  }
  if (pos.length !== PO_COUNT) violations.push(`${PO_COUNT - pos.length} POs lost at creation`);
  if (invoiced.length !== pos.length)
    violations.push(`${pos.length - invoiced.length} POs without an invoice`);
  // Invariant 4.
  violations.push(...unexpected5xx.map((u) => `unexpected 5xx: ${u}`));
  // Invariant 5: nothing from the colliding company, not even a request.
  for (const po of moved.pos) {
    const view = (await api("GET", po.base)).body;
    const recorded = view.payments.filter((p) => p.source === "qbo").reduce((s, p) => s + cents(p.amount), 0);
    if (recorded > 0) violations.push(`${po.reference}: ${money(recorded)} recorded after the reconnect`);
    if (view.qbo?.discrepancy?.kind !== "realm_changed")
      violations.push(
        `${po.reference}: discrepancy ${view.qbo?.discrepancy?.kind ?? "none"}, not realm_changed`,
      );
  }
  // Invariant 7: the POs whose webhooks were all lost were reconciled by the change feed, not
  // left with a recorded failure.
  for (const s of stuck) {
    if (unannounced.includes(s.po))
      violations.push(`${s.po.reference}: its webhooks were lost and the change feed did not reconcile it`);
  }
  // Invariant 8: every delivery answered 200 was queued: nothing is left in the inbox. Its rows
  // wait out their 60 s lease; the cron re-drives them.
  let inboxRows = -1;
  for (let i = 0; i < 20; i++) {
    inboxRows = (await api("GET", "/__bench/inbox")).body.rows;
    if (inboxRows === 0) break;
    await sleep(5_000);
    await fetch(`${sandbox.workerUrl}/__scheduled?cron=${encodeURIComponent("*/15 * * * *")}`);
  }
  if (inboxRows !== 0) violations.push(`${inboxRows} acknowledged webhook deliveries are still in the inbox`);

  // Invariant 9: each payment recorded through the API is in QuickBooks exactly once. A push
  // still retrying (its queue message waits out a backoff) gets a minute to finish.
  for (let i = 0; i < 30 && (await pendingManual()) > 0; i++) await sleep(2_000);
  // A push gives up after the queue's retries (a 20% fault rate ends about 1 in 25 that way);
  // finance then retries it (…/qbo/outbox/retry). The retry must find what an earlier attempt
  // may have created (by its marker) and never create a second.
  let pushesRetried = 0;
  for (const { slug } of conferences) {
    const retry = await api("POST", `/api/conferences/${slug}/qbo/outbox/retry`);
    if (retry.status !== 202)
      violations.push(
        `${slug}: retrying failed pushes answered ${retry.status} ${JSON.stringify(retry.body)}`,
      );
    else pushesRetried += retry.body.retried;
  }
  if (pushesRetried > 0) {
    for (let i = 0; i < 30 && (await pendingManual()) > 0; i++) await sleep(2_000);
    failedPushes.clear();
    for (const { slug } of conferences) {
      for (const f of (await api("GET", `/api/conferences/${slug}/qbo/sync`)).body.outbox?.failed ?? [])
        failedPushes.set(f.reference, [...(failedPushes.get(f.reference) ?? []), f]);
    }
  }
  const pushStates = { synced: 0, pending: 0, failed: 0, other: 0 };
  const realmPayments = new Map();
  for (const { realmId } of conferences)
    realmPayments.set(realmId, (await control("GET", `/realms/${realmId}/payments`)).payments);
  for (const m of manualPayments) {
    const { po } = m;
    const marker = new RegExp(`qpo-payment:${po.conference.slug}:${m.id}(?!\\d)`);
    const inQbo = realmPayments
      .get(po.conference.realmId)
      .filter((p) => p.status !== "Deleted" && marker.test(p.PrivateNote ?? ""));
    const view = (await api("GET", `/api/conferences/${po.conference.slug}/purchase-orders/${po.reference}`))
      .body;
    const row = view.payments.find((p) => p.id === m.id);
    const state = row?.qbo?.state ?? "other";
    pushStates[state in pushStates ? state : "other"]++;
    const what = `${po.reference}: payment ${m.id} (${money(m.amount)})`;
    if (!row) {
      violations.push(`${what} is gone`);
      continue;
    }
    if (inQbo.length > 1)
      violations.push(`${what}: ${inQbo.length} QBO payments carry its marker (${inQbo.map((p) => p.Id)})`);
    if (state === "synced") {
      const [p] = inQbo;
      const linked = p?.Line.filter(
        (l) => l.LinkedTxn[0]?.TxnType === "Invoice" && l.LinkedTxn[0].TxnId === po.invoiceId,
      );
      if (inQbo.length !== 1)
        violations.push(`${what}: synced, but ${inQbo.length} QBO payments carry its marker`);
      else if (row.qbo.id !== p.Id)
        violations.push(`${what}: synced as QBO Payment ${row.qbo.id}, marker on ${p.Id}`);
      else if (
        cents(String(p.TotalAmt)) !== m.amount ||
        linked.reduce((s, l) => s + cents(String(l.Amount)), 0) !== m.amount
      )
        violations.push(
          `${what}: QBO Payment ${p.Id} is ${p.TotalAmt}, ${linked.length} lines on invoice ${po.invoiceId}`,
        );
    } else if (state === "failed") {
      if (!(failedPushes.get(po.reference) ?? []).some((f) => f.id === m.id))
        violations.push(`${what}: failed (${row.qbo.error}) but not in the sync status's outbox.failed`);
    } else {
      violations.push(`${what}: push left ${state} (${JSON.stringify(row.qbo)}) without a recorded failure`);
    }
    if (row.voidedAt) violations.push(`${what}: voided (${row.voidReason})`);
  }

  // Invariant 6: every subscribed PO event acknowledged; one webhook-id per event; nothing
  // left pending. The receivers fail each webhook-id at most twice, so the tail is the 5 s and
  // 30 s retries plus two 10 s timeouts; wait for it rather than for the 15-minute cron.
  const eventsDeadline = Date.now() + 150_000;
  let eventProblems = [];
  let eventStats = "";
  for (let round = 1; ; round++) {
    eventProblems = [];
    let expected = 0;
    let received = 0;
    let failedAttempts = 0;
    for (const { slug } of conferences) {
      const check = await checkEvents(slug);
      eventProblems.push(...check.problems);
      expected += check.expected;
      received += check.received;
      failedAttempts += check.failedAttempts;
    }
    eventStats = `${expected} subscribed PO events, ${received} requests to the receivers, ${failedAttempts} failed or timed out`;
    console.log(`• events round ${round}: ${eventProblems.length} problems (${eventStats})`);
    if (eventProblems.length === 0 || Date.now() > eventsDeadline) break;
    await sleep(5_000);
  }
  violations.push(...eventProblems.slice(0, 20));

  // The change feed reads the change list of the company the conference is connected to (one
  // CDC read per sweep); nothing else may reach it.
  const intruderStats = await control("GET", `/realms/${intruder.realmId}/stats`);
  const beyondCdc = intruderStats.requests.total - (intruderStats.requests.byOperation.cdc ?? 0);
  if (beyondCdc !== 0)
    violations.push(`the colliding company got ${beyondCdc} requests besides change-feed reads`);

  const stats = await Promise.all(
    conferences.map(({ realmId }) => control("GET", `/realms/${realmId}/stats`)),
  );
  // The companies keep Intuit's limits (10/s, 500/min, the emulator's default); the Worker's
  // per-realm rate budget keeps every path under them, so only injected faults answer 429.
  const limitThrottled = stats.reduce((s, x) => s + x.limitThrottled, 0);
  if (limitThrottled !== 0)
    violations.push(
      `QuickBooks throttled ${limitThrottled} requests over its limits (the rate budget let them through)`,
    );
  const cdcReads = stats.map((x) => x.requests.byOperation.cdc ?? 0);
  if (cdcReads.some((n) => n === 0))
    violations.push(
      `the change feed never read a company's changes (CDC reads ${cdcReads}): invariant 7 proved nothing`,
    );
  // Invariant 10: the refreshes survived their faults: nobody must reconnect, nothing failed
  // for a token, and the schedule was actually reached.
  const tokenFigures = [];
  let tokenPassRules = 0;
  let tokenDeadLetters = 0;
  for (const [i, { slug, tokenSlots }] of conferences.entries()) {
    const calls = stats[i].tokenCalls.refresh_token;
    const hit = tokenSlots.slice(0, calls);
    const count = (kind) => hit.filter((s) => s.kind === kind).length;
    tokenPassRules += calls - hit.length + count("pass"); // "latency 0 ms" rules count as faults
    const lost = count("commit-then-drop");
    tokenFigures.push(
      `${slug} ${calls} refreshes (${count("status")} answered 5xx, ${count("drop")} dropped, ${lost} lost after the rotation)`,
    );
    if (calls < 2)
      violations.push(`${slug}: ${calls} token refreshes: the short access tokens proved nothing`);
    if (TOKEN_FAULTS && lost === 0)
      violations.push(
        `${slug}: no refresh answer was lost (${calls} refreshes): invariant 10 proved nothing`,
      );
    const conference = (await api("GET", `/api/conferences/${slug}`)).body;
    if (conference?.qbo?.needsReconnect !== false)
      violations.push(`${slug}: needsReconnect is ${conference?.qbo?.needsReconnect} after the token faults`);
    const sync = (await api("GET", `/api/conferences/${slug}/qbo/sync`)).body;
    const tokenError = /token|reconnect|not connected/i;
    // A sweep of 100 invoices may still dead-letter under the 20% QBO faults, one of its attempts
    // meeting a token fault (the error recorded names every distinct error, newest first); what
    // it left unreconciled is token work left failed, what a later sweep reconciled is not.
    const stuckIds = new Set(stuck.filter((x) => x.po.conference.slug === slug).map((x) => x.po.invoiceId));
    for (const f of sync.failures) {
      if (!tokenError.test(f.error)) continue;
      tokenDeadLetters++;
      const left = f.invoiceIds.filter((id) => stuckIds.has(id));
      if (left.length > 0)
        violations.push(`${slug}: ${left.length} invoices left unreconciled after a token error: ${f.error}`);
    }
    for (const f of sync.outbox?.failed ?? [])
      if (tokenError.test(f.error))
        violations.push(
          `${slug}: push of ${f.kind} ${f.id} (${f.reference}) failed on a token error: ${f.error}`,
        );
    // chaos-west's endpoint subscribes to qbo.*: a reconnect_required sent there is a failure too.
    const { received } = await control("GET", `/receiver/${slug}`);
    const reconnectEvents = received.filter((r) => JSON.parse(r.body).type === "qbo.reconnect_required");
    if (reconnectEvents.length > 0)
      violations.push(`${slug}: ${reconnectEvents.length} qbo.reconnect_required events sent`);
  }
  const injected = stats.reduce((s, x) => s + x.faultsInjected, 0) - tokenPassRules;
  const requests = stats.reduce((s, x) => s + x.requests.total, 0);
  console.log(
    `\nQBO requests ${requests}, faults injected ${injected} (${((100 * injected) / Math.max(1, requests)).toFixed(1)}%), ` +
      `throttled over the limits ${limitThrottled}, stuck with recorded failure ${stuck.length}\nevents: ${eventStats}\n` +
      `lost webhooks ${events.filter((e) => e.lost).length} (${unannounced.length} POs announced by no webhook), CDC reads ${cdcReads.join(" + ")}; ` +
      `queue sends failing for ${failUntil - failFrom} deliveries, ${leftInInbox} left in the inbox then, ${inboxRows} at the end\n` +
      `manual payments pushed: ${JSON.stringify(pushStates)} after retrying ${pushesRetried} failed pushes, failed pushes listed ${[...failedPushes.values()].flat().length}\n` +
      `token endpoint${TOKEN_FAULTS ? "" : " (faults off: CHAOS_TOKEN_FAULTS=0)"}: ${tokenFigures.join("; ")}; ` +
      `${tokenDeadLetters} dead-lettered syncs met a token error (later reconciled)`,
  );
} catch (err) {
  violations.push(`chaos run crashed: ${err instanceof Error ? err.stack : err}`);
} finally {
  sandbox.stop();
}

if (violations.length) {
  console.log(`\n✗ ${violations.length} invariant violations (seed ${SEED}):`);
  for (const v of violations.slice(0, 50)) console.log(`  - ${v}`);
  process.exit(1);
}
console.log(`\n✓ all invariants hold (seed ${SEED})`);
