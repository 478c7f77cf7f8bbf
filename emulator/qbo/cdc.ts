/**
 * The company's change log and QBO's Change Data Capture endpoint built on it.
 *
 * The log is generic: after every write (API or control), `observe` compares each tracked
 * record's SyncToken and state with what it saw last and appends one entry per changed record
 * (Create, Update, Void, Delete, Emailed). So every write path of the company model, present or
 * future (a payment lowering an invoice's balance, a credit applied by QBO itself), lands in
 * the log without the model having to announce it: a new entity kind only needs a line in
 * `TRACKED`. Webhooks (echoes included) and CDC both read from here.
 *
 * CDC (qbo-api.md A3, S16; Intuit's ChangeDataCapture reference): `GET /cdc?entities=A,B&
 * changedSince=<ISO>` → `{"CDCResponse":[{"QueryResponse":[{"A":[…],"startPosition":1,
 * "maxResults":n}, …]}],"time"}`, full payloads, deleted objects as `{status:"Deleted",
 * domain:"QBO", Id, MetaData:{LastUpdatedTime}}` after the live ones of their group, a look-back
 * of 30 days and at most 1000 objects per response.
 */

import { type EmulatorRequest, type HttpReply, QboFault, qboJson } from "../http.ts";
import type { Realm } from "../realm.ts";
import { formatInstant } from "../time.ts";
import type { Company } from "./company.ts";
import { creditMemoJson, customerJson, invoiceJson, paymentJson } from "./render.ts";

export type ChangeOperation = "Create" | "Update" | "Delete" | "Void" | "Emailed" | "Merge";

/** One change of one entity: what the log keeps, and what a webhook event is made from. */
export interface ChangeEntry {
  /** QBO's entity name, e.g. "Invoice". */
  entity: string;
  id: string;
  operation: ChangeOperation;
  /** The entity's LastUpdatedTime (epoch ms). */
  at: number;
  deleted: boolean;
  /** For a Merge: the id merged away into `id`. */
  deletedId?: string;
}

type Json = Record<string, unknown>;

/** What the log needs to know of a record, whatever its kind. */
interface TrackedRecord {
  id: string;
  syncToken: number;
  updated: string;
}

interface TrackedEntity {
  name: string;
  records(company: Company): Iterable<TrackedRecord>;
  render(record: TrackedRecord, company: Company): Json;
}

/**
 * Every entity the log follows and CDC serves. Records say their state in one of two ways:
 * `state` ("open" | "voided" | "deleted") or `deleted` / `voided` flags.
 */
const TRACKED: TrackedEntity[] = [
  {
    name: "Customer",
    records: (company) => company.customers(),
    render: (record, company) => customerJson(record as Parameters<typeof customerJson>[0], company),
  },
  {
    name: "Invoice",
    records: (company) => company.invoices(),
    render: (record, company) =>
      invoiceJson(record as Parameters<typeof invoiceJson>[0], company, { invoiceLink: false }),
  },
  {
    name: "Payment",
    records: (company) => company.payments(),
    render: (record, company) => paymentJson(record as Parameters<typeof paymentJson>[0], company),
  },
  {
    name: "CreditMemo",
    records: (company) => company.creditMemos(),
    render: (record, company) => creditMemoJson(record as Parameters<typeof creditMemoJson>[0], company),
  },
];

/** Entities Intuit's CDC refuses (S16). */
const CDC_UNSUPPORTED = new Set(["journalcode", "taxagency", "timeactivity", "taxcode", "taxrate"]);

type RecordState = "open" | "voided" | "deleted";

function stateOf(record: TrackedRecord): RecordState {
  const flags = record as unknown as { state?: string; deleted?: boolean; voided?: boolean };
  if (flags.state === "deleted" || flags.deleted === true) return "deleted";
  if (flags.state === "voided" || flags.voided === true) return "voided";
  return "open";
}

function emailedOf(record: TrackedRecord): boolean {
  return (record as unknown as { emailStatus?: string }).emailStatus === "EmailSent";
}

interface Seen {
  syncToken: number;
  state: RecordState;
  emailed: boolean;
}

const DAY_MS = 86_400_000;
/** Entries are kept a little longer than any CDC window may reach back. */
const KEEP_MS = 40 * DAY_MS;

export class ChangeLog {
  readonly #seen = new Map<string, Seen>();
  /** Oldest first. */
  #entries: ChangeEntry[] = [];

  /**
   * Compares the company with what was seen last and logs every change since, oldest first.
   * Returns the new entries (what webhooks then announce).
   */
  observe(company: Company): ChangeEntry[] {
    const fresh: ChangeEntry[] = [];
    for (const tracked of TRACKED) {
      for (const record of tracked.records(company)) {
        const key = `${tracked.name}:${record.id}`;
        const before = this.#seen.get(key);
        if (before && before.syncToken === record.syncToken) continue;
        const now: Seen = { syncToken: record.syncToken, state: stateOf(record), emailed: emailedOf(record) };
        this.#seen.set(key, now);
        fresh.push({
          entity: tracked.name,
          id: record.id,
          operation: operationOf(before, now),
          at: Date.parse(record.updated),
          deleted: now.state === "deleted",
        });
      }
    }
    fresh.sort((a, b) => a.at - b.at);
    this.#append(fresh);
    return fresh;
  }

  /** Logs a change the company model does not make itself (e.g. a Merge from the control API). */
  record(entry: ChangeEntry): void {
    this.#append([entry]);
  }

  /** Entries at or after `since` (epoch ms), oldest first. */
  since(since: number): ChangeEntry[] {
    return this.#entries.filter((entry) => entry.at >= since);
  }

  #append(entries: ChangeEntry[]): void {
    if (entries.length === 0) return;
    this.#entries.push(...entries);
    const horizon = Date.now() - KEEP_MS;
    if ((this.#entries[0]?.at ?? horizon) < horizon) {
      this.#entries = this.#entries.filter((entry) => entry.at >= horizon);
    }
  }
}

function operationOf(before: Seen | undefined, now: Seen): ChangeOperation {
  if (now.state === "deleted") return "Delete";
  if (!before) return "Create";
  if (now.state === "voided" && before.state !== "voided") return "Void";
  if (now.emailed && !before.emailed) return "Emailed";
  return "Update";
}

// ---- the CDC endpoint --------------------------------------------------------------------------

/** What the API router needs of a route (structurally api.ts's ApiRoute). */
export interface CdcRoute {
  operation: "cdc";
  write: false;
  run(realm: Realm): HttpReply;
}

/** `GET /v3/company/{realm}/cdc?entities=…&changedSince=…`: counted as a read, operation "cdc". */
export function cdcRoute(request: EmulatorRequest): CdcRoute {
  return {
    operation: "cdc",
    write: false,
    run: (realm) => changeDataCapture(realm, request.url.searchParams),
  };
}

function changeDataCapture(realm: Realm, params: URLSearchParams): HttpReply {
  const settings = realm.settings.value;
  const offset = settings.timestampOffset;
  const names = parseEntities(params.get("entities"));
  const since = parseChangedSince(params.get("changedSince"), offset);
  const windowMs = settings.cdcWindowDays * DAY_MS;
  if (since < Date.now() - windowMs) throw tooOld(params.get("changedSince") ?? "");
  realm.changes.observe(realm.company);

  const latest = new Map<string, ChangeEntry>();
  for (const entry of realm.changes.since(since)) latest.set(`${entry.entity}:${entry.id}`, entry);

  let budget = settings.cdcMaxObjects;
  const groups = names.map((name) => {
    const tracked = TRACKED.find((candidate) => candidate.name.toLowerCase() === name.toLowerCase());
    if (!tracked || budget <= 0) return {};
    const records = new Map<string, TrackedRecord>();
    for (const record of tracked.records(realm.company)) records.set(record.id, record);
    const live: Array<{ at: number; json: Json }> = [];
    const deleted: Array<{ at: number; json: Json }> = [];
    for (const entry of latest.values()) {
      if (entry.entity !== tracked.name) continue;
      const record = records.get(entry.id);
      if (!record) continue;
      const at = Date.parse(record.updated);
      if (stateOf(record) === "deleted") {
        deleted.push({ at, json: deletedJson(record, offset) });
      } else {
        live.push({ at, json: tracked.render(record, realm.company) });
      }
    }
    const ordered = [...live.sort(byTime), ...deleted.sort(byTime)].slice(0, budget);
    budget -= ordered.length;
    if (ordered.length === 0) return {};
    return { [tracked.name]: ordered.map((item) => item.json), startPosition: 1, maxResults: ordered.length };
  });
  return qboJson(200, { CDCResponse: [{ QueryResponse: groups }] }, { offset });
}

function byTime(a: { at: number }, b: { at: number }): number {
  return a.at - b.at;
}

/** A deleted object in CDC: only its Id and when it was deleted (Intuit's sample). */
function deletedJson(record: TrackedRecord, offset: string): Json {
  return {
    status: "Deleted",
    domain: "QBO",
    Id: record.id,
    MetaData: { LastUpdatedTime: formatInstant(record.updated, offset, { millis: false }) },
  };
}

function parseEntities(value: string | null): string[] {
  const names = (value ?? "")
    .split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  if (names.length === 0) {
    throw new QboFault({
      code: "2020",
      message: "Required param missing, need to supply the required value for the API",
      detail: "Required parameter entities is missing in the request",
      element: "entities",
    });
  }
  const refused = names.find((name) => CDC_UNSUPPORTED.has(name.toLowerCase()));
  if (refused) {
    throw new QboFault({
      code: "2010",
      message: "Request has invalid or unsupported property",
      detail: `Property Name:entities Operation cdc is not supported for ${refused}`,
      element: "entities",
    });
  }
  return names;
}

/** An ISO date (midnight in the company's offset) or date-time. */
function parseChangedSince(value: string | null, offset: string): number {
  const text = (value ?? "").trim();
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(text);
  const ms = Date.parse(dateOnly ? `${text}T00:00:00${offset === "Z" ? "Z" : offset}` : text);
  if (text === "" || Number.isNaN(ms)) {
    throw new QboFault({
      code: text === "" ? "2020" : "2010",
      message:
        text === ""
          ? "Required param missing, need to supply the required value for the API"
          : "Request has invalid or unsupported property",
      detail: `Property Name:changedSince ${text === "" ? "is missing" : `"${text}" is not a date or date-time`}`,
      element: "changedSince",
    });
  }
  return ms;
}

/**
 * Past the look-back window. The wording is the one a public client reported
 * (Wish-Org/QuickBooksSharp#19); the code is UNVERIFIED.
 */
function tooOld(changedSince: string): QboFault {
  return new QboFault({
    code: "2010",
    message: "Request has invalid or unsupported property",
    detail: `Operation cdc with changedSince date ${changedSince} which is older than fixed days is not supported.`,
    element: "changedSince",
  });
}
