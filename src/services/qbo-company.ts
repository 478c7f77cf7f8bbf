/**
 * What a QBO company is like, as far as invoicing cares: its home currency and whether
 * multicurrency is on (Preferences.CurrencyPrefs, qbo-api.md A8). Read once per realm and
 * remembered in D1, so invoicing costs no extra round trip after the first.
 */
import { z } from "zod";
import type { Db } from "../db/client";
import { findQboCompany, type QboCompanyRow, rememberQboCompany } from "../db/qbo-companies";
import { ApiError } from "../lib/errors";
import type { QboClient } from "../qbo/client";

const PreferencesEnvelope = z.object({
  Preferences: z.object({
    CurrencyPrefs: z
      .object({
        MultiCurrencyEnabled: z.boolean().nullish(),
        HomeCurrency: z.object({ value: z.string().regex(/^[A-Za-z]{3}$/) }).nullish(),
      })
      .nullish(),
  }),
});

/** The remembered settings, read from QBO when unknown or older than `maxAgeMs`. */
export async function qboCompany(
  db: Db,
  client: QboClient,
  realmId: string,
  maxAgeMs = Number.POSITIVE_INFINITY,
): Promise<QboCompanyRow> {
  const known = await findQboCompany(db, realmId);
  if (known && Date.now() - Date.parse(known.fetchedAt) < maxAgeMs) return known;
  const { Preferences } = await client.json(PreferencesEnvelope, { method: "GET", path: "preferences" });
  const row = {
    realmId,
    // A company that names no home currency is treated as a USD company without multicurrency
    // (QBO's default); the currency check below then refuses anything else before any write.
    homeCurrency: (Preferences.CurrencyPrefs?.HomeCurrency?.value ?? "USD").toUpperCase(),
    multicurrency: Preferences.CurrencyPrefs?.MultiCurrencyEnabled ?? false,
    fetchedAt: new Date().toISOString(),
  };
  await rememberQboCompany(db, row);
  return row;
}

/**
 * The currency an invoice of this conference is written in, or 409 `qbo_currency_unsupported`
 * when the company cannot take it: before anything is created in QBO.
 */
export function invoiceCurrency(company: QboCompanyRow, conferenceCurrency: string): { foreign: boolean } {
  if (conferenceCurrency === company.homeCurrency) return { foreign: false };
  if (!company.multicurrency) {
    throw new ApiError(
      "qbo_currency_unsupported",
      `The conference invoices in ${conferenceCurrency}, but QuickBooks company ${company.realmId} keeps its books in ${company.homeCurrency} and has multicurrency off. Turn multicurrency on in QuickBooks (Account and settings → Advanced → Currency), or invoice in ${company.homeCurrency}.`,
      { conferenceCurrency, homeCurrency: company.homeCurrency, realmId: company.realmId },
    );
  }
  return { foreign: true };
}
