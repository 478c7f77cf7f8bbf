/**
 * Named webhook receivers for the Worker's outgoing events (SPEC §12), so worker tests can point
 * an event endpoint at `<emulator>/__receiver/<name>`: each records what it is sent (headers,
 * raw body) and answers the statuses it was told to, in order, then 200. Not part of QBO.
 */

import { type EmulatorRequest, type HttpReply, json } from "./http.ts";

export const RECEIVER_PREFIX = "/__receiver/";

export interface ReceivedRequest {
  at: string;
  headers: Record<string, string>;
  body: string;
  /** The status this request was answered with. */
  status: number;
}

interface Receiver {
  statuses: number[];
  received: ReceivedRequest[];
}

export class Receivers {
  readonly #byName = new Map<string, Receiver>();

  #get(name: string): Receiver {
    let receiver = this.#byName.get(name);
    if (!receiver) {
      receiver = { statuses: [], received: [] };
      this.#byName.set(name, receiver);
    }
    return receiver;
  }

  /** The next answers, in order; once used up, every request gets 200. */
  configure(name: string, statuses: number[]): void {
    this.#get(name).statuses = [...statuses];
  }

  received(name: string): ReceivedRequest[] {
    return this.#get(name).received;
  }

  receive(name: string, request: EmulatorRequest): HttpReply {
    const receiver = this.#get(name);
    const status = receiver.statuses.shift() ?? 200;
    receiver.received.push({
      at: new Date().toISOString(),
      headers: Object.fromEntries(request.headers.entries()),
      body: request.body,
      status,
    });
    return json(status, { received: status >= 200 && status < 300 });
  }
}
