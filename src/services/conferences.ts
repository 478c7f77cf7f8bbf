import { connectionFor } from "../connections";
import type { ConnectionStatus, StoreTokensInput } from "../connections/types";
import type { Db } from "../db/client";
import {
  type ConferenceInput,
  type ConferenceRow,
  setConferenceRealm,
  upsertConference,
} from "../db/conferences";
import { log } from "../lib/log";
import { requireConference } from "./purchase-orders";

export interface ConferenceWithConnection {
  row: ConferenceRow;
  connection: ConnectionStatus;
}

/** Connection state for display. Reading it needs no encryption key, so it never fails for lack of one. */
export async function connectionStatus(env: Env, slug: string): Promise<ConnectionStatus> {
  return env.QBO_CONNECTIONS.getByName(slug).status();
}

export async function putConference(
  env: Env,
  db: Db,
  slug: string,
  input: ConferenceInput,
): Promise<ConferenceWithConnection & { created: boolean }> {
  const { row, created } = await upsertConference(db, slug, input, new Date().toISOString());
  return { row, created, connection: await connectionStatus(env, slug) };
}

export async function getConference(env: Env, db: Db, slug: string): Promise<ConferenceWithConnection> {
  const row = await requireConference(db, slug);
  return { row, connection: await connectionStatus(env, slug) };
}

/** Stores a grant in the conference's vault and records its realm on the conference. */
export async function storeTokens(
  env: Env,
  db: Db,
  slug: string,
  tokens: Omit<StoreTokensInput, "slug">,
): Promise<ConferenceWithConnection> {
  await requireConference(db, slug);
  const connection = await connectionFor(env, slug).store({ ...tokens, slug });
  await setConferenceRealm(db, slug, tokens.realmId, new Date().toISOString());
  return { row: await requireConference(db, slug), connection };
}

export async function disconnect(env: Env, db: Db, slug: string): Promise<void> {
  await requireConference(db, slug);
  const { revoked } = await connectionFor(env, slug).disconnect();
  log("info", "qbo.disconnect_requested", { conference: slug, revoked });
}
