/** Test harness: an emulator per test file, a control client, and a small QBO API client. */

import { afterAll, beforeAll } from "vitest";
import type { RealmTokens } from "../control-api.ts";
import { EmulatorControl } from "../control-client.ts";
import { type RunningEmulator, startEmulator } from "../server.ts";

export interface Harness {
  readonly url: string;
  readonly control: EmulatorControl;
  /** A new realm with a first grant, and an API client holding its access token. */
  realm(
    options?: Parameters<EmulatorControl["createRealm"]>[0],
  ): Promise<{ tokens: RealmTokens; qbo: QboClient }>;
}

/** Starts an emulator before the file's tests and stops it after. */
export function useEmulator(): Harness {
  let emulator: RunningEmulator | undefined;
  const harness = {
    get url(): string {
      if (!emulator) throw new Error("emulator not started");
      return emulator.url;
    },
    get control(): EmulatorControl {
      return new EmulatorControl(harness.url);
    },
    async realm(options = {}) {
      const tokens = await harness.control.createRealm(options);
      return { tokens, qbo: new QboClient(harness.url, tokens.realmId, tokens.accessToken) };
    },
  };
  beforeAll(async () => {
    emulator = await startEmulator();
  });
  afterAll(async () => {
    await emulator?.close();
  });
  return harness;
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON (QBO payloads are read loosely in tests), or the text. */
  body: any;
  text: string;
}

export class QboClient {
  readonly baseUrl: string;
  readonly realmId: string;
  accessToken: string;

  constructor(baseUrl: string, realmId: string, accessToken: string) {
    this.baseUrl = baseUrl;
    this.realmId = realmId;
    this.accessToken = accessToken;
  }

  async request(
    method: string,
    path: string,
    options: {
      body?: unknown;
      rawBody?: string;
      params?: Record<string, string>;
      contentType?: string;
      accept?: string;
    } = {},
  ): Promise<ApiResponse> {
    const url = new URL(`${this.baseUrl}/v3/company/${this.realmId}${path}`);
    url.searchParams.set("minorversion", "75");
    for (const [name, value] of Object.entries(options.params ?? {})) url.searchParams.set(name, value);
    const headers: Record<string, string> = { accept: options.accept ?? "application/json" };
    if (this.accessToken !== "") headers.authorization = `Bearer ${this.accessToken}`;
    let body: string | undefined = options.rawBody;
    if (options.body !== undefined) body = JSON.stringify(options.body);
    if (body !== undefined) headers["content-type"] = options.contentType ?? "application/json";
    const response = await fetch(url, { method, headers, body });
    return readResponse(response);
  }

  get(path: string, params?: Record<string, string>): Promise<ApiResponse> {
    return this.request("GET", path, { params });
  }

  post(path: string, body: unknown, params?: Record<string, string>): Promise<ApiResponse> {
    return this.request("POST", path, { body, params });
  }

  /** The invoice's PDF, asked for as QBO wants it (Accept: application/pdf). */
  pdf(invoiceId: string): Promise<ApiResponse> {
    return this.request("GET", `/invoice/${invoiceId}/pdf`, { accept: "application/pdf" });
  }

  query(query: string): Promise<ApiResponse> {
    return this.get("/query", { query });
  }

  async customer(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    const response = await this.post("/customer", { DisplayName: name, ...extra });
    if (response.status !== 200) throw new Error(`customer: ${response.text}`);
    return response.body.Customer.Id;
  }

  /** An invoice of one line per [qty, unitPrice, amount]. */
  async invoice(customerId: string, lines: Array<[number, number, number]>, params?: Record<string, string>) {
    return this.post(
      "/invoice",
      {
        CustomerRef: { value: customerId },
        Line: lines.map(([qty, unitPrice, amount], index) => ({
          DetailType: "SalesItemLineDetail",
          Amount: amount,
          Description: `Line ${index + 1}`,
          SalesItemLineDetail: { Qty: qty, UnitPrice: unitPrice },
        })),
      },
      params,
    );
  }
}

export async function readResponse(response: Response): Promise<ApiResponse> {
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Basic auth header for the default test client. */
export function basic(clientId = "test-client-id", secret = "test-client-secret"): string {
  return `Basic ${btoa(`${clientId}:${secret}`)}`;
}
