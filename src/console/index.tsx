/** @jsxImportSource hono/jsx */
/**
 * GET /console: the operator console (SPEC §13), server-rendered, usable without JavaScript.
 *
 * Reads go through the services and views the JSON API uses (src/services, src/http/views.ts,
 * plus the console's own aggregates in src/db/console.ts). Every change goes through the API
 * itself, in-process, with the session's token (./api.ts): same roles, same validation, same
 * idempotency, same timeline actor. Each POST is checked first for a live session and its CSRF
 * token (./session.ts); nothing runs without both.
 */
import type { Context } from "hono";
import type { Child } from "hono/jsx";
import { z } from "zod";
import { type ApiKeyRole, roleAllows, routePolicy } from "../auth/roles";
import { makeDb } from "../db/client";
import { CONSOLE_PO_FILTERS, financeSummary, listAllConferences, listConsolePos } from "../db/console";
import { loadAggregates } from "../db/purchase-orders";
import { PO_STATUSES } from "../domain/po-status";
import type { App, AppEnv } from "../http/app-types";
import { conferenceView, purchaseOrderView } from "../http/views";
import { ApiError } from "../lib/errors";
import { getConference, requireConference } from "../services/conferences";
import { purchaseOrderHistory } from "../services/history";
import { getPurchaseOrder } from "../services/purchase-orders";
import { callApi, errorMessage } from "./api";
import { CONSOLE_CSS, CSS_VERSION } from "./assets";
import {
  ConnectionPage,
  ErrorPage,
  HomePage,
  type Permissions,
  PoListPage,
  PoPage,
  SignInPage,
  SummaryPage,
  type SyncStatusView,
} from "./pages";
import {
  csrfMatches,
  currentSession,
  endSession,
  type Principal,
  preSessionMatches,
  preSessionToken,
  principalFor,
  type Session,
  startSession,
} from "./session";
import type { Notice } from "./ui";

const C = "/api/conferences/{slug}";
const PO = `${C}/purchase-orders/{reference}`;
const PAGE_SIZE = 100;

type Ctx = Context<AppEnv>;

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;
const REFERENCE = /^PO-[A-Z0-9]{6}$/;

/** The path's slug, checked before it is used in any path the console builds. */
function slugOf(c: Ctx): string {
  const slug = c.req.param("slug");
  if (!slug || !SLUG.test(slug)) throw new ApiError("not_found", "No such conference.");
  return slug;
}

function referenceOf(c: Ctx): string {
  const reference = c.req.param("reference");
  if (!reference || !REFERENCE.test(reference)) throw new ApiError("not_found", "No such purchase order.");
  return reference;
}

/** Whether the principal may call the API operation (the API's own table decides). */
function may(p: Principal, method: string, template: string): boolean {
  if (p.type === "deployment") return true;
  const policy = routePolicy(method, template);
  return policy !== undefined && roleAllows(p.role as ApiKeyRole, policy.role);
}

function permissions(p: Principal): Permissions {
  return {
    act: may(p, "POST", `${PO}/payments`),
    connect: may(p, "POST", `${C}/qbo/connect`),
    sync: may(p, "POST", `${C}/qbo/sync`),
  };
}

function securityHeaders(c: Ctx): void {
  let authorize = "";
  try {
    authorize = ` ${new URL(c.env.QBO_AUTHORIZE_URL).origin}`;
  } catch {
    // no consent origin to allow
  }
  c.header(
    "content-security-policy",
    [
      "default-src 'none'",
      "style-src 'self'",
      "img-src 'self'",
      // The Connect form's answer redirects through /oauth/qbo/start to Intuit's consent page.
      `form-action 'self'${authorize}`,
      "frame-ancestors 'none'",
      "base-uri 'none'",
    ].join("; "),
  );
  c.header("cache-control", "no-store");
  c.header("referrer-policy", "same-origin");
  c.header("x-content-type-options", "nosniff");
  c.header("x-frame-options", "DENY");
}

function render(
  c: Ctx,
  page: Child,
  status: 200 | 400 | 401 | 403 | 404 | 409 | 422 | 429 | 502 | 503 = 200,
) {
  return c.html(`<!doctype html>${String(page)}`, status);
}

type HtmlStatus = Parameters<typeof render>[2];
function htmlStatus(status: number): HtmlStatus {
  const known = [400, 401, 403, 404, 409, 422, 429, 502, 503] as const;
  return (known as readonly number[]).includes(status) ? (status as HtmlStatus) : status >= 500 ? 502 : 400;
}

/** Renders the service's refusals (404, 409…) as a page rather than the API's JSON. */
function guarded(handler: (c: Ctx) => Promise<Response>) {
  return async (c: Ctx) => {
    securityHeaders(c);
    try {
      return await handler(c);
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const session = await currentSession(c).catch(() => null);
      return render(
        c,
        <ErrorPage
          title={err.status === 404 ? "Not found" : "Something is not right"}
          message={err.message}
          principal={session?.principal}
          csrf={session?.csrf}
        />,
        htmlStatus(err.status),
      );
    }
  };
}

/** The session, or a redirect to sign in. */
async function requireSession(c: Ctx): Promise<Session | Response> {
  const session = await currentSession(c);
  return session ?? c.redirect("/console", 303);
}

/** A conference the principal may see; another conference is "not found", as in the API. */
function checkConference(session: Session, slug: string): void {
  const p = session.principal;
  if (p.type === "api_key" && p.conference !== slug)
    throw new ApiError("not_found", `Conference '${slug}' not found.`);
}

/** A conference's page: signed in (else to the sign-in page), and a conference the principal may see. */
function conferencePage(handler: (c: Ctx, session: Session, slug: string) => Promise<Response>) {
  return guarded(async (c) => {
    const session = await requireSession(c);
    if (session instanceof Response) return session;
    const slug = slugOf(c);
    checkConference(session, slug);
    return handler(c, session, slug);
  });
}

/** A conference's form (POST): session and CSRF token checked, a conference the principal may see. */
function conferenceForm(
  handler: (
    c: Ctx,
    checked: { session: Session; form: Record<string, string> },
    slug: string,
  ) => Promise<Response>,
) {
  return guarded(async (c) => {
    const checked = await checkedForm(c);
    if (checked instanceof Response) return checked;
    const slug = slugOf(c);
    checkConference(checked.session, slug);
    return handler(c, checked, slug);
  });
}

/** The form of a POST, once its session and CSRF token are checked; else the refusal. */
async function checkedForm(c: Ctx): Promise<{ session: Session; form: Record<string, string> } | Response> {
  const origin = c.req.header("origin");
  const session = await currentSession(c);
  if (!session) return c.redirect("/console", 303);
  const raw = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
  const form: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) if (typeof v === "string") form[k] = v;
  const sameOrigin = origin === undefined || origin === new URL(c.req.url).origin;
  if (!sameOrigin || !(await csrfMatches(session, form._csrf))) {
    return render(
      c,
      <ErrorPage
        title="Form expired"
        message="This form's security token is missing or not valid (it may come from another site or an old page). Nothing was changed; reload the page and try again."
        principal={session.principal}
        csrf={session.csrf}
      />,
      403,
    );
  }
  return { session, form };
}

const DONE: Record<string, string> = {
  invoice: "The QuickBooks invoice was created.",
  email: "The invoice was e-mailed through QuickBooks.",
  sync: "The purchase order was synced with QuickBooks.",
  send: "The purchase order is marked as sent.",
  payment: "The payment was recorded.",
  "credit-note": "The credit note was recorded.",
  cancel: "The purchase order was cancelled.",
  acknowledge: "The discrepancy was acknowledged.",
  retry: "Failed pushes were queued again.",
  disconnect: "QuickBooks was disconnected.",
  "sync-all": "A sync of every outstanding invoice was queued.",
  "signed-out": "You are signed out.",
};

function doneNotice(c: Ctx): Notice | undefined {
  const done = c.req.query("done");
  const text = done ? DONE[done] : undefined;
  return text ? { kind: "info", text } : undefined;
}

const ListQuery = z.object({
  status: z.union([z.enum(PO_STATUSES), z.literal("")]).optional(),
  filter: z.union([z.enum(CONSOLE_PO_FILTERS), z.literal("")]).optional(),
  q: z.string().trim().max(100).optional(),
  before: z.coerce.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional(),
});

const SyncStatusShape = z.looseObject({
  outstanding: z.number(),
  lastRuns: z.array(
    z.looseObject({
      trigger: z.string(),
      startedAt: z.string(),
      finishedAt: z.string().nullable(),
      invoicesChecked: z.number(),
      paymentsRecorded: z.number(),
    }),
  ),
  failures: z.array(
    z.looseObject({
      invoiceIds: z.array(z.string()),
      error: z.string(),
      attempts: z.number(),
      failedAt: z.string(),
    }),
  ),
});

/** Builds the API call behind a PO form. Bodies go to the API as typed; the API validates them. */
function poAction(
  action: string,
  f: Record<string, string>,
): { method: "POST"; path: string; body?: unknown; conferenceLevel?: true } | null {
  switch (action) {
    case "invoice":
      return { method: "POST", path: "/qbo-invoice", body: { send: f.send === "true" } };
    case "email":
      return { method: "POST", path: "/qbo-invoice/send" };
    case "sync":
      return { method: "POST", path: "/qbo-invoice/sync" };
    case "send":
      return { method: "POST", path: "/send" };
    case "payment":
      return {
        method: "POST",
        path: "/payments",
        body: {
          amount: f.amount ?? "",
          method: f.method ?? "",
          reference: f.reference ?? "",
          paymentDate: f.paymentDate ?? "",
          note: f.note ?? "",
        },
      };
    case "credit-note":
      return {
        method: "POST",
        path: "/credit-notes",
        body: { amount: f.amount ?? "", reason: f.reason ?? "" },
      };
    case "cancel":
      return { method: "POST", path: "/cancel", body: { qboInvoice: f.qboInvoice || "keep" } };
    case "acknowledge":
      return { method: "POST", path: "/discrepancy/acknowledge", body: { note: f.note ?? "" } };
    case "retry":
      return { method: "POST", path: "/qbo/outbox/retry", body: {}, conferenceLevel: true };
    default:
      return null;
  }
}

const OUTBOX_RETRY = `${C}/qbo/outbox/retry`;
/** Whether the ledger outbox's retry route exists yet (it comes with the ledger push, SPEC §9). */
const outboxRetryExists = () => routePolicy("POST", OUTBOX_RETRY) !== undefined;

export function registerConsoleRoutes(app: App): void {
  app.get("/console/assets/:version/console.css", (c) => {
    if (c.req.param("version") !== CSS_VERSION) throw new ApiError("not_found", "No such console asset.");
    return c.body(CONSOLE_CSS, 200, {
      "content-type": "text/css; charset=utf-8",
      "cache-control": "public, max-age=31536000, immutable",
      "x-content-type-options": "nosniff",
    });
  });

  app.get(
    "/console",
    guarded(async (c) => {
      const session = await currentSession(c);
      if (!session) {
        const csrf = await preSessionToken(c);
        if (!csrf)
          return render(
            c,
            <ErrorPage
              title="Console closed"
              message="TOKEN_ENCRYPTION_KEY is not set; the console cannot sign anyone in."
            />,
            503,
          );
        return render(c, <SignInPage csrf={csrf} notice={doneNotice(c)} />);
      }
      const p = session.principal;
      if (p.type === "api_key") return c.redirect(`/console/c/${p.conference}`, 303);
      const conferences = await listAllConferences(makeDb(c.env.DB), 500);
      return render(
        c,
        <HomePage principal={p} csrf={session.csrf} conferences={conferences} notice={doneNotice(c)} />,
      );
    }),
  );

  app.post(
    "/console/sign-in",
    guarded(async (c) => {
      const raw = await c.req.parseBody().catch(() => ({}) as Record<string, unknown>);
      const again = async (text: string, status: 401 | 403) =>
        render(
          c,
          <SignInPage csrf={(await preSessionToken(c)) ?? ""} notice={{ kind: "error", text }} />,
          status,
        );
      if (!(await preSessionMatches(c, raw._csrf)))
        return again("The sign-in form expired; nothing was done. Try again.", 403);
      const token = typeof raw.token === "string" ? raw.token.trim() : "";
      if (!token || token.length > 512 || !(await principalFor(c.env, token, "check")))
        return again("That key is not valid: it is unknown, revoked, or mistyped.", 401);
      await startSession(c, token);
      return c.redirect("/console", 303);
    }),
  );

  app.post(
    "/console/sign-out",
    guarded(async (c) => {
      const checked = await checkedForm(c);
      if (checked instanceof Response) return checked;
      endSession(c);
      return c.redirect("/console?done=signed-out", 303);
    }),
  );

  app.get(
    "/console/c/:slug",
    conferencePage(async (c, session, slug) => {
      const db = makeDb(c.env.DB);
      const conference = await requireConference(db, slug);
      const [summary, recent] = await Promise.all([
        financeSummary(db, slug),
        listConsolePos(db, slug, { limit: 5 }).then((rows) => loadAggregates(db, rows)),
      ]);
      return render(
        c,
        <SummaryPage
          principal={session.principal}
          csrf={session.csrf}
          conference={conference}
          summary={summary}
          recent={recent.map(purchaseOrderView)}
          notice={doneNotice(c)}
        />,
      );
    }),
  );

  app.get(
    "/console/c/:slug/qbo",
    conferencePage(async (c, session, slug) => {
      return renderConnection(app, c, session, slug, doneNotice(c), 200);
    }),
  );

  app.post(
    "/console/c/:slug/qbo/:action",
    conferenceForm(async (c, { session, form }, slug) => {
      const action = c.req.param("action") ?? "";
      const base = `/api/conferences/${slug}`;
      const idempotencyKey = form._idem;
      let answer: Awaited<ReturnType<typeof callApi>>;
      if (action === "connect") {
        answer = await callApi(app, c, session, "POST", `${base}/qbo/connect`, {
          body: { force: form.force === "true" },
        });
        const url = (answer.body as { url?: unknown } | null)?.url;
        if (answer.status === 200 && typeof url === "string") return c.redirect(url, 303);
      } else if (action === "disconnect") {
        answer = await callApi(app, c, session, "DELETE", `${base}/qbo/tokens`);
        if (answer.status === 204) return c.redirect(`/console/c/${slug}/qbo?done=disconnect`, 303);
      } else if (action === "retry-pushes") {
        answer = await callApi(app, c, session, "POST", `${base}/qbo/outbox/retry`, { idempotencyKey });
        if (answer.status < 300) return c.redirect(`/console/c/${slug}/qbo?done=retry`, 303);
      } else if (action === "sync") {
        answer = await callApi(app, c, session, "POST", `${base}/qbo/sync`, { idempotencyKey });
        if (answer.status < 300) return c.redirect(`/console/c/${slug}/qbo?done=sync-all`, 303);
      } else {
        throw new ApiError("not_found", "No such action.");
      }
      return renderConnection(
        app,
        c,
        session,
        slug,
        { kind: "error", text: errorMessage(answer) },
        htmlStatus(answer.status),
      );
    }),
  );

  app.get(
    "/console/c/:slug/pos",
    conferencePage(async (c, session, slug) => {
      const parsed = ListQuery.safeParse(c.req.query());
      if (!parsed.success) throw new ApiError("validation_failed", "The filter is not valid.");
      const q = parsed.data;
      const db = makeDb(c.env.DB);
      const conference = await requireConference(db, slug);
      const rows = await listConsolePos(db, slug, {
        status: q.status || undefined,
        filter: q.filter || undefined,
        search: q.q || undefined,
        beforeId: q.before,
        limit: PAGE_SIZE + 1,
      });
      const page = rows.slice(0, PAGE_SIZE);
      const items = (await loadAggregates(db, page)).map(purchaseOrderView);
      const last = page.at(-1);
      return render(
        c,
        <PoListPage
          principal={session.principal}
          csrf={session.csrf}
          conference={conference}
          items={items}
          query={{ status: q.status || undefined, filter: q.filter || undefined, q: q.q || undefined }}
          next={rows.length > PAGE_SIZE && last ? String(last.id) : null}
          first={q.before === undefined}
          notice={doneNotice(c)}
        />,
      );
    }),
  );

  app.get(
    "/console/c/:slug/pos/:reference",
    conferencePage(async (c, session, slug) => {
      return renderPo(c, session, slug, referenceOf(c), doneNotice(c), 200);
    }),
  );

  app.get(
    "/console/c/:slug/pos/:reference/pdf",
    conferencePage(async (c, session, slug) => {
      const reference = referenceOf(c);
      const answer = await callApi(
        app,
        c,
        session,
        "GET",
        `/api/conferences/${slug}/purchase-orders/${reference}/qbo-invoice/pdf`,
      );
      if (answer.status === 200) {
        return c.body(await answer.response.arrayBuffer(), 200, {
          "content-type": "application/pdf",
          "content-disposition": answer.headers.get("content-disposition") ?? "inline",
        });
      }
      return renderPo(
        c,
        session,
        slug,
        reference,
        { kind: "error", text: errorMessage(answer) },
        htmlStatus(answer.status),
      );
    }),
  );

  app.post(
    "/console/c/:slug/pos/:reference/:action",
    conferenceForm(async (c, { session, form }, slug) => {
      const reference = referenceOf(c);
      const action = c.req.param("action") ?? "";
      const call = poAction(action, form);
      if (!call) throw new ApiError("not_found", "No such action.");
      const poPath = `/api/conferences/${slug}/purchase-orders/${reference}`;
      const answer = await callApi(
        app,
        c,
        session,
        call.method,
        call.conferenceLevel ? `/api/conferences/${slug}${call.path}` : `${poPath}${call.path}`,
        { body: call.body, idempotencyKey: form._idem },
      );
      if (answer.status < 300) return c.redirect(`/console/c/${slug}/pos/${reference}?done=${action}`, 303);
      return renderPo(
        c,
        session,
        slug,
        reference,
        { kind: "error", text: errorMessage(answer) },
        htmlStatus(answer.status),
      );
    }),
  );
}

async function renderConnection(
  app: App,
  c: Ctx,
  session: Session,
  slug: string,
  notice: Notice | undefined,
  status: HtmlStatus,
) {
  const db = makeDb(c.env.DB);
  const [conference, summary, syncAnswer] = await Promise.all([
    getConference(c.env, db, slug),
    financeSummary(db, slug),
    // The sync status through the API: the fields other features add to it (reads this month,
    // webhooks missed) show here as soon as they exist.
    callApi(app, c, session, "GET", `/api/conferences/${slug}/qbo/sync`),
  ]);
  const sync = syncAnswer.status === 200 ? SyncStatusShape.safeParse(syncAnswer.body) : null;
  return render(
    c,
    <ConnectionPage
      principal={session.principal}
      csrf={session.csrf}
      conference={conferenceView(conference.row, conference.connection, conference.previousRealms)}
      sync={sync?.success ? (sync.data as SyncStatusView) : null}
      discrepancies={summary.discrepancies}
      failedPushes={summary.failedPushes}
      can={permissions(session.principal)}
      now={Date.now()}
      outboxRetry={outboxRetryExists()}
      notice={notice}
    />,
    status,
  );
}

async function renderPo(
  c: Ctx,
  session: Session,
  slug: string,
  reference: string,
  notice: Notice | undefined,
  status: HtmlStatus,
) {
  const db = makeDb(c.env.DB);
  const [conference, po, events] = await Promise.all([
    requireConference(db, slug),
    getPurchaseOrder(db, slug, reference),
    purchaseOrderHistory(db, slug, reference),
  ]);
  return render(
    c,
    <PoPage
      principal={session.principal}
      csrf={session.csrf}
      conference={conference}
      po={purchaseOrderView(po)}
      events={events}
      can={permissions(session.principal)}
      today={new Date().toISOString().slice(0, 10)}
      outboxRetry={
        may(session.principal, "POST", OUTBOX_RETRY) && routePolicy("POST", OUTBOX_RETRY) !== undefined
      }
      notice={notice}
    />,
    status,
  );
}
