/**
 * The emulator's tiny HTTP vocabulary: a buffered request, a reply (or a dropped connection),
 * and the bodies QBO and its gateway answer with. Route modules only build replies; the Node
 * adapter in node.ts writes them.
 */

import { intuitTid } from "./random.ts";
import { formatInstant } from "./time.ts";

export interface EmulatorRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: string;
}

export interface HttpReply {
  status: number;
  headers: Record<string, string>;
  body: string | Uint8Array;
}

/** Destroy the socket without answering: what a client sees when a connection is cut. */
export interface DropReply {
  drop: true;
}

export type Reply = HttpReply | DropReply;

/** Work to run once the response has been written (webhook deliveries). */
export interface RequestContext {
  afterResponse(task: () => Promise<void>): void;
}

export type Handler = (request: EmulatorRequest, context: RequestContext) => Promise<Reply>;

export const QBO_JSON = "application/json;charset=UTF-8";

export function isDrop(reply: Reply): reply is DropReply {
  return "drop" in reply;
}

export function json(status: number, body: unknown, headers: Record<string, string> = {}): HttpReply {
  return { status, headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) };
}

/** How a QBO JSON answer is stamped: extra headers, and the company's `timestampOffset`. */
export interface QboJsonOptions {
  headers?: Record<string, string>;
  /** "Z" (the default) or like "-07:00". */
  offset?: string;
}

/** A QBO API JSON body: QBO stamps every one with the server time, in the company's offset. */
export function qboJson(
  status: number,
  body: Record<string, unknown>,
  options: QboJsonOptions = {},
): HttpReply {
  const time = formatInstant(Date.now(), options.offset ?? "Z", { millis: true });
  return {
    status,
    headers: { "content-type": QBO_JSON, ...options.headers },
    body: JSON.stringify({ ...body, time }),
  };
}

export function html(status: number, body: string): HttpReply {
  return { status, headers: { "content-type": "text/html; charset=utf-8" }, body };
}

export function redirect(location: string): HttpReply {
  return { status: 302, headers: { location }, body: "" };
}

/** Adds the `intuit_tid` header every Intuit response carries. */
export function withIntuitTid(reply: HttpReply): HttpReply {
  return { ...reply, headers: { ...reply.headers, intuit_tid: intuitTid() } };
}

export function escapeHtml(text: string): string {
  return text
    .replaceAll("&", "&amp;")
    .replaceAll("<", "&lt;")
    .replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;")
    .replaceAll("'", "&#39;");
}

// ---- QBO faults ---------------------------------------------------------------------------

export type FaultType = "ValidationFault" | "SystemFault" | "SERVICE" | "AUTHENTICATION";

/** A QBO `Fault` error thrown by the company model and rendered by the API routes. */
export class QboFault extends Error {
  readonly status: number;
  readonly code: string;
  readonly detail: string;
  readonly element: string | undefined;
  readonly type: FaultType;

  constructor(fault: {
    status?: number;
    code: string;
    message: string;
    detail: string;
    element?: string;
    type?: FaultType;
  }) {
    super(fault.message);
    this.status = fault.status ?? 400;
    this.code = fault.code;
    this.detail = fault.detail;
    this.element = fault.element;
    this.type = fault.type ?? "ValidationFault";
  }

  toReply(offset = "Z"): HttpReply {
    const error: Record<string, string> = { Message: this.message, Detail: this.detail, code: this.code };
    if (this.element !== undefined) error.element = this.element;
    return qboJson(this.status, { Fault: { Error: [error], type: this.type } }, { offset });
  }
}

export const faults = {
  objectNotFound(entity: string, id: string) {
    return new QboFault({
      code: "610",
      message: "Object Not Found",
      detail: `Object Not Found : Something you're trying to use has been made inactive. Check the fields with accounts, customers, items, vendors or employees. (${entity} ${id})`,
    });
  },
  duplicateName() {
    return new QboFault({
      code: "6240",
      message: "Duplicate Name Exists Error",
      detail:
        "The name supplied already exists. : Another customer, vendor or employee is already using this name. Please use a different name.",
    });
  },
  staleSyncToken() {
    return new QboFault({
      code: "5010",
      message: "Stale Object Error",
      detail:
        "Stale Object Error : You and another user were working on this at the same time. They finished before you did, so your work was not saved.",
    });
  },
  invalidReference(element: string, id: string) {
    return new QboFault({
      code: "2500",
      message: "Invalid Reference Id",
      detail: `Invalid Reference Id : ${element} ${id} does not exist or has been made inactive.`,
      element,
    });
  },
  amountMismatch(suppliedCents: number) {
    return new QboFault({
      code: "6070",
      message: "Amount is not equal to UnitPrice * Qty",
      detail: `Amount is not equal to UnitPrice * Qty. Supplied value:${suppliedCents / 100}`,
    });
  },
  required(element: string) {
    return new QboFault({
      code: "2020",
      message: "Required param missing, need to supply the required value for the API",
      detail: `Required parameter ${element} is missing in the request`,
      element,
    });
  },
  invalid(element: string, reason: string) {
    return new QboFault({
      code: "2010",
      message: "Request has invalid or unsupported property",
      detail: `Property Name:${element} ${reason}`,
      element,
    });
  },
  business(detail: string) {
    return new QboFault({
      code: "6000",
      message: "A business validation error has occurred while processing your request",
      detail: `Business Validation Error: ${detail}`,
    });
  },
  /** Currency rules (multicurrency off, a currency the company lacks): the code is UNVERIFIED. */
  currency(detail: string) {
    return new QboFault({
      code: "6000",
      message: "A business validation error has occurred while processing your request",
      detail: `Business Validation Error: ${detail}`,
      element: "CurrencyRef",
    });
  },
  duplicateDocNumber(docNumber: string, invoiceId: string) {
    return new QboFault({
      code: "6140",
      message: "Duplicate Document Number Error",
      detail: `Duplicate Document Number Error : You must specify a different number. This number has already been used. DocNumber=${docNumber} is assigned to TxnType=Invoice with TxnId=${invoiceId}`,
    });
  },
  stringTooLong(element: string, max: number, length: number) {
    return new QboFault({
      code: "2050",
      message: "String length is either shorter or longer than supported by specification",
      detail: `String length specified does not match the supported length. Min:0 Max:${max} supplied length:${length}`,
      element,
    });
  },
  queryParser(detail: string) {
    return new QboFault({
      code: "4000",
      message: "Error parsing query",
      detail: `QueryParserError: ${detail}`,
    });
  },
  queryValidation(detail: string) {
    return new QboFault({
      code: "4001",
      message: "Invalid query",
      detail: `QueryValidationError: ${detail}`,
    });
  },
  unsupported(method: string, path: string) {
    return new QboFault({
      status: 404,
      code: "404",
      message: "Unsupported operation",
      detail: `The emulator does not model ${method} ${path}`,
    });
  },
  system() {
    return new QboFault({
      status: 500,
      code: "10000",
      type: "SystemFault",
      message: "An application error has occurred while processing your request",
      detail:
        "System Failure Error: An unexpected error occurred while accessing or saving your data. Please wait a few minutes and try again. If the problem persists, contact customer support.",
    });
  },
};

/**
 * Intuit's throttling answer (qbo-api.md A5: code "3001", not "003001"). Intuit only says "wait
 * 60 seconds", so there is no `Retry-After` unless a fault rule asks for one.
 */
export function throttled(retryAfterSeconds: number | undefined, offset = "Z"): HttpReply {
  return qboJson(
    429,
    {
      Fault: {
        Error: [
          {
            Message: "message=ThrottleExceeded; errorCode=003001; statusCode=429",
            Detail: "The request limit was reached. Try again later",
            code: "3001",
          },
        ],
        type: "SERVICE",
      },
    },
    {
      headers: retryAfterSeconds === undefined ? {} : { "retry-after": String(retryAfterSeconds) },
      offset,
    },
  );
}

/** The gateway's 401: note the lower-case keys, unlike every other QBO fault. */
export function authenticationFailed(detail: string, offset = "Z"): HttpReply {
  return qboJson(
    401,
    {
      fault: {
        error: [
          { message: "message=AuthenticationFailed; errorCode=003200; statusCode=401", detail, code: "3200" },
        ],
        type: "AUTHENTICATION",
      },
    },
    { offset },
  );
}

/** The gateway's 403 for a valid token of another company (lower-case keys as well). */
export function authorizationFailed(offset = "Z"): HttpReply {
  return qboJson(
    403,
    {
      fault: {
        error: [
          {
            message: "message=ApplicationAuthorizationFailed; errorCode=003100; statusCode=403",
            detail: "The access token is not authorized for this company",
            code: "3100",
          },
        ],
        type: "SERVICE",
      },
    },
    { offset },
  );
}

/** What an overloaded gateway in front of QBO answers: HTML, not JSON. */
export function gatewayPage(status: number): HttpReply {
  const title = status === 502 ? "Bad Gateway" : status === 504 ? "Gateway Timeout" : "Service Unavailable";
  return html(
    status,
    `<!DOCTYPE html><html><head><title>${status} ${title}</title></head><body><h1>${status} ${title}</h1><p>The server is temporarily unable to service your request.</p></body></html>`,
  );
}
