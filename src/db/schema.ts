/**
 * D1 schema. Money is always integer cents (`*_cents`); instants are ISO 8601 UTC strings;
 * dates are `YYYY-MM-DD`. See docs/storage.md for what each table is for.
 */
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";
import { API_KEY_ROLES } from "../auth/roles";
import { ACTOR_TYPES, CONFERENCE_EVENT_TYPES, PLATFORM_EVENT_TYPES, PO_EVENT_TYPES } from "../domain/events";
import { LEDGER_PUSH_ACTIONS, LEDGER_PUSH_KINDS, OUTBOX_STATES } from "../domain/ledger";
import { PAYMENT_METHODS, PAYMENT_SOURCES, QBO_ENVIRONMENTS, QBO_PUSH_STATES } from "../domain/payments";
import { DELIVERY_STATUSES } from "../domain/platform-events";
import { PO_STATUSES } from "../domain/po-status";
import { DISCREPANCY_KINDS, SYNC_TRIGGERS } from "../domain/reconcile";

export const conferences = sqliteTable(
  "conferences",
  {
    slug: text("slug").primaryKey(),
    name: text("name").notNull(),
    currency: text("currency").notNull().default("USD"),
    qboRealmId: text("qbo_realm_id"),
    qboEnvironment: text("qbo_environment", { enum: QBO_ENVIRONMENTS }),
    qboItemId: text("qbo_item_id"),
    /** Sent as `TaxCodeRef` on every invoice line (`"NON"` = not taxable); null: the company decides. */
    qboTaxCodeId: text("qbo_tax_code_id"),
    /** `AllowOnlineCreditCardPayment` / `AllowOnlineACHPayment` on new invoices. */
    qboAllowCard: integer("qbo_allow_card", { mode: "boolean" }).notNull().default(false),
    qboAllowAch: integer("qbo_allow_ach", { mode: "boolean" }).notNull().default(false),
    /** `DepositToAccountRef` of payments pushed to QBO (the ledger, SPEC §9). */
    qboDepositAccountId: text("qbo_deposit_account_id"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [index("conferences_realm_idx").on(t.qboRealmId)],
);

export const purchaseOrders = sqliteTable(
  "purchase_orders",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    reference: text("reference").notNull(),
    conferenceSlug: text("conference_slug")
      .notNull()
      .references(() => conferences.slug),
    status: text("status", { enum: PO_STATUSES }).notNull().default("draft"),
    organizationName: text("organization_name").notNull(),
    contactName: text("contact_name").notNull(),
    contactEmail: text("contact_email").notNull(),
    billingAddress: text("billing_address").notNull().default(""),
    notes: text("notes").notNull().default(""),
    /** Σ line totals: the PO's subtotal. The PO's total is this plus `taxCents`. */
    totalCents: integer("total_cents").notNull(),
    /** QBO's `TxnTaxDetail.TotalTax`, stored at create and on every sync (0 before invoicing). */
    taxCents: integer("tax_cents").notNull().default(0),
    // QuickBooks invoice of the PO (all null until one is created).
    /** Set while one request holds the right to create the QBO invoice (a D1 claim). */
    qboCreateClaimedAt: text("qbo_create_claimed_at"),
    /**
     * Set just before the create request is sent, cleared when QBO definitively refused it. Set
     * on a PO without an invoice, it means an earlier create may have happened in QBO (lost
     * answer): the next attempt first looks the invoice up by DocNumber and adopts it.
     */
    qboCreateAttemptedAt: text("qbo_create_attempted_at"),
    qboInvoiceId: text("qbo_invoice_id"),
    qboRealmId: text("qbo_realm_id"),
    qboCustomerId: text("qbo_customer_id"),
    qboDocNumber: text("qbo_doc_number"),
    qboInvoiceUrl: text("qbo_invoice_url"),
    qboPaymentLink: text("qbo_payment_link"),
    qboTotalCents: integer("qbo_total_cents"),
    qboBalanceCents: integer("qbo_balance_cents"),
    qboEmailStatus: text("qbo_email_status"),
    qboLastSyncedAt: text("qbo_last_synced_at"),
    /** QBO's `ExchangeRate` (home units per 1 invoice-currency unit), as text to keep it exact. */
    qboExchangeRate: text("qbo_exchange_rate"),
    qboDiscrepancyKind: text("qbo_discrepancy_kind", { enum: DISCREPANCY_KINDS }),
    qboDiscrepancyMessage: text("qbo_discrepancy_message"),
    qboDiscrepancyAt: text("qbo_discrepancy_at"),
    /** Set when we voided the invoice, or a sync saw it voided or deleted in QBO: no money can reach it. */
    qboInvoiceVoidedAt: text("qbo_invoice_voided_at"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("purchase_orders_reference_uq").on(t.reference),
    index("purchase_orders_conference_status_idx").on(t.conferenceSlug, t.status, t.id),
    uniqueIndex("purchase_orders_qbo_invoice_uq").on(t.qboRealmId, t.qboInvoiceId),
  ],
);

export const lineItems = sqliteTable(
  "po_line_items",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    purchaseOrderId: integer("purchase_order_id")
      .notNull()
      .references(() => purchaseOrders.id),
    position: integer("position").notNull(),
    description: text("description").notNull(),
    quantity: integer("quantity").notNull(),
    unitPriceCents: integer("unit_price_cents").notNull(),
    lineTotalCents: integer("line_total_cents").notNull(),
  },
  (t) => [index("po_line_items_po_idx").on(t.purchaseOrderId, t.position)],
);

export const payments = sqliteTable(
  "payments",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    purchaseOrderId: integer("purchase_order_id")
      .notNull()
      .references(() => purchaseOrders.id),
    amountCents: integer("amount_cents").notNull(),
    method: text("method", { enum: PAYMENT_METHODS }).notNull(),
    reference: text("reference").notNull().default(""),
    paymentDate: text("payment_date").notNull(),
    note: text("note").notNull().default(""),
    source: text("source", { enum: PAYMENT_SOURCES }).notNull().default("manual"),
    createdAt: text("created_at").notNull(),
    /** A reversed payment is kept, with why, and leaves every total (SPEC §15). */
    voidedAt: text("voided_at"),
    voidReason: text("void_reason"),
    /** The QBO Payment this row is the counterpart of: pushed by us (manual) or read from QBO (qbo). */
    qboId: text("qbo_id"),
    /** null: nothing to push (no QBO invoice yet and never pushed). See QBO_PUSH_STATES. */
    qboState: text("qbo_state", { enum: QBO_PUSH_STATES }),
    qboError: text("qbo_error"),
  },
  (t) => [index("payments_po_idx").on(t.purchaseOrderId), index("payments_qbo_idx").on(t.qboId)],
);

export const creditNotes = sqliteTable(
  "credit_notes",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    purchaseOrderId: integer("purchase_order_id")
      .notNull()
      .references(() => purchaseOrders.id),
    amountCents: integer("amount_cents").notNull(),
    reason: text("reason").notNull(),
    createdAt: text("created_at").notNull(),
    voidedAt: text("voided_at"),
    voidReason: text("void_reason"),
    /** `manual`: recorded through the API; `qbo`: a CreditMemo applied in QuickBooks. */
    source: text("source", { enum: PAYMENT_SOURCES }).notNull().default("manual"),
    /** The QBO CreditMemo this row is the counterpart of. */
    qboId: text("qbo_id"),
    qboState: text("qbo_state", { enum: QBO_PUSH_STATES }),
    qboError: text("qbo_error"),
  },
  (t) => [index("credit_notes_po_idx").on(t.purchaseOrderId), index("credit_notes_qbo_idx").on(t.qboId)],
);

/** A QBO company's settings that change what we send: read once per realm, remembered. */
export const qboCompanies = sqliteTable("qbo_companies", {
  realmId: text("realm_id").primaryKey(),
  homeCurrency: text("home_currency").notNull(),
  multicurrency: integer("multicurrency", { mode: "boolean" }).notNull(),
  fetchedAt: text("fetched_at").notNull(),
});

/** QBO customer id remembered per conference and organization (case-folded, as QBO's DisplayName). */
export const qboCustomers = sqliteTable(
  "qbo_customers",
  {
    conferenceSlug: text("conference_slug").notNull(),
    realmId: text("realm_id").notNull(),
    organizationKey: text("organization_key").notNull(),
    customerId: text("customer_id").notNull(),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.conferenceSlug, t.realmId, t.organizationKey] })],
);

/** Webhook event ids already accepted, so a replayed delivery is not queued twice. */
export const webhookEvents = sqliteTable(
  "webhook_events",
  {
    eventKey: text("event_key").primaryKey(),
    realmId: text("realm_id").notNull(),
    receivedAt: text("received_at").notNull(),
    /** The inbox row that claimed the key: its own re-drive may claim it again (src/sync/inbox.ts). */
    inboxId: integer("inbox_id"),
  },
  (t) => [index("webhook_events_received_idx").on(t.receivedAt)],
);

/**
 * Verified webhook deliveries not yet queued (SPEC §10). Written before the 200 and deleted once
 * every event of the delivery is on the queue, so an acknowledged delivery is never lost.
 */
export const webhookInbox = sqliteTable(
  "webhook_inbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    receivedAt: text("received_at").notNull(),
    /** The delivery's entity events, parsed (JSON array; src/sync/inbox.ts InboxEvents). */
    events: text("events").notNull(),
    /** A drain holds the row until this instant; a drain that died lets go of it then. */
    leasedUntil: text("leased_until").notNull(),
    attempts: integer("attempts").notNull().default(0),
  },
  (t) => [index("webhook_inbox_lease_idx").on(t.leasedUntil)],
);

/**
 * Entity changes a webhook told us about, kept about 30 days: the change feed counts what it
 * finds that is not here (`webhooksMissed`). `lastUpdated` is epoch seconds (QBO's own time).
 */
export const webhookDeliveries = sqliteTable(
  "webhook_deliveries",
  {
    realmId: text("realm_id").notNull(),
    entity: text("entity").notNull(),
    entityId: text("entity_id").notNull(),
    lastUpdated: integer("last_updated").notNull(),
    receivedAt: text("received_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.realmId, t.entity, t.entityId, t.lastUpdated] }),
    index("webhook_deliveries_received_idx").on(t.receivedAt),
  ],
);

/** Per realm: the change feed has queued every change up to `checkpoint` (QBO's clock). */
export const cdcCheckpoints = sqliteTable("cdc_checkpoints", {
  realmId: text("realm_id").primaryKey(),
  checkpoint: text("checkpoint").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/**
 * Changes the change feed found that concern a conference's POs, kept about 30 days; those no
 * webhook delivered are its `webhooksMissed`. `lastUpdated` is epoch seconds (QBO's own time).
 */
export const cdcChanges = sqliteTable(
  "cdc_changes",
  {
    conferenceSlug: text("conference_slug").notNull(),
    realmId: text("realm_id").notNull(),
    entity: text("entity").notNull(),
    entityId: text("entity_id").notNull(),
    lastUpdated: integer("last_updated").notNull(),
    foundAt: text("found_at").notNull(),
  },
  (t) => [
    primaryKey({ columns: [t.conferenceSlug, t.realmId, t.entity, t.entityId, t.lastUpdated] }),
    index("cdc_changes_found_idx").on(t.foundAt),
  ],
);

export const syncRuns = sqliteTable(
  "sync_runs",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    conferenceSlug: text("conference_slug").notNull(),
    trigger: text("trigger", { enum: SYNC_TRIGGERS }).notNull(),
    startedAt: text("started_at").notNull(),
    finishedAt: text("finished_at"),
    invoicesChecked: integer("invoices_checked").notNull().default(0),
    paymentsRecorded: integer("payments_recorded").notNull().default(0),
    creditNotesRecorded: integer("credit_notes_recorded").notNull().default(0),
    /**
     * Null when the run followed the invoices' linked payments and credit memos (SPEC §9);
     * otherwise why it fell back to the balance rule `TotalAmt − Balance` (they could not be read).
     */
    ledgerFallback: text("ledger_fallback"),
    qboRequests: integer("qbo_requests").notNull().default(0),
    d1Statements: integer("d1_statements").notNull().default(0),
  },
  (t) => [index("sync_runs_conference_idx").on(t.conferenceSlug, t.id)],
);

/**
 * Work that exhausted its queue retries and was dead-lettered, for an operator to see.
 * `messageKey` is the id we put in every queue message body, so a failure is recorded once.
 */
export const syncFailures = sqliteTable(
  "sync_failures",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    messageKey: text("message_key").notNull().unique(),
    conferenceSlug: text("conference_slug"),
    realmId: text("realm_id"),
    invoiceIds: text("invoice_ids").notNull().default("[]"),
    error: text("error").notNull(),
    attempts: integer("attempts").notNull(),
    failedAt: text("failed_at").notNull(),
  },
  (t) => [index("sync_failures_conference_idx").on(t.conferenceSlug, t.id)],
);

/** The last error of a queue message still being retried (read by the dead-letter consumer). */
export const syncMessageErrors = sqliteTable("sync_message_errors", {
  messageKey: text("message_key").primaryKey(),
  error: text("error").notNull(),
  attempts: integer("attempts").notNull(),
  updatedAt: text("updated_at").notNull(),
});

/** OAuth `state` nonces: single use, bound to a conference, short-lived. */
export const oauthStates = sqliteTable("oauth_states", {
  nonce: text("nonce").primaryKey(),
  conferenceSlug: text("conference_slug").notNull(),
  expiresAt: text("expires_at").notNull(),
  usedAt: text("used_at"),
});

/**
 * A conference's API keys (SPEC §11). The key itself is shown once at creation and never stored:
 * only its SHA-256 (`key_hash`, looked up on every request) and a short display `prefix`.
 * Revoked keys stay, with `revoked_at`, so the list shows who had access.
 */
export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    conferenceSlug: text("conference_slug")
      .notNull()
      .references(() => conferences.slug),
    name: text("name").notNull(),
    role: text("role", { enum: API_KEY_ROLES }).notNull(),
    keyHash: text("key_hash").notNull(),
    prefix: text("prefix").notNull(),
    createdAt: text("created_at").notNull(),
    /** Written at most once a minute per key (src/auth/api-keys.ts), not on every request. */
    lastUsedAt: text("last_used_at"),
    revokedAt: text("revoked_at"),
  },
  (t) => [
    uniqueIndex("api_keys_key_hash_uq").on(t.keyHash),
    index("api_keys_conference_idx").on(t.conferenceSlug),
  ],
);

/**
 * The PO timeline (SPEC §11 "History"), append-only: rows are never updated or deleted (no
 * pruning). Each is written in the D1 batch of the change it describes. The ascending id is
 * the conference feed's cursor: D1 serialises writes, so ids are handed out in commit order
 * and a reader paging with `since` never skips a row that commits later.
 */
export const poEvents = sqliteTable(
  "po_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    purchaseOrderId: integer("purchase_order_id")
      .notNull()
      .references(() => purchaseOrders.id),
    conferenceSlug: text("conference_slug").notNull(),
    at: text("at").notNull(),
    type: text("type", { enum: PO_EVENT_TYPES }).notNull(),
    actorType: text("actor_type", { enum: ACTOR_TYPES }).notNull(),
    actorId: text("actor_id"),
    actorName: text("actor_name"),
    requestId: text("request_id"),
    /** JSON object; money as decimal strings, like the API. Always holds the PO's `reference`. */
    data: text("data").notNull().default("{}"),
  },
  (t) => [
    index("po_events_po_idx").on(t.purchaseOrderId, t.id),
    index("po_events_conference_idx").on(t.conferenceSlug, t.id),
  ],
);

/**
 * Idempotency-Key claims and the answers they produced (SPEC §11), one row per (caller, key).
 * A row without `completedAt` is a request still running (or one that died: `claimedAt` tells);
 * `fingerprint` is the SHA-256 of method, path and raw body, so a reused key is recognised.
 * `claimId` names the claim, so a request whose claim was taken over cannot write its answer.
 * Pruned by the daily cron once `createdAt` is 24 hours old.
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    caller: text("caller").notNull(),
    key: text("key").notNull(),
    fingerprint: text("fingerprint").notNull(),
    claimId: text("claim_id").notNull(),
    createdAt: text("created_at").notNull(),
    claimedAt: text("claimed_at").notNull(),
    completedAt: text("completed_at"),
    responseStatus: integer("response_status"),
    responseContentType: text("response_content_type"),
    responseBody: text("response_body"),
  },
  (t) => [primaryKey({ columns: [t.caller, t.key] }), index("idempotency_keys_created_idx").on(t.createdAt)],
);

/**
 * A conference's event endpoint (SPEC §12): at most one per conference. The signing secret is
 * stored only sealed (AES-GCM under TOKEN_ENCRYPTION_KEY, src/connections/crypto.ts), never in
 * plaintext. `previousSecretSealed` still signs until `previousSecretExpiresAt` (24 h after a
 * rotation). `cursor` is the last `po_events.id` the drain has turned into deliveries (or passed
 * over as not subscribed): the outbox's read position; `conferenceCursor` the same for
 * `conference_events`. `disabledAt`: the receiver answered 410.
 */
export const eventEndpoints = sqliteTable("event_endpoints", {
  id: text("id").primaryKey(),
  conferenceSlug: text("conference_slug")
    .notNull()
    .unique()
    .references(() => conferences.slug),
  url: text("url").notNull(),
  /** JSON array of types and `prefix*` filters; null: every type. */
  events: text("events"),
  secretSealed: text("secret_sealed").notNull(),
  previousSecretSealed: text("previous_secret_sealed"),
  previousSecretExpiresAt: text("previous_secret_expires_at"),
  cursor: integer("cursor").notNull().default(0),
  /** The same for `conference_events.id`. */
  conferenceCursor: integer("conference_cursor").notNull().default(0),
  createdAt: text("created_at").notNull(),
  updatedAt: text("updated_at").notNull(),
  secretRotatedAt: text("secret_rotated_at"),
  disabledAt: text("disabled_at"),
});

/**
 * Conference-level events (SPEC §12: `qbo.reconnect_required`, `sync.failed`), the second
 * outbox source beside `po_events`. `dedupeKey` names what the event reports (the sync_failures
 * row, the refused grant's generation), unique per conference, so a writer that may run twice
 * (a duplicate dead letter, every call that meets a dead grant) writes one event.
 */
export const conferenceEvents = sqliteTable(
  "conference_events",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    conferenceSlug: text("conference_slug").notNull(),
    at: text("at").notNull(),
    type: text("type", { enum: CONFERENCE_EVENT_TYPES }).notNull(),
    data: text("data").notNull().default("{}"),
    dedupeKey: text("dedupe_key").notNull(),
  },
  (t) => [
    uniqueIndex("conference_events_dedupe_uq").on(t.conferenceSlug, t.dedupeKey),
    index("conference_events_conference_idx").on(t.conferenceSlug, t.id),
  ],
);

/**
 * One timeline event (`eventId`) or conference-level event (`conferenceEventId`), exactly one of
 * the two, to one endpoint (the outbox row): created by the drain, sent through the
 * `platform-events` queue, retried for 24 hours. Unique per (endpoint, event), so the drain can
 * run concurrently and a webhook id is never sent for two rows. Pruned after 30 days.
 */
export const eventDeliveries = sqliteTable(
  "event_deliveries",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    endpointId: text("endpoint_id").notNull(),
    conferenceSlug: text("conference_slug").notNull(),
    eventId: integer("event_id").references(() => poEvents.id),
    conferenceEventId: integer("conference_event_id").references(() => conferenceEvents.id),
    type: text("type", { enum: PLATFORM_EVENT_TYPES }).notNull(),
    status: text("status", { enum: DELIVERY_STATUSES }).notNull(),
    attempts: integer("attempts").notNull().default(0),
    /** When the next attempt is due (pending rows); the cron re-drives rows long past it. */
    nextAttemptAt: text("next_attempt_at"),
    /** Retrying stops after this (24 h after creation, or after a manual retry). */
    expiresAt: text("expires_at").notNull(),
    lastStatus: integer("last_status"),
    lastError: text("last_error"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("event_deliveries_endpoint_event_uq").on(t.endpointId, t.eventId),
    uniqueIndex("event_deliveries_endpoint_conference_event_uq").on(t.endpointId, t.conferenceEventId),
    index("event_deliveries_conference_idx").on(t.conferenceSlug, t.id),
    index("event_deliveries_due_idx").on(t.status, t.nextAttemptAt),
  ],
);

/**
 * The ledger outbox (SPEC §9 "Outbox"): one row per thing to tell QuickBooks about a payment or
 * credit note recorded here (`create` it, or `void` it). Written in the D1 batch of the change it
 * reports, so a recorded payment can never miss its push; worked by the SYNC_QUEUE consumer
 * (src/ledger/push.ts), re-driven by the 15-minute cron when its queue message was lost.
 * `attemptedAt`: a create request may have reached QuickBooks, so the next attempt looks the
 * counterpart up by its PrivateNote marker first. `generation` is part of the QBO `requestid`
 * and moves only on a manual retry of a failed push.
 */
export const ledgerOutbox = sqliteTable(
  "ledger_outbox",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    conferenceSlug: text("conference_slug").notNull(),
    purchaseOrderId: integer("purchase_order_id")
      .notNull()
      .references(() => purchaseOrders.id),
    kind: text("kind", { enum: LEDGER_PUSH_KINDS }).notNull(),
    rowId: integer("row_id").notNull(),
    action: text("action", { enum: LEDGER_PUSH_ACTIONS }).notNull(),
    state: text("state", { enum: OUTBOX_STATES }).notNull().default("pending"),
    generation: integer("generation").notNull().default(0),
    attempts: integer("attempts").notNull().default(0),
    attemptedAt: text("attempted_at"),
    /** Held by the push run working the entry (one run per entry at a time); expires if it dies. */
    leaseUntil: text("lease_until"),
    lastError: text("last_error"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("ledger_outbox_row_uq").on(t.kind, t.rowId, t.action),
    index("ledger_outbox_po_idx").on(t.purchaseOrderId, t.state, t.id),
    index("ledger_outbox_state_idx").on(t.conferenceSlug, t.state, t.updatedAt),
  ],
);
