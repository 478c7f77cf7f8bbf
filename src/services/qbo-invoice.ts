/**
 * The QuickBooks invoice of a PO: create (customer find-or-create, exactly once), email,
 * PDF, sync and void. QBO failures become SPEC §3 errors through `QboError.toApiError()`.
 */
import { qboClientFor } from "../connections";
import type { Db } from "../db/client";
import type { ConferenceRow } from "../db/conferences";
import { livePushedPayments } from "../db/ledger-outbox";
import {
  findPoById,
  isOutstanding,
  type LineItemRow,
  loadAggregate,
  type PoAggregate,
  type PoRow,
} from "../db/purchase-orders";
import {
  claimInvoiceCreation,
  clearCreateAttempted,
  INVOICEABLE_STATUSES,
  markCreateAttempted,
  markInvoiceEmailed,
  markInvoiceVoided,
  releaseInvoiceClaim,
  saveInvoice,
} from "../db/qbo-invoices";
import type { EventContext } from "../domain/events";
import { centsToQboAmount, qboAmountToCents } from "../domain/money";
import { amountPrecisionDiscrepancy } from "../domain/reconcile";
import { announceIfPending } from "../ledger/outbox";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { type QboClient, QboError } from "../qbo/client";
import { invoicesByDocNumber } from "../qbo/query";
import { type Invoice, InvoiceEnvelope, InvoiceQuery } from "../qbo/schemas";
import { requireConferencePo, requirePo } from "./conferences";
import { cancelPurchaseOrder, invoiceInProgress, isCreationInProgress } from "./purchase-orders";
import { invoiceCurrency, qboCompany } from "./qbo-company";
import { findOrCreateCustomer } from "./qbo-customers";
import { invoiceState, reconcilePurchaseOrders, syncBatchSize } from "./reconcile";

/** Runs QBO work, turning QBO failures into API errors. */
async function withQbo<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof QboError) throw err.toApiError();
    throw err;
  }
}

export function invoiceUrl(invoiceId: string, realmId: string): string {
  return `https://app.qbo.intuit.com/app/invoice?txnId=${encodeURIComponent(invoiceId)}&companyId=${encodeURIComponent(realmId)}`;
}

/**
 * The QBO `requestid` for a PO's invoice. It is derived from the PO alone, so a retry after a
 * lost response (or after a dead worker's claim expired) replays the same request and QBO
 * answers with the invoice it already made instead of creating a second one.
 */
function invoiceRequestId(reference: string): string {
  return `po-invoice-${reference}`;
}

/**
 * POST …/qbo-invoice: the PO and conference are read once, one client serves the create and
 * the optional email.
 */
export async function createQboInvoice(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  opts: { send: boolean },
  ctx: EventContext,
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const client = qboClientFor(env, conference);
  let current = await createInvoice(db, client, conference, po, ctx);
  // Payments and credit notes recorded before the invoice were made pending with it: push them.
  const created = await loadAggregate(db, current);
  await announceIfPending(env, created);
  if (!opts.send) return created;
  current = await emailInvoice(db, client, current, ctx);
  return loadAggregate(db, current);
}

function invoiceable(po: PoRow): boolean {
  return (INVOICEABLE_STATUSES as readonly string[]).includes(po.status);
}

/**
 * Creates the PO's invoice exactly once; returns the PO with it.
 *
 * Three guards, because each one alone fails in real companies (qbo-api.md A6, SPEC §8):
 * - a D1 claim: of concurrent requests one creates, the others get 409;
 * - a `requestid` derived from the PO: a retry replays, while QBO still remembers it;
 * - `DocNumber` = the PO reference: when an earlier attempt may have created the invoice
 *   (its answer was lost: `qboCreateAttemptedAt` is set) or QBO answers 6140 (duplicate
 *   number), the invoice is looked up by DocNumber and adopted instead of created again.
 */
async function createInvoice(
  db: Db,
  client: QboClient,
  conference: ConferenceRow,
  po: PoRow,
  ctx: EventContext,
): Promise<PoRow> {
  const { reference } = po;
  if (po.qboInvoiceId) throw invoiceExists(po);
  if (!invoiceable(po)) {
    throw new ApiError(
      "invalid_state",
      `A QuickBooks invoice can only be made for a draft, sent or partially paid PO; ${reference} is ${po.status}.`,
    );
  }
  const claimed = await claimInvoiceCreation(db, po.id, new Date());
  if (!claimed) {
    const now = await findPoById(db, po.id);
    if (now?.qboInvoiceId) throw invoiceExists(now);
    if (now && !invoiceable(now)) {
      throw new ApiError("invalid_state", `${reference} is ${now.status}.`);
    }
    throw invoiceInProgress(reference);
  }
  let saved: PoRow | null = null;
  try {
    await withQbo(async () => {
      const realmId = await client.realmId();
      const { company, foreign } = await companyFor(db, client, realmId, conference.currency);
      const save = async (inv: Invoice, customerId: string) => {
        saved = await saveCreatedInvoice(db, po, realmId, customerId, inv, ctx);
        log("info", "qbo.invoice_created", {
          conference: conference.slug,
          reference,
          invoiceId: inv.Id,
          realmId,
        });
      };
      const earlier = claimed.qboCreateAttemptedAt ? await invoiceOfPo(client, po) : null;
      if (earlier) return save(earlier, earlier.CustomerRef?.value ?? "");
      const customerId = await findOrCreateCustomer(db, client, conference, realmId, po, {
        code: conference.currency,
        home: company.homeCurrency,
      });
      const { lineItems } = await loadAggregate(db, po);
      await markCreateAttempted(db, po.id, new Date().toISOString());
      try {
        const { Invoice: inv } = await client.json(InvoiceEnvelope, {
          method: "POST",
          path: "invoice",
          query: { requestid: invoiceRequestId(reference), include: "invoiceLink" },
          json: invoicePayload(po, lineItems, customerId, conference, foreign),
        });
        await save(inv, customerId);
      } catch (err) {
        if (err instanceof QboError && err.hasFaultCode("6140")) {
          const existing = await invoiceOfPo(client, po);
          if (existing) return save(existing, existing.CustomerRef?.value ?? customerId);
          throw new QboError(
            "api",
            `QuickBooks already has an invoice numbered ${reference} that is not this purchase order's; rename that invoice's number in QuickBooks and try again.`,
            { status: err.status, faults: err.faults, intuitTid: err.intuitTid },
          );
        }
        // QBO said no for sure (a 4xx fault): nothing was created, no look-up needed next time.
        if (err instanceof QboError && err.kind === "api" && err.status !== null && err.status < 500) {
          await clearCreateAttempted(db, po.id);
        }
        throw err;
      }
    });
  } finally {
    if (!saved) await releaseInvoiceClaim(db, po.id);
  }
  if (!saved) throw new Error("invoice creation ended without an invoice");
  return saved;
}

/**
 * The company's settings and whether the invoice is in a foreign currency. Settings that would
 * refuse the conference's currency are read again first when not fresh (multicurrency may have
 * been turned on in QBO since); a refusal is 409 `qbo_currency_unsupported`, before any write.
 */
async function companyFor(db: Db, client: QboClient, realmId: string, conferenceCurrency: string) {
  const company = await qboCompany(db, client, realmId);
  try {
    return { company, ...invoiceCurrency(company, conferenceCurrency) };
  } catch {
    const fresh = await qboCompany(db, client, realmId, COMPANY_RECHECK_MS);
    return { company: fresh, ...invoiceCurrency(fresh, conferenceCurrency) };
  }
}

/** Settings older than this are read again before refusing a currency (someone may have turned multicurrency on). */
const COMPANY_RECHECK_MS = 10 * 60 * 1000;

/** The invoice QBO holds under this PO's DocNumber, if it is this PO's (its memo names the PO). */
async function invoiceOfPo(client: QboClient, po: PoRow): Promise<Invoice | null> {
  const res = await client.json(InvoiceQuery, {
    method: "POST",
    path: "query",
    text: invoicesByDocNumber(po.reference),
  });
  const ours = (res.QueryResponse.Invoice ?? []).filter(
    (inv) =>
      inv.DocNumber === po.reference &&
      inv.status !== "Deleted" &&
      (inv.CustomerMemo?.value ?? "").includes(po.reference),
  );
  return ours[0] ?? null;
}

async function saveCreatedInvoice(
  db: Db,
  po: PoRow,
  realmId: string,
  customerId: string,
  inv: Invoice,
  ctx: EventContext,
): Promise<PoRow> {
  const state = invoiceState(inv);
  return saveInvoice(
    db,
    po.id,
    {
      realmId,
      invoiceId: inv.Id,
      customerId,
      docNumber: inv.DocNumber ?? null,
      invoiceUrl: invoiceUrl(inv.Id, realmId),
      paymentLink: inv.InvoiceLink ?? null,
      totalCents: state?.totalCents ?? null,
      balanceCents: state?.balanceCents ?? null,
      taxCents: state?.taxCents ?? 0,
      exchangeRate: inv.ExchangeRate == null ? null : String(inv.ExchangeRate),
      emailStatus: inv.EmailStatus ?? null,
      // Amounts QBO should never send (more than two places) are kept out and flagged, but the
      // invoice is saved: it exists in QBO, and forgetting it would invite a second one.
      discrepancy: state ? null : amountPrecisionDiscrepancy(),
    },
    new Date().toISOString(),
    ctx,
  );
}

function invoiceExists(po: PoRow): ApiError {
  return new ApiError(
    "qbo_invoice_exists",
    `${po.reference} already has QuickBooks invoice ${po.qboInvoiceId}.`,
  );
}

export function invoicePayload(
  po: PoRow,
  lines: LineItemRow[],
  customerId: string,
  conference: Pick<ConferenceRow, "qboItemId" | "qboTaxCodeId" | "qboAllowCard" | "qboAllowAch" | "currency">,
  foreign: boolean,
) {
  return {
    CustomerRef: { value: customerId },
    DocNumber: po.reference,
    Line: lines.map((l) => ({
      DetailType: "SalesItemLineDetail",
      Amount: centsToQboAmount(l.lineTotalCents),
      Description: l.description,
      SalesItemLineDetail: {
        Qty: l.quantity,
        UnitPrice: centsToQboAmount(l.unitPriceCents),
        ...(conference.qboItemId ? { ItemRef: { value: conference.qboItemId } } : {}),
        ...(conference.qboTaxCodeId ? { TaxCodeRef: { value: conference.qboTaxCodeId } } : {}),
      },
    })),
    ...(foreign ? { CurrencyRef: { value: conference.currency } } : {}),
    AllowOnlineCreditCardPayment: conference.qboAllowCard,
    AllowOnlineACHPayment: conference.qboAllowAch,
    CustomerMemo: { value: `Purchase Order ${po.reference}` },
    PrivateNote: `Conference ${po.conferenceSlug} purchase order ${po.reference}`,
    BillEmail: { Address: po.contactEmail },
  };
}

function requireInvoice(po: PoRow, action: string): string {
  if (!po.qboInvoiceId)
    throw new ApiError("invalid_state", `${po.reference} has no QuickBooks invoice to ${action}.`);
  return po.qboInvoiceId;
}

/** A client that only talks to the company the PO's invoice was created in (see QboClientOptions.realmId). */
function invoiceClient(env: Env, conference: ConferenceRow, po: PoRow) {
  return qboClientFor(env, conference, po.qboRealmId);
}

export async function sendQboInvoice(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  ctx: EventContext,
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  requireInvoice(po, "send");
  return loadAggregate(db, await emailInvoice(db, invoiceClient(env, conference, po), po, ctx));
}

/** Emails the PO's invoice to its contact through QBO; returns the PO with the new email status. */
async function emailInvoice(db: Db, client: QboClient, po: PoRow, ctx: EventContext): Promise<PoRow> {
  const invoiceId = requireInvoice(po, "send");
  const { Invoice: inv } = await withQbo(() =>
    client.json(InvoiceEnvelope, {
      method: "POST",
      path: `invoice/${encodeURIComponent(invoiceId)}/send`,
      query: { sendTo: po.contactEmail },
    }),
  );
  const updated = await markInvoiceEmailed(
    db,
    po,
    { sentTo: po.contactEmail, emailStatus: inv.EmailStatus ?? "EmailSent" },
    new Date().toISOString(),
    ctx,
  );
  log("info", "qbo.invoice_sent", { conference: po.conferenceSlug, reference: po.reference, invoiceId });
  return updated;
}

export async function qboInvoicePdf(env: Env, db: Db, slug: string, reference: string): Promise<ArrayBuffer> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const invoiceId = requireInvoice(po, "download");
  const client = invoiceClient(env, conference, po);
  const { body, contentType } = await withQbo(() =>
    client.bytes({
      method: "GET",
      path: `invoice/${encodeURIComponent(invoiceId)}/pdf`,
      accept: "application/pdf",
    }),
  );
  if (!contentType.includes("pdf"))
    throw new ApiError("qbo_api_error", "QuickBooks did not answer with a PDF.");
  return body;
}

export async function syncQboInvoice(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  ctx: EventContext,
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  requireInvoice(po, "sync");
  if (!isOutstanding(po)) {
    throw new ApiError(
      "invalid_state",
      po.status === "paid"
        ? `${reference} is paid; paid purchase orders are not synced.`
        : `The QuickBooks invoice of ${reference} is voided or deleted; there is nothing left to sync.`,
    );
  }
  // Unpinned on purpose: reconciliation itself notices an invoice of another company and
  // records a `realm_changed` discrepancy instead of reading the other company's invoice.
  const client = qboClientFor(env, conference);
  await withQbo(() => reconcilePurchaseOrders(db, client, [po], syncBatchSize(env), ctx));
  return loadAggregate(db, await requirePo(db, slug, reference));
}

/** Voids the PO's QBO invoice (read for its SyncToken, then `operation=void` with a stable requestid). */
export async function voidQboInvoice(
  env: Env,
  db: Db,
  conference: ConferenceRow,
  po: PoRow,
  ctx: EventContext,
): Promise<void> {
  const invoiceId = requireInvoice(po, "void");
  const client = invoiceClient(env, conference, po);
  await withQbo(async () => {
    const { Invoice: current } = await client.json(InvoiceEnvelope, {
      method: "GET",
      path: `invoice/${encodeURIComponent(invoiceId)}`,
    });
    const linked = (current.LinkedTxn ?? []).filter((t) => t.TxnType === "Payment");
    if (linked.length > 0) {
      throw paymentsApplied(
        po,
        `QuickBooks payment${linked.length === 1 ? "" : "s"} ${linked.map((t) => t.TxnId).join(", ")}`,
      );
    }
    const { Invoice: voided } = await client.json(InvoiceEnvelope, {
      method: "POST",
      path: "invoice",
      query: { operation: "void", requestid: `po-void-${po.reference}` },
      json: { Id: current.Id, SyncToken: current.SyncToken ?? "0" },
    });
    await markInvoiceVoided(
      db,
      po,
      {
        totalCents: qboAmountToCents(voided.TotalAmt) ?? 0,
        balanceCents: qboAmountToCents(voided.Balance) ?? 0,
      },
      new Date().toISOString(),
      ctx,
    );
  });
  log("info", "qbo.invoice_voided", { conference: conference.slug, reference: po.reference, invoiceId });
}

/**
 * A void would leave payments dangling in QuickBooks (SPEC §9 "Cancel"): refused while the PO
 * has payments that are (or are about to be) in QuickBooks. QuickBooks' own view is checked in
 * `voidQboInvoice`, on the invoice it reads anyway.
 */
async function refuseVoidWithPayments(db: Db, po: PoRow): Promise<void> {
  const n = await livePushedPayments(db, po.id);
  if (n > 0) throw paymentsApplied(po, `${n} payment${n === 1 ? "" : "s"} recorded here`);
}

function paymentsApplied(po: PoRow, what: string): ApiError {
  return new ApiError(
    "invalid_state",
    `The QuickBooks invoice of ${po.reference} has ${what} applied to it; voiding it would leave them dangling. Void the payments first, or cancel with "keep" or "credit".`,
  );
}

/**
 * Cancels a PO; with `void` its QBO invoice is voided first (a void failure leaves the PO as
 * it was). A PO cancelled earlier with its invoice kept can have the invoice voided later by
 * asking again with `void`: no invoice is ever stranded on a cancelled PO.
 */
export async function cancelPurchaseOrderWithInvoice(
  env: Env,
  db: Db,
  slug: string,
  reference: string,
  qboInvoice: "keep" | "void" | "credit",
  ctx: EventContext,
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const liveInvoice = po.qboInvoiceId !== null && po.qboInvoiceVoidedAt === null;
  if (qboInvoice === "void" && liveInvoice) await refuseVoidWithPayments(db, po);
  if (qboInvoice === "credit") {
    if (po.status === "cancelled") {
      throw new ApiError("invalid_state", `Purchase order ${reference} is already cancelled.`);
    }
    if (!liveInvoice) {
      throw new ApiError(
        "invalid_state",
        `${reference} has no live QuickBooks invoice to credit; cancel it with "keep".`,
      );
    }
    if (isCreationInProgress(po)) throw invoiceInProgress(reference);
    await cancelPurchaseOrder(db, po, "credit", ctx);
    const agg = await loadAggregate(db, await requirePo(db, slug, reference));
    await announceIfPending(env, agg);
    return agg;
  }
  if (po.status === "cancelled") {
    if (qboInvoice !== "void" || !liveInvoice) {
      throw new ApiError(
        "invalid_state",
        `Purchase order ${reference} is already cancelled${liveInvoice ? "" : " and has no QuickBooks invoice left to void"}.`,
      );
    }
    await voidQboInvoice(env, db, conference, po, ctx);
  } else {
    if (isCreationInProgress(po)) throw invoiceInProgress(reference);
    if (qboInvoice === "void" && liveInvoice) await voidQboInvoice(env, db, conference, po, ctx);
    await cancelPurchaseOrder(db, po, qboInvoice, ctx);
  }
  return loadAggregate(db, await requirePo(db, slug, reference));
}
