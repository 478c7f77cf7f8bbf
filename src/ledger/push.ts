/**
 * The ledger push (SPEC §9 "Ours → QBO"): works a PO's pending outbox entries, oldest first,
 * against the company its invoice lives in. A payment becomes a QBO Payment linked to the
 * invoice; a credit note a CreditMemo applied to the invoice; a void here voids (or deletes) the
 * counterpart there.
 *
 * Never a duplicate, whatever is lost: every create carries a `requestid` derived from the row
 * (a retry replays it), and once a create may have reached QuickBooks (`attemptedAt`) the next
 * attempt first looks for the counterpart by the PrivateNote marker, because QuickBooks forgets
 * requestids after a while (qbo-api.md A6).
 *
 * Failures: a transient one (429, 5xx, timeout) is noted on the entry and thrown, so the queue
 * retries the message like any sync message (the dead-letter step marks what is still pending
 * `failed`); QuickBooks refusing (4xx, no connection, another company) fails the entry at once.
 */
import { qboClientFor } from "../connections";
import type { Db } from "../db/client";
import { findConference } from "../db/conferences";
import {
  claimPendingEntries,
  closeEntry,
  completeCreate,
  createEntryOf,
  failEntry,
  loadCreditNote,
  loadPayment,
  markAttempted,
  noteTransientError,
  type OutboxRow,
  releaseEntries,
  rememberQboId,
} from "../db/ledger-outbox";
import { findPoById, type PoRow } from "../db/purchase-orders";
import { type EventContext, SYSTEM_CONTEXT } from "../domain/events";
import { ledgerRequestId, paymentRefNum, preTaxCents } from "../domain/ledger";
import { hasLedgerMarker, ledgerMarker } from "../domain/ledger-markers";
import { centsToQboAmount, formatCents, qboAmountToCents } from "../domain/money";
import { log } from "../lib/log";
import { type QboClient, QboError } from "../qbo/client";
import {
  type CreditMemo,
  CreditMemoEnvelope,
  CreditMemoQuery,
  customerPayments,
  customerTxnsOn,
  DeletedEnvelope,
  isVoidedTxn,
  LedgerPaymentEnvelope,
  LedgerPaymentQuery,
  type PushInvoice,
  PushInvoiceEnvelope,
} from "../qbo/ledger";
import { qboCompany } from "../services/qbo-company";

/** A push QuickBooks refused for good: the entry fails with this message (shown to finance). */
class PushRefused extends Error {}

/** Works every pending entry of the PO. Throws only what the queue should retry. */
export async function pushPurchaseOrder(env: Env, db: Db, poId: number, ctx = SYSTEM_CONTEXT): Promise<void> {
  const entries = await claimPendingEntries(db, poId, new Date(), LEASE_MS);
  if (entries.length === 0) return;
  try {
    await pushEntries(env, db, poId, entries, ctx);
  } finally {
    await releaseEntries(
      db,
      entries.map((e) => e.id),
    );
  }
}

/** Longer than any one run (a few QBO round trips per entry, 30 s timeout each) should take. */
const LEASE_MS = 3 * 60 * 1000;

async function pushEntries(env: Env, db: Db, poId: number, entries: OutboxRow[], ctx: EventContext) {
  const po = await findPoById(db, poId);
  const conference = po && (await findConference(db, po.conferenceSlug));
  if (!po || !conference) return;
  const client = qboClientFor(env, conference, po.qboRealmId);
  const session = new PushSession(db, client, po, ctx);
  for (const entry of entries) {
    const now = () => new Date().toISOString();
    try {
      await session.run(entry);
    } catch (err) {
      if (isTransient(err)) {
        await noteTransientError(db, entry.id, describe(err), now());
        throw err;
      }
      const error = describe(err);
      log("warn", "ledger.push_failed", {
        conference: po.conferenceSlug,
        reference: po.reference,
        entry: entry.id,
        error,
      });
      await failEntry(db, entry, error, now());
    }
  }
}

function isTransient(err: unknown): boolean {
  if (err instanceof PushRefused) return false;
  if (err instanceof QboError) return err.transient;
  return true;
}

function describe(err: unknown): string {
  if (err instanceof QboError) {
    const fault = err.faults[0];
    const detail = fault ? ` (${[fault.code, fault.message, fault.detail].filter(Boolean).join(": ")})` : "";
    return `${err.message}${detail}${err.intuitTid ? ` [intuit_tid ${err.intuitTid}]` : ""}`.slice(0, 500);
  }
  if (err instanceof Error) return err.message.slice(0, 500);
  return "unknown error";
}

/** One PO's pushes: the invoice and company settings are read once and shared by its entries. */
class PushSession {
  readonly #db: Db;
  readonly #client: QboClient;
  readonly #po: PoRow;
  readonly #ctx: EventContext;
  #invoice: PushInvoice | null = null;
  #foreign: boolean | null = null;

  constructor(db: Db, client: QboClient, po: PoRow, ctx: EventContext) {
    this.#db = db;
    this.#client = client;
    this.#po = po;
    this.#ctx = ctx;
  }

  async run(entry: OutboxRow): Promise<void> {
    if (entry.kind === "payment") {
      const row = await loadPayment(this.#db, entry.rowId);
      if (!row) return closeEntry(this.#db, entry, "keep", new Date().toISOString());
      return entry.action === "create" ? this.#createPayment(entry, row) : this.#voidPayment(entry, row);
    }
    const row = await loadCreditNote(this.#db, entry.rowId);
    if (!row) return closeEntry(this.#db, entry, "keep", new Date().toISOString());
    return entry.action === "create" ? this.#createCreditMemo(entry, row) : this.#voidCreditMemo(entry, row);
  }

  // ── the invoice ─────────────────────────────────────────────────────────────────────

  async #readInvoice(): Promise<PushInvoice> {
    const invoiceId = this.#po.qboInvoiceId;
    if (!invoiceId) throw new PushRefused(`${this.#po.reference} has no QuickBooks invoice to push to.`);
    const { Invoice } = await this.#client.json(PushInvoiceEnvelope, {
      method: "GET",
      path: `invoice/${encodeURIComponent(invoiceId)}`,
    });
    this.#invoice = Invoice;
    return Invoice;
  }

  async #invoiceOnce(): Promise<PushInvoice> {
    return this.#invoice ?? this.#readInvoice();
  }

  #customerId(inv: PushInvoice): string {
    const id = inv.CustomerRef?.value ?? this.#po.qboCustomerId;
    if (!id) throw new PushRefused(`The QuickBooks invoice of ${this.#po.reference} names no customer.`);
    return id;
  }

  /** CurrencyRef and ExchangeRate like the invoice's, when it is in a foreign currency. */
  async #currency(inv: PushInvoice): Promise<Record<string, unknown>> {
    if (!inv.CurrencyRef?.value) return {};
    if (this.#foreign === null) {
      const company = await qboCompany(this.#db, this.#client, await this.#client.realmId());
      this.#foreign = inv.CurrencyRef.value.toUpperCase() !== company.homeCurrency;
    }
    if (!this.#foreign) return {};
    return {
      CurrencyRef: { value: inv.CurrencyRef.value },
      ...(inv.ExchangeRate ? { ExchangeRate: inv.ExchangeRate } : {}),
    };
  }

  #refuseVoidedInvoice(inv: PushInvoice, what: string): void {
    if (isVoidedTxn(inv)) {
      throw new PushRefused(
        `The QuickBooks invoice ${inv.Id} of ${this.#po.reference} is voided; the ${what} was not pushed.`,
      );
    }
  }

  // ── payments ────────────────────────────────────────────────────────────────────────

  async #createPayment(entry: OutboxRow, row: NonNullable<Awaited<ReturnType<typeof loadPayment>>>) {
    const now = () => new Date().toISOString();
    const slug = this.#po.conferenceSlug;
    if (row.voidedAt !== null && entry.attemptedAt === null) {
      // Voided here before it ever reached QuickBooks: nothing to create (the void entry closes it).
      return closeEntry(this.#db, entry, "keep", now());
    }
    const inv = await this.#invoiceOnce();
    const customerId = this.#customerId(inv);
    const marker = ledgerMarker("payment", slug, row.id);
    if (entry.attemptedAt !== null) {
      const found = await this.#findByMarker("Payment", customerId, row.paymentDate, "payment", row.id);
      if (found) return completeCreate(this.#db, entry, found, now(), this.#ctx);
    }
    if (row.voidedAt !== null) return closeEntry(this.#db, entry, "keep", now());
    this.#refuseVoidedInvoice(inv, "payment");
    const conference = await findConference(this.#db, slug);
    const amount = centsToQboAmount(row.amountCents);
    const body = {
      CustomerRef: { value: customerId },
      TotalAmt: amount,
      TxnDate: row.paymentDate,
      ...(row.reference.trim() ? { PaymentRefNum: paymentRefNum(row.reference) } : {}),
      PrivateNote:
        `${marker} · ${row.method} payment ${row.id} of purchase order ${this.#po.reference}${row.reference ? ` (ref ${row.reference})` : ""}`.slice(
          0,
          4000,
        ),
      ...(conference?.qboDepositAccountId
        ? { DepositToAccountRef: { value: conference.qboDepositAccountId } }
        : {}),
      ...(await this.#currency(inv)),
      Line: [{ Amount: amount, LinkedTxn: [{ TxnId: inv.Id, TxnType: "Invoice" }] }],
    };
    await markAttempted(this.#db, entry.id, now());
    const { Payment } = await this.#client.json(LedgerPaymentEnvelope, {
      method: "POST",
      path: "payment",
      query: { requestid: await ledgerRequestId("pay", slug, row.id, entry.generation) },
      json: body,
    });
    this.#invoice = null; // its balance moved
    await completeCreate(this.#db, entry, Payment.Id, now(), this.#ctx);
    log("info", "ledger.payment_pushed", {
      conference: slug,
      reference: this.#po.reference,
      paymentId: row.id,
      qboPaymentId: Payment.Id,
    });
  }

  async #voidPayment(entry: OutboxRow, row: NonNullable<Awaited<ReturnType<typeof loadPayment>>>) {
    const now = () => new Date().toISOString();
    let qboId = row.qboId;
    if (!qboId) qboId = await this.#orphanOf("Payment", row.paymentDate, "payment", row.id);
    if (!qboId) return closeEntry(this.#db, entry, null, now());
    const { Payment: current } = await this.#client.json(LedgerPaymentEnvelope, {
      method: "GET",
      path: `payment/${encodeURIComponent(qboId)}`,
    });
    if (!isVoidedTxn(current) && current.status !== "Deleted") {
      await this.#client.json(LedgerPaymentEnvelope, {
        method: "POST",
        path: "payment",
        query: {
          operation: "update",
          include: "void",
          requestid: await ledgerRequestId("pvd", this.#po.conferenceSlug, row.id, entry.generation),
        },
        json: { Id: current.Id, SyncToken: current.SyncToken ?? "0", sparse: true },
      });
    }
    if (!row.qboId) await rememberQboId(this.#db, "payment", row.id, qboId);
    this.#invoice = null;
    await closeEntry(this.#db, entry, "synced", now());
  }

  // ── credit notes ────────────────────────────────────────────────────────────────────

  async #createCreditMemo(entry: OutboxRow, row: NonNullable<Awaited<ReturnType<typeof loadCreditNote>>>) {
    const now = () => new Date().toISOString();
    const slug = this.#po.conferenceSlug;
    if (row.voidedAt !== null && entry.attemptedAt === null && row.qboId === null) {
      return closeEntry(this.#db, entry, "keep", now());
    }
    const inv = await this.#invoiceOnce();
    const customerId = this.#customerId(inv);
    const marker = ledgerMarker("credit_note", slug, row.id);
    const txnDate = row.createdAt.slice(0, 10);
    let memoId = row.qboId;
    if (!memoId && entry.attemptedAt !== null) {
      memoId = await this.#findByMarker("CreditMemo", customerId, txnDate, "credit_note", row.id);
    }
    if (memoId && !row.qboId && row.voidedAt === null) {
      // Found by its marker after a push that died: trusted only if it is of the right amount.
      memoId = await this.#keepIfExact(entry, row.id, memoId, row.amountCents);
    }
    if (!memoId) {
      if (row.voidedAt !== null) return closeEntry(this.#db, entry, "keep", now());
      this.#refuseVoidedInvoice(inv, "credit note");
      await markAttempted(this.#db, entry.id, now());
      memoId = await this.#createExactCreditMemo(entry, row, inv, { customerId, marker, txnDate });
      await rememberQboId(this.#db, "credit_note", row.id, memoId);
    }
    if (row.voidedAt === null) await this.#applyCreditMemo(entry, row.id, memoId, customerId);
    await completeCreate(this.#db, entry, memoId, now(), this.#ctx);
    log("info", "ledger.credit_note_pushed", {
      conference: slug,
      reference: this.#po.reference,
      creditNoteId: row.id,
      qboCreditMemoId: memoId,
    });
  }

  /**
   * Creates the credit memo of a credit note so that its total, tax included, is the credit
   * note's amount. Same item and tax code as the invoice (SPEC §9); where QuickBooks taxes that
   * line, the line is the amount before tax at the invoice's own rate (`preTaxCents`). The total
   * QuickBooks answers is checked: a memo of another total is voided at once and made again at
   * the memo's own rate; a second miss is refused (the entry fails, visible and retryable), so
   * a wrong credit never stays in the books.
   */
  async #createExactCreditMemo(
    entry: OutboxRow,
    row: NonNullable<Awaited<ReturnType<typeof loadCreditNote>>>,
    inv: PushInvoice,
    memo: { customerId: string; marker: string; txnDate: string },
  ): Promise<string> {
    const slug = this.#po.conferenceSlug;
    const sales = (inv.Line ?? []).filter((l) => l.SalesItemLineDetail);
    const line = sales[0]?.SalesItemLineDetail;
    const taxCode = line?.TaxCodeRef?.value;
    const taxCents = qboAmountToCents(inv.TxnTaxDetail?.TotalTax ?? 0) ?? 0;
    const taxableCents = sales
      .filter((l) => l.SalesItemLineDetail?.TaxCodeRef?.value !== "NON")
      .reduce((sum, l) => sum + (qboAmountToCents(l.Amount ?? 0) ?? 0), 0);
    let lineCents =
      taxCode === "NON"
        ? row.amountCents
        : (preTaxCents(row.amountCents, { taxCents, taxableCents }) ?? row.amountCents);
    for (let attempt = 1; ; attempt++) {
      const amount = centsToQboAmount(lineCents);
      const variant = lineCents === row.amountCents ? undefined : `line ${lineCents}`;
      const { CreditMemo: created } = await this.#client.json(CreditMemoEnvelope, {
        method: "POST",
        path: "creditmemo",
        query: { requestid: await ledgerRequestId("cm", slug, row.id, entry.generation, variant) },
        json: {
          CustomerRef: { value: memo.customerId },
          TxnDate: memo.txnDate,
          PrivateNote: `${memo.marker} · credit note ${row.id} of purchase order ${this.#po.reference}`,
          ...(await this.#currency(inv)),
          Line: [
            {
              DetailType: "SalesItemLineDetail",
              Amount: amount,
              Description: row.reason.slice(0, 4000),
              SalesItemLineDetail: {
                Qty: 1,
                UnitPrice: amount,
                ...(line?.ItemRef?.value ? { ItemRef: { value: line.ItemRef.value } } : {}),
                ...(taxCode ? { TaxCodeRef: { value: taxCode } } : {}),
              },
            },
          ],
        },
      });
      const totalCents = qboAmountToCents(created.TotalAmt ?? 0);
      if (totalCents === row.amountCents) return created.Id;
      await this.#voidWrongMemo(entry, row.id, created);
      const next =
        totalCents === null || attempt >= 2
          ? null
          : preTaxCents(row.amountCents, { taxCents: totalCents - lineCents, taxableCents: lineCents });
      if (next === null || next === lineCents) {
        throw new PushRefused(
          `QuickBooks made credit memo ${created.Id} for ${row.id} total ${created.TotalAmt} (tax added) instead of ${centsToQboAmount(row.amountCents)}; it was voided. Set the conference's qbo.taxCodeId (for example "NON") or record the credit in QuickBooks, then retry the push.`,
        );
      }
      lineCents = next;
    }
  }

  /** A memo found by its marker: its id when its total is the credit note's, else voided and null. */
  async #keepIfExact(
    entry: OutboxRow,
    rowId: number,
    memoId: string,
    amountCents: number,
  ): Promise<string | null> {
    const { CreditMemo: found } = await this.#client.json(CreditMemoEnvelope, {
      method: "GET",
      path: `creditmemo/${encodeURIComponent(memoId)}`,
    });
    if (qboAmountToCents(found.TotalAmt ?? 0) === amountCents) return memoId;
    if (!isVoidedTxn(found)) await this.#voidWrongMemo(entry, rowId, found);
    return null;
  }

  /** Voids a memo this push made with the wrong total (before anything applied it). */
  async #voidWrongMemo(
    entry: OutboxRow,
    rowId: number,
    memo: { Id: string; SyncToken?: string | undefined },
  ) {
    log("warn", "ledger.credit_memo_total_mismatch", {
      conference: this.#po.conferenceSlug,
      reference: this.#po.reference,
      creditNoteId: rowId,
      qboCreditMemoId: memo.Id,
    });
    await this.#client.json(DeletedEnvelope, {
      method: "POST",
      path: "creditmemo",
      query: {
        operation: "void",
        requestid: await ledgerRequestId(
          "cmvd",
          this.#po.conferenceSlug,
          rowId,
          entry.generation,
          `memo ${memo.Id}`,
        ),
      },
      json: { Id: memo.Id, SyncToken: memo.SyncToken ?? "0" },
    });
  }

  /**
   * Applies what is left of the memo to the invoice with a zero-amount Payment (QBO's own way to
   * link a credit to a charge). QuickBooks may have applied it already ("Automatically apply
   * credits"): to this invoice, fine; to another one, that is a failure finance must see.
   */
  async #applyCreditMemo(entry: OutboxRow, rowId: number, memoId: string, customerId: string): Promise<void> {
    // Read again, not taken from the create's answer: QuickBooks may apply credits after answering.
    const { CreditMemo: memo } = await this.#client.json(CreditMemoEnvelope, {
      method: "GET",
      path: `creditmemo/${encodeURIComponent(memoId)}`,
    });
    const totalCents = qboAmountToCents(memo.TotalAmt ?? 0) ?? 0;
    const remainingCents = qboAmountToCents(memo.RemainingCredit ?? memo.TotalAmt ?? 0) ?? 0;
    const inv = await this.#readInvoice();
    if (remainingCents < totalCents) {
      const elsewhere = await this.#appliedElsewhere(memo, inv.Id, customerId);
      if (elsewhere.length > 0) {
        throw new PushRefused(
          `QuickBooks applied credit memo ${memo.Id} to invoice ${elsewhere.join(", ")} instead of ${inv.Id} (${this.#po.reference}), by its "Automatically apply credits" setting. Unapply it there and apply it to invoice ${inv.Id} in QuickBooks, then retry the push.`,
        );
      }
    }
    const balanceCents = qboAmountToCents(inv.Balance ?? 0) ?? 0;
    const applyCents = Math.min(remainingCents, balanceCents);
    if (applyCents <= 0) return;
    const amount = centsToQboAmount(applyCents);
    await this.#client.json(LedgerPaymentEnvelope, {
      method: "POST",
      path: "payment",
      query: { requestid: await ledgerRequestId("cmap", this.#po.conferenceSlug, rowId, entry.generation) },
      json: {
        CustomerRef: { value: customerId },
        TotalAmt: 0,
        PrivateNote: `${ledgerMarker("credit_note", this.#po.conferenceSlug, rowId)} · applies credit memo ${memo.Id} to invoice ${inv.Id}`,
        ...(await this.#currency(inv)),
        Line: [
          { Amount: amount, LinkedTxn: [{ TxnId: inv.Id, TxnType: "Invoice" }] },
          { Amount: amount, LinkedTxn: [{ TxnId: memo.Id, TxnType: "CreditMemo" }] },
        ],
      },
    });
    this.#invoice = null;
    log("info", "ledger.credit_applied", {
      reference: this.#po.reference,
      memoId: memo.Id,
      amount: formatCents(applyCents),
    });
  }

  /** Invoices other than ours that a payment linking this memo also links. */
  async #appliedElsewhere(memo: CreditMemo, invoiceId: string, customerId: string): Promise<string[]> {
    const res = await this.#client.json(LedgerPaymentQuery, {
      method: "POST",
      path: "query",
      text: customerPayments(customerId),
    });
    const others = new Set<string>();
    for (const payment of res.QueryResponse.Payment ?? []) {
      const links = (payment.Line ?? []).flatMap((l) => l.LinkedTxn ?? []);
      if (!links.some((t) => t.TxnType === "CreditMemo" && t.TxnId === memo.Id)) continue;
      const invoices = links.filter((t) => t.TxnType === "Invoice").map((t) => t.TxnId);
      if (!invoices.includes(invoiceId)) for (const id of invoices) others.add(id);
    }
    return [...others];
  }

  async #voidCreditMemo(entry: OutboxRow, row: NonNullable<Awaited<ReturnType<typeof loadCreditNote>>>) {
    const now = () => new Date().toISOString();
    let qboId = row.qboId;
    if (!qboId) qboId = await this.#orphanOf("CreditMemo", row.createdAt.slice(0, 10), "credit_note", row.id);
    if (!qboId) return closeEntry(this.#db, entry, null, now());
    const { CreditMemo: current } = await this.#client.json(CreditMemoEnvelope, {
      method: "GET",
      path: `creditmemo/${encodeURIComponent(qboId)}`,
    });
    if (!isVoidedTxn(current) && current.status !== "Deleted") {
      const requestid = await ledgerRequestId("cmvd", this.#po.conferenceSlug, row.id, entry.generation);
      const ref = { Id: current.Id, SyncToken: current.SyncToken ?? "0" };
      try {
        // A void keeps the memo on the books at 0 (and unapplies it), which reads best in an audit.
        await this.#client.json(DeletedEnvelope, {
          method: "POST",
          path: "creditmemo",
          query: { operation: "void", requestid },
          json: ref,
        });
      } catch (err) {
        // A company that refuses to void credit memos through the API can still delete them.
        if (!(err instanceof QboError && err.kind === "api" && !err.hasFaultCode("610"))) throw err;
        await this.#client.json(DeletedEnvelope, {
          method: "POST",
          path: "creditmemo",
          query: { operation: "delete", requestid: `${requestid.slice(0, 46)}-del` },
          json: ref,
        });
      }
    }
    if (!row.qboId) await rememberQboId(this.#db, "credit_note", row.id, qboId);
    this.#invoice = null;
    await closeEntry(this.#db, entry, "synced", now());
  }

  // ── finding our own work again ──────────────────────────────────────────────────────

  /** For a void of a row that has no QBO id: its create may still have reached QuickBooks. */
  async #orphanOf(
    entity: "Payment" | "CreditMemo",
    txnDate: string,
    kind: "payment" | "credit_note",
    rowId: number,
  ): Promise<string | null> {
    const create = await createEntryOf(this.#db, kind, rowId);
    if (!create?.attemptedAt) return null;
    const inv = await this.#invoiceOnce();
    return this.#findByMarker(entity, this.#customerId(inv), txnDate, kind, rowId);
  }

  async #findByMarker(
    entity: "Payment" | "CreditMemo",
    customerId: string,
    txnDate: string,
    kind: "payment" | "credit_note",
    rowId: number,
  ): Promise<string | null> {
    const text = customerTxnsOn(entity, customerId, txnDate);
    const slug = this.#po.conferenceSlug;
    const rows =
      entity === "Payment"
        ? ((await this.#client.json(LedgerPaymentQuery, { method: "POST", path: "query", text }))
            .QueryResponse.Payment ?? [])
        : ((await this.#client.json(CreditMemoQuery, { method: "POST", path: "query", text })).QueryResponse
            .CreditMemo ?? []);
    // The apply payment of a credit note carries the marker too, but it is a Payment, not the memo.
    const mine = rows.filter(
      (r) =>
        hasLedgerMarker(r.PrivateNote, kind, slug, rowId) &&
        !(r.PrivateNote ?? "").includes("applies credit memo") &&
        // A memo voided for a wrong total carries the marker too; it is not the one.
        !(entity === "CreditMemo" && isVoidedTxn(r)),
    );
    return mine[0]?.Id ?? null;
  }
}
