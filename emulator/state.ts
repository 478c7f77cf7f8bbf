/**
 * Everything one emulator instance remembers: the OAuth server, the realms, the webhook
 * target and which realm the consent page connects. `reset` returns to the start-up state.
 */

import { OAuthServer } from "./auth.ts";
import type { ChangeEntry } from "./qbo/cdc.ts";
import { randomRealmId } from "./random.ts";
import { Realm, type RealmOptions } from "./realm.ts";
import { Receivers } from "./receiver.ts";
import { Webhooks, type WebhookTarget } from "./webhooks.ts";

export interface EmulatorStateOptions {
  /** Webhook target configured at start-up (the CLI's --webhook-url); restored by reset. */
  webhook?: WebhookTarget;
}

export class EmulatorState {
  readonly #options: EmulatorStateOptions;
  oauth = new OAuthServer();
  realms = new Map<string, Realm>();
  webhooks = new Webhooks();
  receivers = new Receivers();
  #consentRealm: string | undefined;
  #consentRealmByClient = new Map<string, string>();

  constructor(options: EmulatorStateOptions = {}) {
    this.#options = options;
    this.reset();
  }

  reset(): void {
    this.webhooks.stop();
    this.oauth = new OAuthServer();
    this.realms = new Map();
    this.webhooks = new Webhooks();
    this.receivers = new Receivers();
    this.webhooks.configure(this.#options.webhook);
    this.#consentRealm = undefined;
    this.#consentRealmByClient = new Map();
  }

  /**
   * Creates the company, or returns it when it exists (so set-up scripts can be re-run); given
   * settings are applied over the defaults, or over an existing realm's settings.
   */
  ensureRealm(realmId: string | undefined, options: RealmOptions = {}): Realm {
    const id = realmId ?? this.#unusedRealmId();
    const existing = this.realms.get(id);
    if (existing) {
      if (options.companyName) existing.companyName = options.companyName;
      existing.ttls = { ...existing.ttls, ...dropUndefined(options.ttls ?? {}) };
      if (options.settings) existing.settings.update(options.settings);
      return existing;
    }
    const realm = new Realm(id, options);
    this.realms.set(id, realm);
    return realm;
  }

  /**
   * Logs what the last write changed in the realm's company (CDC reads the log) and, when
   * `notify`, announces it by webhook. API writes pass `echo: true`: they are announced too
   * unless the realm's `webhookEchoes` is off (real QBO sends the app its own changes).
   */
  publishChanges(realm: Realm, options: { notify?: boolean; echo?: boolean }): ChangeEntry[] {
    const changes = realm.changes.observe(realm.company);
    const notify = options.notify ?? (options.echo === true && realm.settings.value.webhookEchoes);
    if (notify) this.announce(realm, changes);
    return changes;
  }

  /** Queues webhook events for changes of the realm (nothing when no target is configured). */
  announce(realm: Realm, changes: ChangeEntry[]): void {
    if (!this.webhooks.configured || changes.length === 0) return;
    realm.stats.webhookSent(changes.length);
    this.webhooks.publish(changes.map((change) => ({ realmId: realm.id, ...change })));
  }

  setConsentRealm(realmId: string | null, clientId?: string): void {
    if (clientId === undefined) this.#consentRealm = realmId ?? undefined;
    else if (realmId === null) this.#consentRealmByClient.delete(clientId);
    else this.#consentRealmByClient.set(clientId, realmId);
  }

  /** The realm the consent page offers: per-client, else global, else a company yet to create. */
  consentRealmFor(clientId: string): string {
    return this.#consentRealmByClient.get(clientId) ?? this.#consentRealm ?? this.#unusedRealmId();
  }

  #unusedRealmId(): string {
    let id = randomRealmId();
    while (this.realms.has(id)) id = randomRealmId();
    return id;
  }
}

function dropUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as Partial<T>;
}
