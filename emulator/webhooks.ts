/**
 * Outgoing webhook deliveries, the way Intuit makes them (qbo-api.md A2, Part B 2-3):
 *
 * - events go into one ordered queue per endpoint and leave in batches: up to 100 events per
 *   POST, of several realms (classic `eventNotifications` grouped per realm, or a CloudEvents
 *   array);
 * - signed like Intuit's: `intuit-signature` = base64(HMAC-SHA256(raw body, verifier token));
 * - `Content-Type` `application/json`, `application/cloudevents+json` or none;
 * - an attempt not answered 2xx within 3 seconds failed, and is retried on Intuit's schedule
 *   (0 s, 10 s, 20 s, 30 s, 5 min, 20 min, 2 h, 4 h, 6 h, then every 6 h, no end) with the same
 *   body; until it is acknowledged, later events wait behind it (head-of-line blocking);
 * - CloudEvents verbs created/updated/deleted/emailed/merged, void as `voided` or `void`, and
 *   `data` with content where Intuit's samples have it.
 *
 * Each behaviour has a switch in the target configuration (`PUT /__control/webhook`), and
 * `retryTimeScale` compresses the schedule for tests and chaos runs. Every attempt is logged.
 */

import type { WebhookDelivery } from "./control-api.ts";
import type { ChangeOperation } from "./qbo/cdc.ts";
import { base64 } from "./random.ts";

export type WebhookFormat = "classic" | "cloudevents";
export type WebhookContentType = "application/json" | "application/cloudevents+json" | "none";

export interface WebhookTarget {
  url: string;
  verifierToken: string;
  format: WebhookFormat;
  /** Default: `application/json` for classic, `application/cloudevents+json` for CloudEvents. */
  contentType?: WebhookContentType | undefined;
  /** Events per POST, at most 100 (Intuit's CloudEvents limit). */
  maxEventsPerPost?: number | undefined;
  /** "many" (default): one POST may carry several realms; "one": a POST per realm. */
  realmsPerPost?: "many" | "one" | undefined;
  /** An attempt not answered within this fails (Intuit: 3000). Not scaled. */
  timeoutMs?: number | undefined;
  /** Multiplies the retry delays (1 = Intuit's real schedule; 0.001 turns 10 s into 10 ms). */
  retryTimeScale?: number | undefined;
  /** false: one attempt per batch, nothing retried. */
  retries?: boolean | undefined;
  /** true (default): nothing newer is sent while a batch waits to be acknowledged. */
  headOfLineBlocking?: boolean | undefined;
  /** How long the first queued event waits for others before a POST leaves (default 0). */
  batchWindowMs?: number | undefined;
  /** The CloudEvents void verb: "voided", "void", or "alternate" between them (default). */
  voidVerb?: "voided" | "void" | "alternate" | undefined;
}

/** One change of one entity in one realm, to announce. */
export interface WebhookEvent {
  realmId: string;
  entity: string;
  id: string;
  operation: ChangeOperation;
  /** LastUpdatedTime, epoch ms. */
  at: number;
  deletedId?: string | undefined;
}

/**
 * Intuit's retry intervals after a failed attempt (blogs.intuit.com 2025-10-14 "Introducing
 * enhanced webhooks monitoring"; the webhooks best-practices page lists the same without 0 s),
 * then every 6 hours with no stated end.
 */
export const RETRY_DELAYS_MS = [
  0, 10_000, 20_000, 30_000, 300_000, 1_200_000, 7_200_000, 14_400_000, 21_600_000,
];
const LAST_DELAY_MS = 21_600_000;
export const MAX_EVENTS_PER_POST = 100;
export const DEFAULT_TIMEOUT_MS = 3000;
const LOG_LIMIT = 5000;

const CLOUD_EVENT_VERBS: Record<ChangeOperation, string> = {
  Create: "created",
  Update: "updated",
  Delete: "deleted",
  Void: "voided",
  Emailed: "emailed",
  Merge: "merged",
};

interface Batch {
  events: WebhookEvent[];
  body: Uint8Array;
  text: string;
  signature: string;
  /** The verifier token `signature` was made with (a new target may bring another). */
  signedWith: string;
  contentType: string | undefined;
  attempts: number;
}

type Timer = ReturnType<typeof setTimeout>;

export class Webhooks {
  #target: WebhookTarget | undefined;
  #log: WebhookDelivery[] = [];
  #pending: WebhookEvent[] = [];
  /** Batches sent and not yet acknowledged (at most one with head-of-line blocking). */
  #outstanding = new Set<Batch>();
  #timers = new Set<Timer>();
  #pumpScheduled = false;
  #pumping = false;
  /** Bumped by `stop`, so work begun before it is dropped instead of finished. */
  #generation = 0;
  #voidCount = 0;
  #sequence = 0;
  /** Intuit's `source` is an opaque per-app `intuit.<hash>`. */
  readonly #source = `intuit.${base64(crypto.getRandomValues(new Uint8Array(32)))}`;

  /** A new target, or none (then queued and waiting events are dropped). */
  configure(target: WebhookTarget | undefined): void {
    this.#target = target;
    if (!target) this.stop();
  }

  get configured(): boolean {
    return this.#target !== undefined;
  }

  /** Drops everything queued or waiting for a retry. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    this.#pending = [];
    this.#outstanding.clear();
    this.#pumpScheduled = false;
    this.#generation++;
  }

  clearLog(): void {
    this.#log = [];
  }

  /** Attempts, oldest first; an attempt of a POST carrying several realms is listed once per realm. */
  deliveries(realmId?: string): WebhookDelivery[] {
    return realmId === undefined ? [...this.#log] : this.#log.filter((entry) => entry.realmId === realmId);
  }

  /** Events queued and not yet sent, and events sent but not yet acknowledged. */
  queue(): { pending: number; unacknowledged: number } {
    let unacknowledged = 0;
    for (const batch of this.#outstanding) unacknowledged += batch.events.length;
    return { pending: this.#pending.length, unacknowledged };
  }

  /** Queues events, in order; they leave after the batch window, behind anything unacknowledged. */
  publish(events: WebhookEvent[]): void {
    if (!this.#target || events.length === 0) return;
    this.#pending.push(...events);
    this.#schedulePump();
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    this.#later(this.#target?.batchWindowMs ?? 0, () => {
      this.#pumpScheduled = false;
      void this.#pump();
    });
  }

  /** Sends batches while events wait and nothing blocks them; one pump at a time keeps the order. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      for (;;) {
        const target = this.#target;
        if (!target || this.#pending.length === 0) return;
        if ((target.headOfLineBlocking ?? true) && this.#outstanding.size > 0) return;
        const generation = this.#generation;
        const batch = await this.#nextBatch(target);
        if (generation !== this.#generation) return; // stopped while signing
        this.#outstanding.add(batch);
        void this.#attempt(batch);
      }
    } finally {
      this.#pumping = false;
    }
  }

  async #nextBatch(target: WebhookTarget): Promise<Batch> {
    const max = Math.min(target.maxEventsPerPost ?? MAX_EVENTS_PER_POST, MAX_EVENTS_PER_POST);
    let events: WebhookEvent[];
    if ((target.realmsPerPost ?? "many") === "one") {
      const realmId = this.#pending[0]?.realmId;
      events = this.#pending.filter((event) => event.realmId === realmId).slice(0, max);
      const taken = new Set(events);
      this.#pending = this.#pending.filter((event) => !taken.has(event));
    } else {
      events = this.#pending.splice(0, max);
    }
    const text = JSON.stringify(
      target.format === "classic"
        ? classicBody(events)
        : events.map((event) => this.#cloudEvent(event, target)),
    );
    const contentType =
      target.contentType ??
      (target.format === "classic" ? "application/json" : "application/cloudevents+json");
    return {
      events,
      text,
      body: new TextEncoder().encode(text),
      signature: await sign(text, target.verifierToken),
      signedWith: target.verifierToken,
      contentType: contentType === "none" ? undefined : contentType,
      attempts: 0,
    };
  }

  async #attempt(batch: Batch): Promise<void> {
    const target = this.#target;
    if (!target || !this.#outstanding.has(batch)) return;
    batch.attempts++;
    if (batch.signedWith !== target.verifierToken) {
      batch.signature = await sign(batch.text, target.verifierToken);
      batch.signedWith = target.verifierToken;
    }
    const headers: Record<string, string> = { "intuit-signature": batch.signature };
    if (batch.contentType) headers["content-type"] = batch.contentType;
    let status: number | null = null;
    let error: string | undefined;
    try {
      const signal = AbortSignal.timeout(target.timeoutMs ?? DEFAULT_TIMEOUT_MS);
      // Bytes, not a string: fetch would otherwise add text/plain when no Content-Type is wanted.
      const response = await fetch(target.url, { method: "POST", headers, body: batch.body, signal });
      await response.arrayBuffer();
      status = response.status;
    } catch (caught) {
      error = caught instanceof Error ? `${caught.name}: ${caught.message}` : String(caught);
    }
    this.#record(batch, status, error);
    if (!this.#outstanding.has(batch)) return; // stopped meanwhile
    const acknowledged = status !== null && status >= 200 && status < 300;
    if (acknowledged || target.retries === false) {
      this.#outstanding.delete(batch);
      if (this.#pending.length > 0) this.#schedulePump();
      return;
    }
    const delay = RETRY_DELAYS_MS[batch.attempts - 1] ?? LAST_DELAY_MS;
    this.#later(delay * (target.retryTimeScale ?? 1), () => void this.#attempt(batch));
  }

  #record(batch: Batch, status: number | null, error: string | undefined): void {
    const realmIds = [...new Set(batch.events.map((event) => event.realmId))];
    const at = new Date().toISOString();
    for (const realmId of realmIds) {
      this.#log.push({
        realmId,
        realmIds,
        events: batch.events.length,
        attempt: batch.attempts,
        status,
        ...(error === undefined ? {} : { error }),
        body: batch.text,
        signature: batch.signature,
        contentType: batch.contentType ?? null,
        at,
      });
    }
    if (this.#log.length > LOG_LIMIT) this.#log.splice(0, this.#log.length - LOG_LIMIT);
  }

  /** A timer that never keeps the Node process alive (retries may be hours away). */
  #later(ms: number, task: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      task();
    }, ms);
    (timer as unknown as { unref?: () => void }).unref?.();
    this.#timers.add(timer);
  }

  /**
   * One CloudEvent as in Intuit's samples (the webhooks data-objects page, the .NET SDK test):
   * id `<uuid>-<Entity>-<id>`, nanosecond `time`; Create carries `data.alternative_ids`, Merge
   * `data.deletedid`, Update neither `data` nor `datacontenttype`, the others `data: {}`.
   */
  #cloudEvent(event: WebhookEvent, target: WebhookTarget): Record<string, unknown> {
    const sequence = ++this.#sequence;
    const cloudEvent: Record<string, unknown> = {
      specversion: "1.0",
      id: `${crypto.randomUUID()}-${event.entity}-${event.id}`,
      source: this.#source,
      type: `qbo.${event.entity.toLowerCase()}.${this.#verb(event.operation, target)}.v1`,
      datacontenttype: "application/json",
      time: nanoseconds(event.at, sequence),
      intuitentityid: event.id,
      intuitaccountid: event.realmId,
      data: {},
    };
    if (event.operation === "Create") {
      cloudEvent.data = {
        alternative_ids: [
          { id: `${opaqueId(event)}:${400_000_000 + Number(event.id)}`, namespace: "Intuit.sbseg.v4" },
        ],
      };
    } else if (event.operation === "Merge") {
      cloudEvent.data = { deletedid: event.deletedId ?? "" };
    } else if (event.operation === "Update") {
      delete cloudEvent.data;
      delete cloudEvent.datacontenttype;
    }
    return cloudEvent;
  }

  #verb(operation: ChangeOperation, target: WebhookTarget): string {
    if (operation !== "Void") return CLOUD_EVENT_VERBS[operation];
    const choice = target.voidVerb ?? "alternate";
    if (choice !== "alternate") return choice;
    return this.#voidCount++ % 2 === 0 ? "voided" : "void";
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

/** Classic: one `eventNotifications` entry per realm, in the order the realms first appear. */
function classicBody(events: WebhookEvent[]) {
  const byRealm = new Map<string, Array<Record<string, string>>>();
  for (const event of events) {
    const entities = byRealm.get(event.realmId) ?? [];
    entities.push({
      name: event.entity,
      id: event.id,
      operation: event.operation,
      lastUpdated: new Date(event.at).toISOString(),
      ...(event.deletedId === undefined ? {} : { deletedId: event.deletedId }),
    });
    byRealm.set(event.realmId, entities);
  }
  return {
    eventNotifications: [...byRealm].map(([realmId, entities]) => ({
      realmId,
      dataChangeEvent: { entities },
    })),
  };
}

/** `2025-09-10T21:31:25.179851517Z`: Intuit's CloudEvents `time` has nanoseconds. */
function nanoseconds(at: number, sequence: number): string {
  const iso = new Date(at).toISOString();
  return `${iso.slice(0, 23)}${String(sequence % 1_000_000).padStart(6, "0")}Z`;
}

function opaqueId(event: WebhookEvent): string {
  return btoa(`v4.1:${event.realmId}:${event.entity}`).replaceAll("=", "");
}
