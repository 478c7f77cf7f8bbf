/** @jsxImportSource hono/jsx */
/**
 * The console's pages (SPEC §13), as pure functions of what the route read: no I/O here.
 * Actions appear only when the signed-in role may call the API operation behind them
 * (`can`, from src/auth/roles.ts); the API refuses them anyway if it may not.
 */
import type { FinanceSummary } from "../db/console";
import type { PoEventRow } from "../db/po-events";
import { formatCents } from "../domain/money";
import { PAYMENT_METHODS } from "../domain/payments";
import { PO_STATUSES } from "../domain/po-status";
import type { ConferenceJson, PurchaseOrderJson } from "../http/schemas";
import type { Principal } from "./session";
import { ActionForm, Badge, groupDigits, Layout, Money, MoneyCell, type Notice, When } from "./ui";

export interface Permissions {
  /** Work POs: invoices, payments, credits, cancel, sync, acknowledge (finance). */
  act: boolean;
  connect: boolean;
  sync: boolean;
}

interface Base {
  principal: Principal;
  csrf: string;
  notice?: Notice | undefined;
}

interface ConferenceRef {
  slug: string;
  name: string;
  currency: string;
}

// ---------------------------------------------------------------- sign in, home

export function SignInPage(props: { csrf: string; notice?: Notice | undefined }) {
  return (
    <Layout title="Sign in" notice={props.notice} narrow>
      <div class="panel">
        <form method="post" action="/console/sign-in">
          <input type="hidden" name="_csrf" value={props.csrf} />
          <label for="token">Conference API key or deployment token</label>
          <p class="muted" id="token-help">
            A key starts with <code>qpo_</code>. It is checked on every page; a revoked key signs you out.
          </p>
          <input
            type="password"
            id="token"
            name="token"
            autocomplete="off"
            required
            aria-describedby="token-help"
            class="wide"
          />
          <p>
            <button type="submit">Sign in</button>
          </p>
        </form>
      </div>
    </Layout>
  );
}

export function HomePage(props: Base & { conferences: ConferenceRef[] }) {
  return (
    <Layout
      title="Conferences"
      principal={props.principal}
      csrf={props.csrf}
      section="home"
      notice={props.notice}
    >
      {props.conferences.length === 0 ? (
        <p>No conferences yet. Create one with the API (PUT /api/conferences/&#123;slug&#125;).</p>
      ) : (
        <table>
          <caption>Every conference of this deployment</caption>
          <thead>
            <tr>
              <th scope="col">Conference</th>
              <th scope="col">Slug</th>
              <th scope="col">Currency</th>
            </tr>
          </thead>
          <tbody>
            {props.conferences.map((c) => (
              <tr>
                <td>
                  <a href={`/console/c/${c.slug}`}>{c.name}</a>
                </td>
                <td>{c.slug}</td>
                <td>{c.currency}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Layout>
  );
}

// ---------------------------------------------------------------- finance summary

export function SummaryPage(
  props: Base & { conference: ConferenceRef; summary: FinanceSummary; recent: PurchaseOrderJson[] },
) {
  const { conference: conf, summary: s } = props;
  const cur = conf.currency;
  const m = (cents: number) => formatCents(cents);
  const all = s.byStatus.reduce(
    (a, r) => ({
      count: a.count + r.count,
      total: a.total + (r.status === "cancelled" ? 0 : r.totalCents),
      paid: a.paid + r.paidCents,
      open: a.open + r.openCents,
    }),
    { count: 0, total: 0, paid: 0, open: 0 },
  );
  const paidCount = s.byStatus.find((r) => r.status === "paid")?.count ?? 0;
  // Receivable: what invoiced or sent POs still owe (a draft owes nothing yet).
  const receivable = all.open - (s.byStatus.find((r) => r.status === "draft")?.openCents ?? 0);
  const list = `/console/c/${conf.slug}/pos`;
  const cards: [string, string, string | null][] = [
    ["Purchase orders", String(all.count), list],
    ["Paid", String(paidCount), `${list}?status=paid`],
    ["Invoiced", `${groupDigits(m(s.invoiced.totalCents))} ${cur}`, `${list}?filter=outstanding`],
    ["Collected", `${groupDigits(m(all.paid))} ${cur}`, null],
    ["Balance outstanding", `${groupDigits(m(receivable))} ${cur}`, `${list}?filter=outstanding`],
  ];
  return (
    <Layout
      title={`${conf.name}: finance summary`}
      principal={props.principal}
      csrf={props.csrf}
      conference={conf}
      section="summary"
      notice={props.notice}
    >
      <ul class="cards" aria-label="Totals">
        {cards.map(([label, value, href]) => (
          <li>
            <span class="label">{href ? <a href={href}>{label}</a> : label}</span>
            <span class="value">{value}</span>
          </li>
        ))}
      </ul>

      <div class="grid2">
        <section aria-labelledby="by-status">
          <h2 id="by-status">Purchase orders by status</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Status</th>
                <th scope="col" class="num">
                  Count
                </th>
                <th scope="col" class="num">
                  Total
                </th>
                <th scope="col" class="num">
                  Balance
                </th>
              </tr>
            </thead>
            <tbody>
              {PO_STATUSES.map((status) => {
                const r = s.byStatus.find((x) => x.status === status);
                return (
                  <tr>
                    <th scope="row">
                      <a href={`${list}?status=${status}`}>
                        <Badge value={status} />
                      </a>
                    </th>
                    <td class="num">{r?.count ?? 0}</td>
                    <MoneyCell value={m(r?.totalCents ?? 0)} currency={cur} />
                    <MoneyCell value={m(r?.openCents ?? 0)} currency={cur} />
                  </tr>
                );
              })}
            </tbody>
          </table>
        </section>

        <section aria-labelledby="by-method">
          <h2 id="by-method">Payments by method</h2>
          {s.byMethod.length === 0 ? (
            <p class="muted">No payments yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Method</th>
                  <th scope="col" class="num">
                    Count
                  </th>
                  <th scope="col" class="num">
                    Total
                  </th>
                </tr>
              </thead>
              <tbody>
                {s.byMethod.map((r) => (
                  <tr>
                    <th scope="row">{r.method}</th>
                    <td class="num">{r.count}</td>
                    <MoneyCell value={m(r.totalCents)} currency={cur} />
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </section>
      </div>

      <section aria-labelledby="qbo-side">
        <h2 id="qbo-side">QuickBooks side</h2>
        <table class="narrow">
          <tbody>
            <tr>
              <th scope="row">Live invoices</th>
              <td class="num">{s.invoiced.count}</td>
            </tr>
            <tr>
              <th scope="row">Invoice totals in QuickBooks</th>
              <MoneyCell value={m(s.invoiced.qboTotalCents)} currency={cur} />
            </tr>
            <tr>
              <th scope="row">Open balance in QuickBooks</th>
              <MoneyCell value={m(s.invoiced.qboBalanceCents)} currency={cur} />
            </tr>
            <tr>
              <th scope="row">
                <a href={`${list}?filter=outstanding`}>Outstanding invoices</a>
              </th>
              <td class="num">{s.outstanding}</td>
            </tr>
            <tr>
              <th scope="row">
                <a href={`${list}?filter=discrepancy`}>Discrepancies</a>
              </th>
              <td class={`num ${s.discrepancies ? "bad" : ""}`}>{s.discrepancies}</td>
            </tr>
            <tr>
              <th scope="row">
                <a href={`${list}?filter=push_failed`}>POs with a failed push</a>
              </th>
              <td class={`num ${s.failedPushes ? "bad" : ""}`}>{s.failedPushes}</td>
            </tr>
          </tbody>
        </table>
      </section>

      <section aria-labelledby="recent">
        <h2 id="recent">Recent purchase orders</h2>
        <PoTable items={props.recent} currency={cur} slug={conf.slug} caption="The five newest" />
        <p>
          <a href={list}>All purchase orders</a>
        </p>
      </section>
    </Layout>
  );
}

// ---------------------------------------------------------------- QuickBooks connection

export interface SyncStatusView {
  outstanding: number;
  lastRuns: {
    trigger: string;
    startedAt: string;
    finishedAt: string | null;
    invoicesChecked: number;
    paymentsRecorded: number;
  }[];
  failures: { invoiceIds: string[]; error: string; attempts: number; failedAt: string }[];
  /** Added by the rate budget (SPEC §10); shown when present. */
  qboReads?: unknown;
  /** Added by the change feed (SPEC §10); shown when present. */
  webhooksMissed?: unknown;
  /** Added by the ledger outbox (SPEC §9); shown when present. */
  outbox?: unknown;
}

/** A number from an optional field of another feature's shape: `n`, `{count: n}`, `{thisMonth: n}`… */
function countOf(value: unknown, ...keys: string[]): number | null {
  if (typeof value === "number") return value;
  if (value && typeof value === "object") {
    for (const k of keys) {
      const v = (value as Record<string, unknown>)[k];
      if (typeof v === "number") return v;
    }
  }
  return null;
}

interface FailedPush {
  reference: string;
  kind: string;
  id: number | string;
  action?: string;
  error: string;
  attempts: number;
  failedAt: string;
}

/** The ledger outbox's `failed` list (SPEC §9), when the sync status has one. */
function failedPushes(outbox: unknown): FailedPush[] {
  const failed = (outbox as { failed?: unknown } | null | undefined)?.failed;
  if (!Array.isArray(failed)) return [];
  return failed.filter(
    (f): f is FailedPush =>
      typeof f === "object" &&
      f !== null &&
      typeof (f as FailedPush).reference === "string" &&
      /^PO-[A-Z0-9]{6}$/.test((f as FailedPush).reference) &&
      typeof (f as FailedPush).kind === "string" &&
      typeof (f as FailedPush).error === "string",
  );
}

function daysUntil(at: string | null | undefined, now: number): string {
  if (!at) return "";
  const days = Math.floor((Date.parse(at) - now) / 86_400_000);
  return days >= 0 ? ` (in ${days} day${days === 1 ? "" : "s"})` : " (passed)";
}

export function ConnectionPage(
  props: Base & {
    conference: ConferenceJson;
    sync: SyncStatusView | null;
    discrepancies: number;
    failedPushes: number;
    can: Permissions;
    now: number;
    /** The outbox retry route exists (the ledger push, SPEC §9). */
    outboxRetry: boolean;
  },
) {
  const conf = props.conference;
  const q = conf.qbo as ConferenceJson["qbo"] & { refreshTokenHardExpiresAt?: string | null };
  const base = `/console/c/${conf.slug}`;
  const reads = props.sync ? countOf(props.sync.qboReads, "thisMonth", "count", "reads", "used") : null;
  const readBudget =
    props.sync?.qboReads && typeof props.sync.qboReads === "object"
      ? countOf(props.sync.qboReads, "budget", "limit", "monthlyBudget")
      : null;
  const missed = props.sync ? countOf(props.sync.webhooksMissed, "total", "count", "last30Days") : null;
  const state = q.needsReconnect ? "needs reconnect" : q.connected ? "connected" : "not connected";
  const outboxFailed = failedPushes(props.sync?.outbox);
  return (
    <Layout
      title={`${conf.name}: QuickBooks`}
      principal={props.principal}
      csrf={props.csrf}
      conference={conf}
      section="connection"
      notice={props.notice}
    >
      {q.needsReconnect ? (
        <div class="notice error" role="alert">
          QuickBooks refused this conference's tokens: reconnect to go on invoicing and syncing.
        </div>
      ) : null}
      <div class="grid2">
        <section aria-labelledby="conn">
          <h2 id="conn">Connection</h2>
          <dl class="facts">
            <dt>State</dt>
            <dd>
              <Badge value={q.needsReconnect ? "failed" : q.connected ? "paid" : "draft"} label={state} />
            </dd>
            <dt>Company (realm)</dt>
            <dd>{q.realmId ?? "—"}</dd>
            <dt>Environment</dt>
            <dd>{q.environment ?? "—"}</dd>
            <dt>Access token expires</dt>
            <dd>
              <When at={q.accessTokenExpiresAt} />
            </dd>
            <dt>Refresh token expires</dt>
            <dd>
              <When at={q.refreshTokenExpiresAt} />
              {daysUntil(q.refreshTokenExpiresAt, props.now)}
            </dd>
            <dt>5-year hard cap</dt>
            <dd>
              {q.refreshTokenHardExpiresAt ? (
                <>
                  <When at={q.refreshTokenHardExpiresAt} />
                  {daysUntil(q.refreshTokenHardExpiresAt, props.now)}
                </>
              ) : (
                <span class="muted">not known</span>
              )}
            </dd>
            <dt>Last refreshed</dt>
            <dd>
              <When at={q.lastRefreshedAt} />
            </dd>
            {q.previousRealms.length ? (
              <>
                <dt>Previous companies</dt>
                <dd>
                  {q.previousRealms.map((r) => `${r.realmId} (${r.openInvoices} open invoices)`).join(", ")}
                </dd>
              </>
            ) : null}
          </dl>
          {props.can.connect ? (
            <div class="actions">
              <ActionForm action={`${base}/qbo/connect`} csrf={props.csrf} label="Connect QuickBooks">
                {q.previousRealms.length || props.sync?.outstanding ? (
                  <p class="check">
                    <input type="checkbox" id="force" name="force" value="true" />
                    <label for="force">Allow another company although invoices are open</label>
                  </p>
                ) : null}
                <button type="submit" id="connect">
                  {q.connected || q.needsReconnect ? "Reconnect QuickBooks" : "Connect QuickBooks"}
                </button>
              </ActionForm>
              {q.connected ? (
                <ActionForm action={`${base}/qbo/disconnect`} csrf={props.csrf} label="Disconnect QuickBooks">
                  <button type="submit" class="danger">
                    Disconnect
                  </button>
                </ActionForm>
              ) : null}
            </div>
          ) : null}
        </section>

        <section aria-labelledby="counts">
          <h2 id="counts">Work to watch</h2>
          <table>
            <tbody>
              <tr>
                <th scope="row">
                  <a href={`${base}/pos?filter=outstanding`}>Outstanding invoices</a>
                </th>
                <td class="num">{props.sync?.outstanding ?? "—"}</td>
              </tr>
              <tr>
                <th scope="row">
                  <a href={`${base}/pos?filter=discrepancy`}>Discrepancies</a>
                </th>
                <td class={`num ${props.discrepancies ? "bad" : ""}`}>{props.discrepancies}</td>
              </tr>
              <tr>
                <th scope="row">
                  <a href={`${base}/pos?filter=push_failed`}>POs with a failed push</a>
                </th>
                <td class={`num ${props.failedPushes ? "bad" : ""}`}>{props.failedPushes}</td>
              </tr>
              <tr>
                <th scope="row">Failed syncs</th>
                <td class={`num ${props.sync?.failures.length ? "bad" : ""}`}>
                  {props.sync?.failures.length ?? "—"}
                </td>
              </tr>
              <tr>
                <th scope="row">QuickBooks reads this month</th>
                <td class="num">
                  {reads === null ? (
                    <span class="muted">not metered</span>
                  ) : readBudget ? (
                    `${reads} of ${readBudget}`
                  ) : (
                    reads
                  )}
                </td>
              </tr>
              <tr>
                <th scope="row">Webhooks missed (found by the change feed)</th>
                <td class={`num ${missed ? "warn" : ""}`}>
                  {missed === null ? <span class="muted">not counted</span> : missed}
                </td>
              </tr>
            </tbody>
          </table>
          {props.can.sync ? (
            <ActionForm action={`${base}/qbo/sync`} csrf={props.csrf} label="Sync now">
              <button type="submit" class="secondary">
                Sync every outstanding invoice now
              </button>
            </ActionForm>
          ) : null}
        </section>
      </div>

      {outboxFailed.length ? (
        <section aria-labelledby="outbox">
          <h2 id="outbox">Pushes to QuickBooks that gave up</h2>
          <table>
            <thead>
              <tr>
                <th scope="col">Purchase order</th>
                <th scope="col">What</th>
                <th scope="col">Error</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Failed</th>
              </tr>
            </thead>
            <tbody>
              {outboxFailed.slice(0, 50).map((f) => (
                <tr>
                  <td>
                    <a href={`${base}/pos/${f.reference}`}>{f.reference}</a>
                  </td>
                  <td>{`${f.kind.replace(/_/g, " ")} ${f.id}${f.action ? ` (${f.action})` : ""}`}</td>
                  <td>{f.error}</td>
                  <td class="num">{f.attempts}</td>
                  <td>
                    <When at={f.failedAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {props.can.sync && props.outboxRetry ? (
            <ActionForm action={`${base}/qbo/retry-pushes`} csrf={props.csrf} label="Retry failed pushes">
              <button type="submit">Retry every failed push</button>
            </ActionForm>
          ) : null}
        </section>
      ) : null}

      <section aria-labelledby="runs">
        <h2 id="runs">Last sync runs</h2>
        {props.sync?.lastRuns.length ? (
          <table>
            <thead>
              <tr>
                <th scope="col">Started</th>
                <th scope="col">Trigger</th>
                <th scope="col">Finished</th>
                <th scope="col" class="num">
                  Invoices checked
                </th>
                <th scope="col" class="num">
                  Payments recorded
                </th>
              </tr>
            </thead>
            <tbody>
              {props.sync.lastRuns.slice(0, 10).map((r) => (
                <tr>
                  <td>
                    <When at={r.startedAt} />
                  </td>
                  <td>{r.trigger}</td>
                  <td>
                    <When at={r.finishedAt} />
                  </td>
                  <td class="num">{r.invoicesChecked}</td>
                  <td class="num">{r.paymentsRecorded}</td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : (
          <p class="muted">No sync has run yet.</p>
        )}
        {props.sync?.failures.length ? (
          <>
            <h3>Failed syncs</h3>
            <table>
              <thead>
                <tr>
                  <th scope="col">Failed</th>
                  <th scope="col">Invoices</th>
                  <th scope="col">Error</th>
                  <th scope="col" class="num">
                    Attempts
                  </th>
                </tr>
              </thead>
              <tbody>
                {props.sync.failures.slice(0, 20).map((f) => (
                  <tr>
                    <td>
                      <When at={f.failedAt} />
                    </td>
                    <td>{f.invoiceIds.join(", ")}</td>
                    <td>{f.error}</td>
                    <td class="num">{f.attempts}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </>
        ) : null}
      </section>
    </Layout>
  );
}

// ---------------------------------------------------------------- PO list

export interface PoListQuery {
  status?: string | undefined;
  filter?: string | undefined;
  q?: string | undefined;
}

const FILTER_LABELS: Record<string, string> = {
  outstanding: "Outstanding in QuickBooks",
  discrepancy: "With a discrepancy",
  push_failed: "With a failed push",
};

function PoTable(props: { items: PurchaseOrderJson[]; currency: string; slug: string; caption: string }) {
  if (props.items.length === 0) return <p class="muted">No purchase orders match.</p>;
  return (
    <table>
      <caption class="visually-hidden">{props.caption}</caption>
      <thead>
        <tr>
          <th scope="col">Reference</th>
          <th scope="col">Organization</th>
          <th scope="col">Status</th>
          <th scope="col">QuickBooks</th>
          <th scope="col" class="num">
            Total
          </th>
          <th scope="col" class="num">
            Balance due
          </th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {props.items.map((po) => (
          <tr>
            <td>
              <a href={`/console/c/${props.slug}/pos/${po.reference}`}>{po.reference}</a>
            </td>
            <td>{po.organizationName}</td>
            <td>
              <Badge value={po.status} />
            </td>
            <td>
              {po.qbo ? (
                <>
                  {po.qbo.docNumber ? `#${po.qbo.docNumber}` : `id ${po.qbo.invoiceId}`}
                  {po.qbo.voidedAt ? (
                    <>
                      {" "}
                      <Badge value="cancelled" label="voided" />
                    </>
                  ) : null}
                  {po.qbo.discrepancy ? (
                    <>
                      {" "}
                      <Badge value="failed" label="discrepancy" />
                    </>
                  ) : null}
                </>
              ) : (
                <span class="muted">no invoice</span>
              )}
            </td>
            <MoneyCell value={po.total} currency={props.currency} />
            <MoneyCell value={po.balanceDue} currency={props.currency} />
            <td>
              <When at={po.createdAt} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function PoListPage(
  props: Base & {
    conference: ConferenceRef;
    items: PurchaseOrderJson[];
    query: PoListQuery;
    next: string | null;
    first: boolean;
  },
) {
  const conf = props.conference;
  const base = `/console/c/${conf.slug}/pos`;
  const keep = new URLSearchParams();
  if (props.query.status) keep.set("status", props.query.status);
  if (props.query.filter) keep.set("filter", props.query.filter);
  if (props.query.q) keep.set("q", props.query.q);
  const nextHref = props.next ? `${base}?${new URLSearchParams([...keep, ["before", props.next]])}` : null;
  return (
    <Layout
      title={`${conf.name}: purchase orders`}
      principal={props.principal}
      csrf={props.csrf}
      conference={conf}
      section="pos"
      notice={props.notice}
    >
      <search>
        <form method="get" action={base} class="filters" aria-label="Filter purchase orders">
          <div>
            <label for="q">Reference or organization</label>
            <input type="search" id="q" name="q" value={props.query.q ?? ""} maxlength={100} />
          </div>
          <div>
            <label for="status">Status</label>
            <select id="status" name="status">
              <option value="">Any</option>
              {PO_STATUSES.map((s) => (
                <option value={s} selected={props.query.status === s}>
                  {s.replace(/_/g, " ")}
                </option>
              ))}
            </select>
          </div>
          <div>
            <label for="filter">QuickBooks</label>
            <select id="filter" name="filter">
              <option value="">Any</option>
              {Object.entries(FILTER_LABELS).map(([v, label]) => (
                <option value={v} selected={props.query.filter === v}>
                  {label}
                </option>
              ))}
            </select>
          </div>
          <div>
            <button type="submit">Filter</button> <a href={base}>Clear</a>
          </div>
        </form>
      </search>
      <PoTable
        items={props.items}
        currency={conf.currency}
        slug={conf.slug}
        caption="Purchase orders, newest first"
      />
      <nav class="pager" aria-label="Pages">
        {props.first ? null : <a href={`${base}?${keep}`}>First page</a>}
        {nextHref ? <a href={nextHref}>Older purchase orders</a> : null}
      </nav>
    </Layout>
  );
}

// ---------------------------------------------------------------- one PO

interface PushState {
  id?: string | null;
  state?: string | null;
  error?: string | null;
}

function QboState({ row }: { row: { qbo?: PushState | null; source?: string } }) {
  const q = row.qbo;
  if (!q?.state) return <span class="muted">{row.source === "qbo" ? "from QuickBooks" : "—"}</span>;
  return (
    <>
      <Badge value={q.state} />
      {q.id ? <span class="muted"> #{q.id}</span> : null}
      {q.error ? <div class="bad">{q.error}</div> : null}
    </>
  );
}

function eventSummary(e: PoEventRow): string {
  let data: Record<string, unknown> = {};
  try {
    data = JSON.parse(e.data) as Record<string, unknown>;
  } catch {
    // shown without details
  }
  const parts: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === "reference" || v === null || typeof v === "object") continue;
    parts.push(`${k}: ${String(v)}`);
  }
  return parts.join(" · ");
}

function actorLabel(e: PoEventRow): string {
  if (e.actorType === "api_key") return e.actorName ? `key “${e.actorName}”` : "an API key";
  if (e.actorType === "qbo") return "QuickBooks";
  if (e.actorType === "system") return "the system";
  return "deployment token";
}

export function PoPage(
  props: Base & {
    conference: ConferenceRef;
    po: PurchaseOrderJson;
    events: PoEventRow[];
    can: Permissions;
    today: string;
    outboxRetry: boolean;
  },
) {
  const { po, conference: conf, csrf } = props;
  const cur = conf.currency;
  const base = `/console/c/${conf.slug}/pos/${po.reference}`;
  const cancelled = po.status === "cancelled";
  const payments = po.payments as (PurchaseOrderJson["payments"][number] & { qbo?: PushState | null })[];
  const credits = po.creditNotes as (PurchaseOrderJson["creditNotes"][number] & {
    qbo?: PushState | null;
    source?: string;
  })[];
  const failedPush = [...payments, ...credits].some((r) => r.qbo?.state === "failed");
  const canInvoice = !po.qbo && ["draft", "sent", "partially_paid"].includes(po.status);
  return (
    <Layout
      title={`${po.reference} · ${po.organizationName}`}
      principal={props.principal}
      csrf={csrf}
      conference={conf}
      section="pos"
      notice={props.notice}
    >
      <p>
        <Badge value={po.status} /> <span class="muted">Created</span> <When at={po.createdAt} />
      </p>
      {po.qbo?.discrepancy ? (
        <section class="notice warning" aria-labelledby="disc">
          <h2 id="disc" class="flush-top">
            Discrepancy: {po.qbo.discrepancy.kind.replace(/_/g, " ")}
          </h2>
          <p>{po.qbo.discrepancy.message}</p>
          <p class="muted">
            Detected <When at={po.qbo.discrepancy.detectedAt} />
          </p>
          {props.can.act ? (
            <ActionForm action={`${base}/acknowledge`} csrf={csrf} label="Acknowledge the discrepancy">
              <label for="ack-note">Why it is fine (kept in the timeline)</label>
              <textarea id="ack-note" name="note" required maxlength={2000} />
              <p>
                <button type="submit">Acknowledge</button>
              </p>
            </ActionForm>
          ) : null}
        </section>
      ) : null}

      <div class="grid2">
        <section aria-labelledby="who">
          <h2 id="who">Organization</h2>
          <dl class="facts">
            <dt>Organization</dt>
            <dd>{po.organizationName}</dd>
            <dt>Contact</dt>
            <dd>
              {po.contactName} &lt;{po.contactEmail}&gt;
            </dd>
            {po.billingAddress ? (
              <>
                <dt>Billing address</dt>
                <dd class="prewrap">{po.billingAddress}</dd>
              </>
            ) : null}
            {po.notes ? (
              <>
                <dt>Notes</dt>
                <dd>{po.notes}</dd>
              </>
            ) : null}
          </dl>
        </section>
        <section aria-labelledby="qbo">
          <h2 id="qbo">QuickBooks invoice</h2>
          {po.qbo ? (
            <dl class="facts">
              <dt>Invoice</dt>
              <dd>
                {po.qbo.invoiceUrl ? (
                  <a href={po.qbo.invoiceUrl} rel="noopener noreferrer" target="_blank">
                    {po.qbo.docNumber ? `#${po.qbo.docNumber}` : `id ${po.qbo.invoiceId}`} in QuickBooks
                  </a>
                ) : (
                  po.qbo.invoiceId
                )}
              </dd>
              <dt>Company</dt>
              <dd>{po.qbo.realmId ?? "—"}</dd>
              <dt>Total in QuickBooks</dt>
              <dd>{po.qbo.totalAmt ? <Money value={po.qbo.totalAmt} currency={cur} /> : "—"}</dd>
              <dt>Balance in QuickBooks</dt>
              <dd>{po.qbo.balance ? <Money value={po.qbo.balance} currency={cur} /> : "—"}</dd>
              <dt>E-mail</dt>
              <dd>{po.qbo.emailStatus ?? "—"}</dd>
              <dt>Last synced</dt>
              <dd>
                <When at={po.qbo.lastSyncedAt} />
              </dd>
              {po.qbo.paymentLink ? (
                <>
                  <dt>Payment link</dt>
                  <dd>
                    <a href={po.qbo.paymentLink} rel="noopener noreferrer">
                      Pay online
                    </a>
                  </dd>
                </>
              ) : null}
              {po.qbo.voidedAt ? (
                <>
                  <dt>Voided</dt>
                  <dd>
                    <When at={po.qbo.voidedAt} />
                  </dd>
                </>
              ) : null}
            </dl>
          ) : (
            <p class="muted">No invoice yet.</p>
          )}
          <div class="actions">
            {props.can.act && canInvoice ? (
              <ActionForm action={`${base}/invoice`} csrf={csrf} label="Create the QuickBooks invoice">
                <p class="check">
                  <input type="checkbox" id="send-too" name="send" value="true" />
                  <label for="send-too">and e-mail it</label>
                </p>
                <button type="submit" id="create-invoice">
                  Create invoice
                </button>
              </ActionForm>
            ) : null}
            {po.qbo && !po.qbo.voidedAt ? (
              <>
                {props.can.act ? (
                  <>
                    <ActionForm action={`${base}/email`} csrf={csrf} label="E-mail the invoice">
                      <button type="submit" class="secondary">
                        E-mail invoice
                      </button>
                    </ActionForm>
                    <ActionForm action={`${base}/sync`} csrf={csrf} label="Sync with QuickBooks">
                      <button type="submit" class="secondary" id="sync-now">
                        Sync now
                      </button>
                    </ActionForm>
                  </>
                ) : null}
                <a class="button secondary" href={`${base}/pdf`}>
                  PDF
                </a>
              </>
            ) : null}
            {props.can.act && po.status === "draft" ? (
              <ActionForm action={`${base}/send`} csrf={csrf} label="Mark as sent">
                <button type="submit" class="secondary">
                  Mark as sent
                </button>
              </ActionForm>
            ) : null}
          </div>
        </section>
      </div>

      <section aria-labelledby="lines">
        <h2 id="lines">Lines and totals</h2>
        <table>
          <thead>
            <tr>
              <th scope="col">Description</th>
              <th scope="col" class="num">
                Quantity
              </th>
              <th scope="col" class="num">
                Unit price
              </th>
              <th scope="col" class="num">
                Line total
              </th>
            </tr>
          </thead>
          <tbody>
            {po.lineItems.map((l) => (
              <tr>
                <td>{l.description}</td>
                <td class="num">{l.quantity}</td>
                <MoneyCell value={l.unitPrice} currency={cur} />
                <MoneyCell value={l.lineTotal} currency={cur} />
              </tr>
            ))}
          </tbody>
          <tfoot>
            {(
              [
                ["Subtotal", po.subtotal],
                ["Tax", po.tax],
                ["Total", po.total],
                ["Paid", po.totalPaid],
                ["Credited", po.totalCredited],
                ["Balance due", po.balanceDue],
              ] as const
            ).map(([label, value]) => (
              <tr>
                <th scope="row" colspan={3} class="num">
                  {label}
                </th>
                <MoneyCell value={value} currency={cur} />
              </tr>
            ))}
          </tfoot>
        </table>
      </section>

      <section aria-labelledby="money">
        <h2 id="money">Payments and credits</h2>
        {payments.length + credits.length === 0 ? (
          <p class="muted">None yet.</p>
        ) : (
          <table>
            <thead>
              <tr>
                <th scope="col">Kind</th>
                <th scope="col">Date</th>
                <th scope="col">Method / reason</th>
                <th scope="col">Reference</th>
                <th scope="col">Source</th>
                <th scope="col">In QuickBooks</th>
                <th scope="col" class="num">
                  Amount
                </th>
              </tr>
            </thead>
            <tbody>
              {payments.map((p) => (
                <tr class={p.voidedAt ? "muted" : undefined}>
                  <td>Payment{p.voidedAt ? " (voided)" : ""}</td>
                  <td>{p.paymentDate}</td>
                  <td>{p.method}</td>
                  <td>{p.reference}</td>
                  <td>{p.source}</td>
                  <td>
                    <QboState row={p} />
                  </td>
                  <MoneyCell value={p.amount} currency={cur} />
                </tr>
              ))}
              {credits.map((c) => (
                <tr class={c.voidedAt ? "muted" : undefined}>
                  <td>Credit note{c.voidedAt ? " (voided)" : ""}</td>
                  <td>{c.createdAt.slice(0, 10)}</td>
                  <td>{c.reason}</td>
                  <td />
                  <td>{c.source ?? "manual"}</td>
                  <td>
                    <QboState row={c} />
                  </td>
                  <MoneyCell value={c.amount} currency={cur} />
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {props.can.act && failedPush && props.outboxRetry ? (
          <ActionForm action={`${base}/retry`} csrf={csrf} label="Retry failed pushes">
            <button type="submit">Retry failed pushes to QuickBooks</button>
          </ActionForm>
        ) : null}
      </section>

      {props.can.act && !cancelled ? (
        <div class="grid2">
          <section aria-labelledby="pay">
            <h2 id="pay">Record a payment</h2>
            <ActionForm action={`${base}/payment`} csrf={csrf} class="panel" label="Record a payment">
              <label for="pay-amount">Amount ({cur})</label>
              <input
                type="text"
                id="pay-amount"
                name="amount"
                inputmode="decimal"
                required
                pattern="\d+(\.\d{1,2})?"
              />
              <label for="pay-method">Method</label>
              <select id="pay-method" name="method">
                {PAYMENT_METHODS.map((m) => (
                  <option value={m}>{m}</option>
                ))}
              </select>
              <label for="pay-date">Payment date</label>
              <input type="date" id="pay-date" name="paymentDate" required value={props.today} />
              <label for="pay-ref">Reference</label>
              <input type="text" id="pay-ref" name="reference" maxlength={200} />
              <label for="pay-note">Note</label>
              <input type="text" id="pay-note" name="note" maxlength={2000} />
              <p>
                <button type="submit" id="record-payment">
                  Record payment
                </button>
              </p>
            </ActionForm>
          </section>
          <section aria-labelledby="credit">
            <h2 id="credit">Issue a credit note</h2>
            <ActionForm action={`${base}/credit-note`} csrf={csrf} class="panel" label="Issue a credit note">
              <label for="cn-amount">Amount ({cur})</label>
              <input
                type="text"
                id="cn-amount"
                name="amount"
                inputmode="decimal"
                required
                pattern="\d+(\.\d{1,2})?"
              />
              <label for="cn-reason">Reason</label>
              <input type="text" id="cn-reason" name="reason" required maxlength={2000} />
              <p>
                <button type="submit">Issue credit note</button>
              </p>
            </ActionForm>
            <h2 id="cancel">Cancel the purchase order</h2>
            <ActionForm action={`${base}/cancel`} csrf={csrf} class="panel" label="Cancel the purchase order">
              <fieldset class="radio">
                <legend>The QuickBooks invoice</legend>
                <input type="radio" id="cancel-keep" name="qboInvoice" value="keep" checked />
                <label for="cancel-keep">keep it</label>
                <input type="radio" id="cancel-void" name="qboInvoice" value="void" />
                <label for="cancel-void">void it</label>
                <input type="radio" id="cancel-credit" name="qboInvoice" value="credit" />
                <label for="cancel-credit">credit the open balance</label>
              </fieldset>
              <button type="submit" class="danger">
                Cancel purchase order
              </button>
            </ActionForm>
          </section>
        </div>
      ) : null}

      <section aria-labelledby="timeline">
        <h2 id="timeline">Timeline</h2>
        <ol class="timeline">
          {props.events.map((e) => (
            <li>
              <When at={e.at} /> <strong>{e.type}</strong> <span class="muted">by {actorLabel(e)}</span>
              <div>{eventSummary(e)}</div>
            </li>
          ))}
        </ol>
      </section>
    </Layout>
  );
}

export function ErrorPage(props: {
  title: string;
  message: string;
  principal?: Principal | undefined;
  csrf?: string | undefined;
  back?: string | undefined;
}) {
  return (
    <Layout title={props.title} principal={props.principal} csrf={props.csrf}>
      <div class="notice error" role="alert">
        {props.message}
      </div>
      <p>
        <a href={props.back ?? "/console"}>Back</a>
      </p>
    </Layout>
  );
}
