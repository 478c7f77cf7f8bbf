/**
 * Outgoing webhook notifications, signed like Intuit's: `intuit-signature` is the base64
 * HMAC-SHA256 of the raw body keyed with the app's verifier token. One POST per event, one
 * attempt, every attempt logged.
 */

import type { WebhookDelivery } from "./control-api.ts";
import { base64 } from "./random.ts";

export type WebhookFormat = "classic" | "cloudevents";

export interface WebhookTarget {
  url: string;
  verifierToken: string;
  format: WebhookFormat;
}

export interface EntityChange {
  realmId: string;
  name: "Payment" | "Invoice" | "CreditMemo";
  id: string;
  operation: "Create" | "Update" | "Delete" | "Void" | "Emailed";
  lastUpdated: string;
}

const LOG_LIMIT = 5000;
const CLOUD_EVENT_VERBS: Record<EntityChange["operation"], string> = {
  Create: "created",
  Update: "updated",
  Delete: "deleted",
  Void: "voided",
  Emailed: "emailed",
};

export class Webhooks {
  #target: WebhookTarget | undefined;
  #log: WebhookDelivery[] = [];

  configure(target: WebhookTarget | undefined): void {
    this.#target = target;
  }

  get configured(): boolean {
    return this.#target !== undefined;
  }

  clearLog(): void {
    this.#log = [];
  }

  deliveries(realmId?: string): WebhookDelivery[] {
    return realmId === undefined ? [...this.#log] : this.#log.filter((entry) => entry.realmId === realmId);
  }

  /** Sends one notification; resolves once the receiver answered (or failed), never rejects. */
  async deliver(change: EntityChange): Promise<void> {
    const target = this.#target;
    if (!target) return;
    const body = JSON.stringify(target.format === "classic" ? classicBody(change) : cloudEventsBody(change));
    const signature = await sign(body, target.verifierToken);
    const entry: WebhookDelivery = {
      realmId: change.realmId,
      status: null,
      body,
      signature,
      at: new Date().toISOString(),
    };
    try {
      const response = await fetch(target.url, {
        method: "POST",
        headers: { "content-type": "application/json", "intuit-signature": signature },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      await response.arrayBuffer();
      entry.status = response.status;
    } catch (error) {
      entry.error = error instanceof Error ? error.message : String(error);
    }
    this.#log.push(entry);
    if (this.#log.length > LOG_LIMIT) this.#log.splice(0, this.#log.length - LOG_LIMIT);
  }
}

/** base64(HMAC-SHA256(body, verifierToken)), exactly what a receiver must recompute. */
export async function sign(body: string, verifierToken: string): Promise<string> {
  const encoder = new TextEncoder();
  const key = await crypto.subtle.importKey(
    "raw",
    encoder.encode(verifierToken),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = await crypto.subtle.sign("HMAC", key, encoder.encode(body));
  return base64(new Uint8Array(mac));
}

function classicBody(change: EntityChange) {
  return {
    eventNotifications: [
      {
        realmId: change.realmId,
        dataChangeEvent: {
          entities: [
            {
              name: change.name,
              id: change.id,
              operation: change.operation,
              lastUpdated: change.lastUpdated,
            },
          ],
        },
      },
    ],
  };
}

function cloudEventsBody(change: EntityChange) {
  return [
    {
      specversion: "1.0",
      id: crypto.randomUUID(),
      source: "intuit.com",
      type: `qbo.${change.name.toLowerCase()}.${CLOUD_EVENT_VERBS[change.operation]}.v1`,
      datacontenttype: "application/json",
      time: change.lastUpdated,
      intuitentityid: change.id,
      intuitaccountid: change.realmId,
      data: {},
    },
  ];
}
