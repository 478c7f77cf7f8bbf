/**
 * A local receiver of the Worker's events to the conference platform (SPEC §12), doing what a
 * real platform does: verify the Standard Webhooks signature over the raw body, reject stale
 * timestamps, de-duplicate on `webhook-id` (delivery is at least once). Used by `npm run dev`
 * (it prints each event) and by the benchmarks (they time each arrival).
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { createServer } from "node:http";

const SECRET_PREFIX = "whsec_";
/** Standard Webhooks' replay window: a timestamp further than this from now is refused. */
export const TOLERANCE_SECONDS = 5 * 60;

/**
 * True when any `v1,` signature of the header is the HMAC-SHA256 of `"{id}.{timestamp}.{body}"`
 * under one of `secrets` (keyed with the base64-decoded part after `whsec_`, not the secret's
 * text), compared in constant time, and the timestamp is within the tolerance. The body is the
 * raw bytes as received: re-serialized JSON would not match.
 */
export function verifyWebhook(secrets, headers, rawBody, nowSeconds = Date.now() / 1000) {
  const { id, timestamp, signature } = headers;
  if (!id || !timestamp || !signature) return false;
  const ts = Number(timestamp);
  if (!Number.isInteger(ts) || Math.abs(nowSeconds - ts) > TOLERANCE_SECONDS) return false;
  const candidates = signature
    .split(" ")
    .filter((s) => s.startsWith("v1,"))
    .map((s) => Buffer.from(s.slice(3), "base64"));
  for (const secret of secrets) {
    const key = Buffer.from(
      secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret,
      "base64",
    );
    const expected = createHmac("sha256", key).update(`${id}.${timestamp}.`).update(rawBody).digest();
    // timingSafeEqual needs equal lengths; a length mismatch reveals nothing secret.
    if (candidates.some((c) => c.length === expected.length && timingSafeEqual(c, expected))) return true;
  }
  return false;
}

/**
 * Starts the receiver on `POST {path}`. Each delivery is verified against the secrets set with
 * `setSecret` (the latest and the ones before it, as during a rotation); `onEvent` gets every
 * verified event once (later copies of the same `webhook-id` are answered 204 and counted) and
 * every rejected one (answered 401, so the Worker retries it).
 *
 * @param {object} o
 * @param {number} o.port
 * @param {string} o.host
 * @param {string} [o.path]   default "/events"
 * @param {(e: ReceivedEvent) => void} o.onEvent
 * @returns {Promise<{url: string, setSecret: (s: string) => void, stats: {verified: number, rejected: number, duplicates: number}, close: () => Promise<void>}>}
 *
 * @typedef {{webhookId: string, type: string|null, reference: string|null, status: string|null,
 *   verified: boolean, receivedAt: number, payload: unknown}} ReceivedEvent
 */
export function startEventReceiver({ port, host, path = "/events", onEvent }) {
  const secrets = [];
  const seen = new Set();
  const stats = { verified: 0, rejected: 0, duplicates: 0 };
  const server = createServer((req, res) => {
    if (req.method !== "POST" || req.url !== path) {
      res.writeHead(404).end();
      return;
    }
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const receivedAt = Date.now();
      const raw = Buffer.concat(chunks);
      const webhookId = String(req.headers["webhook-id"] ?? "");
      const verified = verifyWebhook(
        secrets,
        {
          id: webhookId,
          timestamp: String(req.headers["webhook-timestamp"] ?? ""),
          signature: String(req.headers["webhook-signature"] ?? ""),
        },
        raw,
        receivedAt / 1000,
      );
      if (verified && seen.has(webhookId)) {
        stats.duplicates++;
        res.writeHead(204).end();
        return;
      }
      let payload = null;
      try {
        payload = JSON.parse(raw.toString("utf8"));
      } catch {
        // reported below with nulls; a verified body is always JSON
      }
      const po = payload?.data?.purchaseOrder;
      if (verified) {
        seen.add(webhookId);
        stats.verified++;
      } else {
        stats.rejected++;
      }
      onEvent({
        webhookId,
        type: payload?.type ?? null,
        reference: po?.reference ?? payload?.data?.event?.data?.reference ?? null,
        status: po?.status ?? null,
        verified,
        receivedAt,
        payload,
      });
      res.writeHead(verified ? 204 : 401).end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const actual = server.address().port;
      resolve({
        url: `http://${host}:${actual}${path}`,
        /** The new secret and the one before it verify, as the Worker signs with both for 24 h. */
        setSecret: (secret) => {
          secrets.unshift(secret);
          secrets.splice(2);
        },
        stats,
        close: () =>
          new Promise((done) => {
            server.closeAllConnections?.();
            server.close(() => done());
          }),
      });
    });
  });
}
