/**
 * The QuickBooks invoice of a PO: create (customer find-or-create, exactly once), email,
 * PDF, sync and void. QBO failures become SPEC §3 errors through `QboError.toApiError()`.
 */
import { qboClientFor } from "../connections";
import type { Db } from "../db/client";
import type { ConferenceRow } from "../db/conferences";
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
  releaseInvoiceClaim,
  rememberCustomer,
  rememberedCustomer,
  saveInvoice,
  updateInvoiceFields,
} from "../db/qbo-invoices";
import { centsToQboAmount, qboAmountToCents } from "../domain/money";
import { ApiError } from "../lib/errors";
import { log } from "../lib/log";
import { type QboClient, QboError } from "../qbo/client";
import { customerByDisplayName } from "../qbo/query";
import { CustomerEnvelope, CustomerQuery, InvoiceEnvelope } from "../qbo/schemas";
import { requireConferencePo, requirePo } from "./conferences";
import { cancelPurchaseOrder, invoiceInProgress, isCreationInProgress } from "./purchase-orders";
import { reconcilePurchaseOrders, syncBatchSize } from "./reconcile";

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
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const client = qboClientFor(env, conference);
  let current = await createInvoice(db, client, conference, po);
  if (opts.send) current = await emailInvoice(db, client, current);
  return loadAggregate(db, current);
}

/** Creates the PO's invoice exactly once (claim, customer, create with a stable requestid); returns the PO with it. */
async function createInvoice(
  db: Db,
  client: QboClient,
  conference: ConferenceRow,
  po: PoRow,
): Promise<PoRow> {
  const { reference } = po;
  if (po.qboInvoiceId) throw invoiceExists(po);
  if (po.status !== "draft" && po.status !== "sent") {
    throw new ApiError(
      "invalid_state",
      `A QuickBooks invoice can only be made for a draft or sent PO; ${reference} is ${po.status}.`,
    );
  }
  if (!(await claimInvoiceCreation(db, po.id, new Date()))) {
    const now = await findPoById(db, po.id);
    if (now?.qboInvoiceId) throw invoiceExists(now);
    if (now && now.status !== "draft" && now.status !== "sent") {
      throw new ApiError("invalid_state", `${reference} is ${now.status}.`);
    }
    throw invoiceInProgress(reference);
  }
  const aggregate = await loadAggregate(db, po);
  let saved: PoRow | null = null;
  try {
    await withQbo(async () => {
      const realmId = await client.realmId();
      const customerId = await findOrCreateCustomer(db, client, conference, realmId, po);
      const { Invoice: inv } = await client.json(InvoiceEnvelope, {
        method: "POST",
        path: "invoice",
        query: { requestid: invoiceRequestId(po.reference), include: "invoiceLink" },
        json: invoicePayload(po, aggregate.lineItems, customerId, conference.qboItemId),
      });
      const totalCents = qboAmountToCents(inv.TotalAmt);
      const balanceCents = qboAmountToCents(inv.Balance);
      if (totalCents === null || balanceCents === null) {
        throw new QboError("api", "QuickBooks answered with amounts that are not whole cents.");
      }
      const now = new Date().toISOString();
      saved = await saveInvoice(
        db,
        po.id,
        {
          realmId,
          invoiceId: inv.Id,
          customerId,
          docNumber: inv.DocNumber ?? null,
          invoiceUrl: invoiceUrl(inv.Id, realmId),
          paymentLink: inv.InvoiceLink ?? null,
          totalCents,
          balanceCents,
          emailStatus: inv.EmailStatus ?? null,
        },
        now,
      );
      log("info", "qbo.invoice_created", {
        conference: conference.slug,
        reference,
        invoiceId: inv.Id,
        realmId,
      });
    });
  } finally {
    if (!saved) await releaseInvoiceClaim(db, po.id);
  }
  if (!saved) throw new Error("invoice creation ended without an invoice");
  return saved;
}

function invoiceExists(po: PoRow): ApiError {
  return new ApiError(
    "qbo_invoice_exists",
    `${po.reference} already has QuickBooks invoice ${po.qboInvoiceId}.`,
  );
}

/** Remembered id, else a DisplayName query, else a create (and a re-query after 6240). */
async function findOrCreateCustomer(
  db: Db,
  client: QboClient,
  conference: ConferenceRow,
  realmId: string,
  po: PoRow,
): Promise<string> {
  const remembered = await rememberedCustomer(db, conference.slug, realmId, po.organizationName);
  if (remembered) return remembered;
  const found = await queryCustomer(client, po.organizationName);
  let customerId = found;
  if (!customerId) {
    try {
      const { Customer: created } = await client.json(CustomerEnvelope, {
        method: "POST",
        path: "customer",
        query: { requestid: await customerRequestId(conference.slug, po.organizationName) },
        json: customerPayload(po),
      });
      customerId = created.Id;
      log("info", "qbo.customer_created", { conference: conference.slug, customerId });
    } catch (err) {
      // 6240: someone created the same name meanwhile (or it differs only in case): use theirs.
      if (!(err instanceof QboError && err.hasFaultCode("6240"))) throw err;
      customerId = await queryCustomer(client, po.organizationName);
      if (!customerId) throw err;
    }
  }
  await rememberCustomer(
    db,
    conference.slug,
    realmId,
    po.organizationName,
    customerId,
    new Date().toISOString(),
  );
  return customerId;
}

async function queryCustomer(client: QboClient, name: string): Promise<string | null> {
  const res = await client.json(CustomerQuery, {
    method: "GET",
    path: "query",
    query: { query: customerByDisplayName(name) },
  });
  return res.QueryResponse.Customer?.[0]?.Id ?? null;
}

async function customerRequestId(slug: string, organization: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(`${slug}\n${organization.trim().toLowerCase()}`),
  );
  return `customer-${[...new Uint8Array(digest).slice(0, 12)].map((b) => b.toString(16).padStart(2, "0")).join("")}`;
}

/** BillAddr Line1…Line5 hold the address lines in order; any further lines are joined into Line5. */
function billAddress(text: string): Record<string, string> | undefined {
  const lines = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (lines.length === 0) return undefined;
  const head = lines.slice(0, 4);
  const rest = lines.slice(4);
  const all = rest.length > 0 ? [...head, rest.join(", ")] : head;
  return Object.fromEntries(all.map((line, i) => [`Line${i + 1}`, line]));
}

function customerPayload(po: PoRow) {
  const addr = billAddress(po.billingAddress);
  return {
    DisplayName: po.organizationName.trim(),
    PrimaryEmailAddr: { Address: po.contactEmail },
    ...(addr ? { BillAddr: addr } : {}),
  };
}

function invoicePayload(po: PoRow, lines: LineItemRow[], customerId: string, itemId: string | null) {
  return {
    CustomerRef: { value: customerId },
    Line: lines.map((l) => ({
      DetailType: "SalesItemLineDetail",
      Amount: centsToQboAmount(l.lineTotalCents),
      Description: l.description,
      SalesItemLineDetail: {
        Qty: l.quantity,
        UnitPrice: centsToQboAmount(l.unitPriceCents),
        ...(itemId ? { ItemRef: { value: itemId } } : {}),
      },
    })),
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
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  requireInvoice(po, "send");
  return loadAggregate(db, await emailInvoice(db, invoiceClient(env, conference, po), po));
}

/** Emails the PO's invoice to its contact through QBO; returns the PO with the new email status. */
async function emailInvoice(db: Db, client: QboClient, po: PoRow): Promise<PoRow> {
  const invoiceId = requireInvoice(po, "send");
  const { Invoice: inv } = await withQbo(() =>
    client.json(InvoiceEnvelope, {
      method: "POST",
      path: `invoice/${encodeURIComponent(invoiceId)}/send`,
      query: { sendTo: po.contactEmail },
    }),
  );
  const updated = await updateInvoiceFields(
    db,
    po,
    { emailStatus: inv.EmailStatus ?? "EmailSent" },
    new Date().toISOString(),
  );
  log("info", "qbo.invoice_sent", { conference: po.conferenceSlug, reference: po.reference, invoiceId });
  return updated;
}

export async function qboInvoicePdf(env: Env, db: Db, slug: string, reference: string): Promise<ArrayBuffer> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const invoiceId = requireInvoice(po, "download");
  const client = invoiceClient(env, conference, po);
  const { body, contentType } = await withQbo(() =>
    client.bytes({ method: "GET", path: `invoice/${encodeURIComponent(invoiceId)}/pdf` }),
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
  await withQbo(() => reconcilePurchaseOrders(db, client, [po], syncBatchSize(env)));
  return loadAggregate(db, await requirePo(db, slug, reference));
}

/** Voids the PO's QBO invoice (read for its SyncToken, then `operation=void` with a stable requestid). */
export async function voidQboInvoice(env: Env, db: Db, conference: ConferenceRow, po: PoRow): Promise<void> {
  const invoiceId = requireInvoice(po, "void");
  const client = invoiceClient(env, conference, po);
  await withQbo(async () => {
    const { Invoice: current } = await client.json(InvoiceEnvelope, {
      method: "GET",
      path: `invoice/${encodeURIComponent(invoiceId)}`,
    });
    const { Invoice: voided } = await client.json(InvoiceEnvelope, {
      method: "POST",
      path: "invoice",
      query: { operation: "void", requestid: `po-void-${po.reference}` },
      json: { Id: current.Id, SyncToken: current.SyncToken ?? "0" },
    });
    await updateInvoiceFields(
      db,
      po,
      {
        totalCents: qboAmountToCents(voided.TotalAmt) ?? 0,
        balanceCents: qboAmountToCents(voided.Balance) ?? 0,
        voidedAt: new Date().toISOString(),
      },
      new Date().toISOString(),
    );
  });
  log("info", "qbo.invoice_voided", { conference: conference.slug, reference: po.reference, invoiceId });
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
  qboInvoice: "keep" | "void",
): Promise<PoAggregate> {
  const { conference, po } = await requireConferencePo(db, slug, reference);
  const liveInvoice = po.qboInvoiceId !== null && po.qboInvoiceVoidedAt === null;
  if (po.status === "cancelled") {
    if (qboInvoice !== "void" || !liveInvoice) {
      throw new ApiError(
        "invalid_state",
        `Purchase order ${reference} is already cancelled${liveInvoice ? "" : " and has no QuickBooks invoice left to void"}.`,
      );
    }
    await voidQboInvoice(env, db, conference, po);
  } else {
    if (isCreationInProgress(po)) throw invoiceInProgress(reference);
    if (qboInvoice === "void" && liveInvoice) await voidQboInvoice(env, db, conference, po);
    await cancelPurchaseOrder(db, po);
  }
  return loadAggregate(db, await requirePo(db, slug, reference));
}
