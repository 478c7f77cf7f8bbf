import { connectionFor } from "../connections";
import type { ConnectionStatus, StoreTokensInput } from "../connections/types";
import type { Db } from "../db/client";
import {
  type ConferenceInput,
  type ConferenceRow,
  findConference,
  setConferenceRealm,
  upsertConference,
} from "../db/conferences";
import { findPo, openInvoiceRealms, type PoRow } from "../db/purchase-orders";
import { ApiError, notFound } from "../lib/errors";
import { log } from "../lib/log";

export async function requireConference(db: Db, slug: string) {
  const conference = await findConference(db, slug);
  if (!conference) throw notFound(`Conference '${slug}'`);
  return conference;
}

/** The PO under this conference; a PO of another conference is reported as absent. */
export async function requirePo(db: Db, slug: string, reference: string): Promise<PoRow> {
  const po = await findPo(db, slug, reference);
  if (!po) throw notFound(`Purchase order ${reference}`);
  return po;
}

/** The conference and one of its POs, each read once per request. */
export async function requireConferencePo(
  db: Db,
  slug: string,
  reference: string,
): Promise<{ conference: ConferenceRow; po: PoRow }> {
  const [conference, po] = await Promise.all([requireConference(db, slug), findPo(db, slug, reference)]);
  if (!po) throw notFound(`Purchase order ${reference}`);
  return { conference, po };
}

export interface ConferenceWithConnection {
  row: ConferenceRow;
  connection: ConnectionStatus;
  /** Other companies still holding live invoices of this conference's POs. */
  previousRealms: { realmId: string; openInvoices: number }[];
}

async function withConnection(env: Env, db: Db, row: ConferenceRow): Promise<ConferenceWithConnection> {
  const [connection, realms] = await Promise.all([
    connectionStatus(env, row.slug),
    openInvoiceRealms(db, row.slug),
  ]);
  const current = connection.realmId ?? row.qboRealmId;
  return { row, connection, previousRealms: realms.filter((r) => r.realmId !== current) };
}

/** Connection state for display. Reading it needs no encryption key, so it never fails for lack of one. */
async function connectionStatus(env: Env, slug: string): Promise<ConnectionStatus> {
  return env.QBO_CONNECTIONS.getByName(slug).status();
}

/**
 * Creates or updates a conference. Once tokens are stored, the realm is the grant's: a
 * different `qbo.realmId` is refused, because webhooks are matched to conferences by this
 * realm and the tokens open another company (store tokens for the new company instead).
 */
export async function putConference(
  env: Env,
  db: Db,
  slug: string,
  input: ConferenceInput,
): Promise<ConferenceWithConnection & { created: boolean }> {
  if (input.qbo) {
    const { realmId: granted } = await connectionStatus(env, slug);
    if (granted && granted !== input.qbo.realmId) {
      throw new ApiError(
        "invalid_state",
        `The conference's QuickBooks tokens are for company ${granted}; qbo.realmId cannot be set to ${input.qbo.realmId}. Store tokens for that company (PUT …/qbo/tokens) or connect it through OAuth instead.`,
        { connectedRealmId: granted, requestedRealmId: input.qbo.realmId },
      );
    }
  }
  const { row, created } = await upsertConference(db, slug, input, new Date().toISOString());
  return { ...(await withConnection(env, db, row)), created };
}

export async function getConference(env: Env, db: Db, slug: string): Promise<ConferenceWithConnection> {
  return withConnection(env, db, await requireConference(db, slug));
}

/**
 * Refuses a grant for another company while POs have live invoices in the old one, unless
 * `force`: those invoices would stop being synced (their ids mean other invoices in the new
 * company), so a person must say they mean it. Called before any token is stored or exchanged.
 */
export async function checkRealmChange(db: Db, slug: string, realmId: string, force: boolean): Promise<void> {
  const elsewhere = (await openInvoiceRealms(db, slug)).filter((r) => r.realmId !== realmId);
  if (elsewhere.length === 0) return;
  const count = elsewhere.reduce((n, r) => n + r.openInvoices, 0);
  if (!force) {
    throw new ApiError(
      "qbo_realm_change_blocked",
      `${count} open invoice(s) of this conference live in QuickBooks company ${elsewhere.map((r) => r.realmId).join(", ")}; connecting company ${realmId} would stop syncing them. Send {"force": true} with the tokens (or when asking for the connect link) to connect anyway.`,
      { requestedRealmId: realmId, openInvoices: elsewhere },
    );
  }
  log("warn", "qbo.realm_change_forced", {
    conference: slug,
    realmId,
    previousRealms: elsewhere.map((r) => r.realmId),
  });
}

/** Stores a grant in the conference's vault and records its realm on the conference. */
export async function storeTokens(
  env: Env,
  db: Db,
  slug: string,
  tokens: Omit<StoreTokensInput, "slug">,
  opts: { force: boolean },
): Promise<ConferenceWithConnection> {
  await requireConference(db, slug);
  await checkRealmChange(db, slug, tokens.realmId, opts.force);
  await connectionFor(env, slug).store({ ...tokens, slug });
  await setConferenceRealm(db, slug, tokens.realmId, new Date().toISOString());
  return withConnection(env, db, await requireConference(db, slug));
}

export async function disconnect(env: Env, db: Db, slug: string): Promise<void> {
  await requireConference(db, slug);
  const { revoked } = await connectionFor(env, slug).disconnect();
  log("info", "qbo.disconnect_requested", { conference: slug, revoked });
}
