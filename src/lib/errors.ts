/**
 * The closed set of error codes of SPEC §3, each with its HTTP status. Services throw
 * `ApiError`; the one `onError` handler in app.ts renders it. Nothing else reaches the wire.
 */
import type { ContentfulStatusCode } from "hono/utils/http-status";

const ERROR_STATUS = {
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_json: 400,
  validation_failed: 400,
  invalid_state: 409,
  qbo_invoice_exists: 409,
  qbo_invoice_in_progress: 409,
  qbo_not_configured: 409,
  qbo_reconnect_required: 409,
  qbo_realm_change_blocked: 409,
  qbo_currency_unsupported: 409,
  qbo_api_error: 502,
  qbo_unavailable: 503,
  not_configured: 503,
  payload_too_large: 413,
  rate_limited: 429,
  idempotency_key_reused: 422,
  idempotency_key_in_use: 409,
  internal_error: 500,
} as const satisfies Record<string, ContentfulStatusCode>;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as [ErrorCode, ...ErrorCode[]];

export class ApiError extends Error {
  readonly code: ErrorCode;
  readonly details: unknown;

  constructor(code: ErrorCode, message: string, details?: unknown) {
    super(message);
    this.name = "ApiError";
    this.code = code;
    this.details = details;
  }

  get status(): ContentfulStatusCode {
    return ERROR_STATUS[this.code];
  }

  toBody(): { error: { code: ErrorCode; message: string; details?: unknown } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details === undefined ? {} : { details: this.details }),
      },
    };
  }
}

export const notFound = (what: string) => new ApiError("not_found", `${what} was not found.`);
