/**
 * A realm's company settings: how far the emulated company is from a tidy sandbox. The defaults
 * are the hostile ones a real US company shows (Automated Sales Tax, custom transaction numbers,
 * no online payments, requestids forgotten after a while, `-07:00` timestamps...); a test turns
 * one behaviour off by name. One object per realm, read by the company model and the routes, so
 * later behaviours (payments, credit memos, CDC, limits) have one place to hang their switches.
 */

import type { RealmSettings, SettingsPatch } from "./control-api.ts";

const DEFAULTS: RealmSettings = {
  tax: { mode: "automated", ratePercent: 8.875 },
  homeCurrency: "USD",
  multicurrency: false,
  exchangeRates: { EUR: 1.08, GBP: 1.27, CAD: 0.73 },
  customTransactionNumbers: true,
  onlinePayments: false,
  requestIdRetentionSeconds: 300,
  pdfRequiresAcceptPdf: true,
  hideInactiveCustomers: true,
  autoApplyCredits: true,
  privateNoteQueryable: false,
  timestampOffset: "-07:00",
  cdcWindowDays: 30,
  cdcMaxObjects: 1000,
  webhookEchoes: true,
  monthlyReadCap: null,
  previousRefreshTokenGrace: true,
};

export const DEFAULT_SETTINGS: Readonly<RealmSettings> = Object.freeze(DEFAULTS);

/** The settings of one realm, with the version and instants QBO's Preferences entity shows. */
export class CompanySettings {
  #value: RealmSettings = structuredClone(DEFAULTS);
  #version = 0;
  readonly created = new Date().toISOString();
  #updated = this.created;

  constructor(patch: SettingsPatch = {}) {
    this.#merge(patch);
  }

  /** The current settings (a copy: change them with `update`). */
  get current(): RealmSettings {
    return structuredClone(this.#value);
  }

  /** Read-only view for the hot paths, without a copy. */
  get value(): Readonly<RealmSettings> {
    return this.#value;
  }

  /** SyncToken of the Preferences entity: bumped by every change. */
  get version(): number {
    return this.#version;
  }

  get updated(): string {
    return this.#updated;
  }

  /**
   * Partial merge: each key given replaces the current one, except that `tax` is replaced whole
   * and `exchangeRates` is merged per currency (setting EUR keeps GBP).
   */
  update(patch: SettingsPatch): RealmSettings {
    this.#merge(patch);
    this.#version++;
    this.#updated = new Date().toISOString();
    return this.current;
  }

  #merge(patch: SettingsPatch): void {
    const { exchangeRates, tax, ...scalars } = patch;
    const next: RealmSettings = { ...this.#value };
    for (const [key, value] of Object.entries(scalars)) {
      if (value !== undefined) (next as unknown as Record<string, unknown>)[key] = value;
    }
    if (tax !== undefined) next.tax = { ...tax };
    if (exchangeRates !== undefined) next.exchangeRates = { ...next.exchangeRates, ...exchangeRates };
    this.#value = next;
  }
}

const CURRENCY_NAMES: Record<string, string> = {
  USD: "United States Dollar",
  EUR: "Euro",
  GBP: "British Pound Sterling",
  CAD: "Canadian Dollar",
  AUD: "Australian Dollar",
  NZD: "New Zealand Dollar",
  CHF: "Swiss Franc",
  JPY: "Japanese Yen",
  INR: "Indian Rupee",
  MXN: "Mexican Peso",
  SEK: "Swedish Krona",
  DKK: "Danish Krone",
  NOK: "Norwegian Krone",
  SGD: "Singapore Dollar",
  ZAR: "South African Rand",
};

/** QBO's CurrencyRef: the code and its English name. */
export function currencyRef(code: string): { value: string; name: string } {
  return { value: code, name: CURRENCY_NAMES[code] ?? code };
}
