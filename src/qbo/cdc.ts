/**
 * Change Data Capture (qbo-api.md A3): `GET /v3/company/{realm}/cdc?entities=…&changedSince=…`
 * answers every object of those entities changed since then, full payloads grouped per entity
 * (`CDCResponse[].QueryResponse[]`), deleted ones as `{Id, status: "Deleted", MetaData}`.
 * Parsed tolerantly: an object we cannot read is counted and skipped, never fatal.
 */
import { z } from "zod";
import { qboEpochSeconds } from "./time";

const Id = z.union([z.string().min(1), z.number()]).transform(String);
const Linked = z
  .array(z.object({ TxnId: Id, TxnType: z.string() }).nullable().catch(null))
  .nullish()
  .catch(null)
  .transform((list) => (list ?? []).flatMap((t) => (t ? [t] : [])));

const CdcObject = z.object({
  Id: Id,
  status: z.string().nullish().catch(null),
  Active: z.boolean().nullish().catch(null),
  MetaData: z.object({ LastUpdatedTime: z.string().nullish() }).nullish().catch(null),
  LinkedTxn: Linked,
  Line: z
    .array(z.object({ LinkedTxn: Linked }).nullable().catch(null))
    .nullish()
    .catch(null),
  CustomerRef: z.object({ value: Id }).nullish().catch(null),
});

/** Intuit's CDC answer; `time` is the server's clock when it answered (the next checkpoint). */
export const CdcResponse = z.object({
  CDCResponse: z
    .array(
      z.object({
        QueryResponse: z.array(z.record(z.string(), z.unknown())).nullish(),
      }),
    )
    .default([]),
  time: z.string().nullish(),
});
export type CdcResponse = z.infer<typeof CdcResponse>;

export interface CdcChange {
  entity: string;
  id: string;
  deleted: boolean;
  /** Inactive (a customer merged away or made inactive). */
  inactive: boolean;
  /** QBO's LastUpdatedTime as epoch seconds, when given. */
  lastUpdated: number | null;
  /** Invoices this transaction is linked to (Payment and CreditMemo lines, top-level LinkedTxn). */
  invoiceIds: string[];
  customerId: string | null;
}

/** QBO answers at most this many objects per entity; a full list may have been cut short. */
export const CDC_MAX_OBJECTS = 1000;

/** Every change of the given entities in the answer, and whether any list may be truncated. */
export function changesOf(
  response: CdcResponse,
  entities: readonly string[],
): { changes: CdcChange[]; skipped: number; truncated: boolean } {
  const changes: CdcChange[] = [];
  let skipped = 0;
  let truncated = false;
  for (const block of response.CDCResponse) {
    for (const group of block.QueryResponse ?? []) {
      for (const entity of entities) {
        const list = group[entity];
        if (!Array.isArray(list)) continue;
        if (list.length >= CDC_MAX_OBJECTS) truncated = true;
        for (const item of list) {
          const parsed = CdcObject.safeParse(item);
          if (!parsed.success) {
            skipped++;
            continue;
          }
          const o = parsed.data;
          const linked = [...o.LinkedTxn, ...(o.Line ?? []).flatMap((l) => l?.LinkedTxn ?? [])];
          changes.push({
            entity,
            id: o.Id,
            deleted: o.status?.toLowerCase() === "deleted",
            inactive: o.Active === false,
            lastUpdated: qboEpochSeconds(o.MetaData?.LastUpdatedTime),
            invoiceIds: [...new Set(linked.filter((t) => t.TxnType === "Invoice").map((t) => t.TxnId))],
            customerId: o.CustomerRef?.value ?? null,
          });
        }
      }
    }
  }
  return { changes, skipped, truncated };
}
