/** The vocabularies of money rows, declared once: the D1 schema and the wire schemas import them. */
export const PAYMENT_METHODS = ["wire", "ach", "check", "stripe", "other"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** `manual`: recorded through the API; `qbo`: recorded by reconciliation from QuickBooks. */
export const PAYMENT_SOURCES = ["manual", "qbo"] as const;
export type PaymentSource = (typeof PAYMENT_SOURCES)[number];

export const QBO_ENVIRONMENTS = ["sandbox", "production"] as const;
export type QboEnvironment = (typeof QBO_ENVIRONMENTS)[number];
