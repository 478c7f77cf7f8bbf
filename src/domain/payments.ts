/** The vocabularies of money rows, declared once: the D1 schema and the wire schemas import them. */
export const PAYMENT_METHODS = ["wire", "ach", "check", "stripe", "other"] as const;
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];

/** `manual`: recorded through the API; `qbo`: recorded by reconciliation from QuickBooks. */
export const PAYMENT_SOURCES = ["manual", "qbo"] as const;
export type PaymentSource = (typeof PAYMENT_SOURCES)[number];

export const QBO_ENVIRONMENTS = ["sandbox", "production"] as const;
export type QboEnvironment = (typeof QBO_ENVIRONMENTS)[number];

/**
 * Where a money row stands with QuickBooks (SPEC §9): `pending` while the outbox has not pushed
 * it, `synced` once it has a QBO counterpart (always, for rows that came from QBO), `failed`
 * when the push gave up (listed in the sync status, retryable).
 */
export const QBO_PUSH_STATES = ["pending", "synced", "failed"] as const;
export type QboPushState = (typeof QBO_PUSH_STATES)[number];
