/**
 * Named webhook receivers for the Worker's outgoing events (SPEC §12), so worker tests can point
 * an event endpoint at `<emulator>/__receiver/<name>`: each records what it is sent (headers,
 * raw body) and answers the statuses it was told to, in order, then 200. Not part of QBO.
 * A receiver can also be told to misbehave at random (seeded, so a chaos run replays): answer
 * 500 to a share of requests and hang past the sender's timeout on another share, at most
 * `maxFailuresPerId` times for one `webhook-id` (a bounded tail keeps a chaos run short).
 */

import { sleep } from "./faults.ts";
import { type EmulatorRequest, type HttpReply, json } from "./http.ts";
import { mulberry32 } from "./random.ts";

export const RECEIVER_PREFIX = "/__receiver/";

export interface ReceivedRequest {
  at: string;
  headers: Record<string, string>;
  body: string;
  /** The status this request was answered with. */
  status: number;
  /** Answered only after `hangMs`: the sender had given up (a timeout, not a delivery). */
  hung?: true;
}

export interface ReceiverChaos {
  seed: number;
  /** Share of requests answered 500. */
  failRate: number;
  /** Share of requests answered (200) only after `hangMs`. */
  hangRate: number;
  hangMs: number;
  /** After this many failures (500 or hang) for one `webhook-id`, it is answered 200 at once. */
  maxFailuresPerId: number;
  /** At most this many hangs in all (unlimited when absent). */
  maxHangs?: number | undefined;
}

interface Receiver {
  statuses: number[];
  received: ReceivedRequest[];
  chaos: { config: ReceiverChaos; next: () => number; failures: Map<string, number>; hangs: number } | null;
}

export class Receivers {
  readonly #byName = new Map<string, Receiver>();

  #get(name: string): Receiver {
    let receiver = this.#byName.get(name);
    if (!receiver) {
      receiver = { statuses: [], received: [], chaos: null };
      this.#byName.set(name, receiver);
    }
    return receiver;
  }

  /** The next answers, in order; once used up, every request gets 200 (or `chaos` decides). */
  configure(name: string, statuses: number[], chaos?: ReceiverChaos): void {
    const receiver = this.#get(name);
    receiver.statuses = [...statuses];
    receiver.chaos = chaos
      ? { config: chaos, next: mulberry32(chaos.seed), failures: new Map(), hangs: 0 }
      : null;
  }

  received(name: string): ReceivedRequest[] {
    return this.#get(name).received;
  }

  async receive(name: string, request: EmulatorRequest): Promise<HttpReply> {
    const receiver = this.#get(name);
    const told = receiver.statuses.shift();
    const misbehave = told === undefined ? this.#chaos(receiver, request) : "ok";
    const status = told ?? (misbehave === "fail" ? 500 : 200);
    const record: ReceivedRequest = {
      at: new Date().toISOString(),
      headers: Object.fromEntries(request.headers.entries()),
      body: request.body,
      status,
      ...(misbehave === "hang" ? { hung: true as const } : {}),
    };
    receiver.received.push(record);
    if (misbehave === "hang" && receiver.chaos) await sleep(receiver.chaos.config.hangMs);
    return json(status, { received: status >= 200 && status < 300 });
  }

  #chaos(receiver: Receiver, request: EmulatorRequest): "ok" | "fail" | "hang" {
    const chaos = receiver.chaos;
    if (!chaos) return "ok";
    const id = request.headers.get("webhook-id") ?? "";
    const failed = chaos.failures.get(id) ?? 0;
    const roll = chaos.next();
    if (failed >= chaos.config.maxFailuresPerId) return "ok";
    const hangsLeft = chaos.hangs < (chaos.config.maxHangs ?? Number.POSITIVE_INFINITY);
    const outcome =
      roll < chaos.config.failRate
        ? "fail"
        : roll < chaos.config.failRate + chaos.config.hangRate && hangsLeft
          ? "hang"
          : "ok";
    if (outcome === "hang") chaos.hangs++;
    if (outcome !== "ok") chaos.failures.set(id, failed + 1);
    return outcome;
  }
}
