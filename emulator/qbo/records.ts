/** The company's records as the emulator stores them: money in integer cents, ids as strings. */

import type { Quantity } from "./money.ts";

export interface CustomerRecord {
  id: string;
  syncToken: number;
  displayName: string;
  companyName?: string;
  givenName?: string;
  familyName?: string;
  email?: string;
  phone?: string;
  notes?: string;
  billAddr?: Record<string, string>;
  active: boolean;
  /** ISO 4217; set at creation only. */
  currency: string;
  created: string;
  updated: string;
}

/** A vendor or an employee: only their names matter here, as they share customers' name space. */
export interface NameListRecord {
  id: string;
  syncToken: number;
  kind: "Vendor" | "Employee";
  displayName: string;
  active: boolean;
  created: string;
  updated: string;
}

export interface InvoiceLineRecord {
  description?: string;
  amountCents: number;
  qty?: Quantity;
  unitPriceCents?: number;
  itemRef: { value: string; name: string };
  /** TaxCodeRef as sent, else the company's default ("TAX" with automated tax, "NON" without). */
  taxCode?: string;
}

export type InvoiceState = "open" | "voided" | "deleted";

export interface InvoiceRecord {
  id: string;
  syncToken: number;
  /** Absent with custom transaction numbers on, unless the request sent one. */
  docNumber?: string;
  txnDate: string;
  dueDate: string;
  customerId: string;
  lines: InvoiceLineRecord[];
  /** TxnTaxDetail.TotalTax. */
  taxCents: number;
  /** Σ lines + tax. */
  totalCents: number;
  balanceCents: number;
  currency: string;
  /** Home units per 1 invoice unit, fixed at creation; set only in multicurrency companies. */
  exchangeRate?: number;
  allowOnlineCard: boolean;
  allowOnlineAch: boolean;
  customerMemo?: string;
  privateNote?: string;
  billEmail?: string;
  emailStatus: "NotSet" | "NeedToSend" | "EmailSent";
  deliveryTime?: string;
  state: InvoiceState;
  /** Payments applied to it, in order (QBO's LinkedTxn). */
  paymentIds: string[];
  invoiceLink: string;
  created: string;
  updated: string;
}

/**
 * One payment line: it links an invoice (the amount applied to it, cash and credit together) or
 * a credit memo (the amount of credit used), or nothing (an unapplied amount).
 */
export interface PaymentLineRecord {
  amountCents: number;
  invoiceId?: string;
  creditMemoId?: string;
}

/** A reference as QBO writes it, e.g. PaymentMethodRef `{value: "1", name: "Cash"}`. */
export interface RefRecord {
  value: string;
  name?: string;
}

export interface PaymentRecord {
  id: string;
  syncToken: number;
  txnDate: string;
  customerId: string;
  /** The cash received: Σ invoice lines − Σ credit memo lines + what is left unapplied. */
  totalCents: number;
  lines: PaymentLineRecord[];
  privateNote?: string;
  paymentRefNum?: string;
  paymentMethod?: RefRecord;
  depositToAccount?: RefRecord;
  /** The customer's currency. */
  currency: string;
  /** Home units per 1 payment unit; set only in multicurrency companies. */
  exchangeRate?: number;
  /** Voided: still readable, every amount 0, linked to nothing. */
  voided: boolean;
  deleted: boolean;
  /** QBO's own zero-amount payment linking a credit to a charge ("Automatically apply credits"). */
  auto: boolean;
  created: string;
  updated: string;
}

export interface CreditMemoRecord {
  id: string;
  syncToken: number;
  docNumber?: string;
  txnDate: string;
  customerId: string;
  lines: InvoiceLineRecord[];
  taxCents: number;
  /** Σ lines + tax. */
  totalCents: number;
  /** TotalAmt − the credit used by live payments. */
  remainingCents: number;
  currency: string;
  exchangeRate?: number;
  customerMemo?: string;
  privateNote?: string;
  billEmail?: string;
  state: InvoiceState;
  /** Payments using this credit, in order (its LinkedTxn). */
  paymentIds: string[];
  created: string;
  updated: string;
}

export type QueryRow = CustomerRecord | InvoiceRecord | PaymentRecord | CreditMemoRecord;

/** QBO uses the company's default item when a sales line names none. */
export const DEFAULT_ITEM = { value: "1", name: "Services" };
