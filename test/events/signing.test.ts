/**
 * Standard Webhooks signing (SPEC §12). The reference vector is the one published with the
 * Standard Webhooks / Svix reference libraries (their test suites' `testSignFunctionWorks`):
 * reproducing it proves the key is the base64-decoded secret, the content `{id}.{timestamp}.{body}`
 * and the header `v1,<base64>`, i.e. that a receiver's off-the-shelf library accepts ours.
 */
import { describe, expect, it } from "vitest";
import { retryDelaySeconds, subscribes } from "../../src/domain/platform-events";
import { generateSecret, signatureHeader, signOne, verifySignature } from "../../src/events/signing";

const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};

describe("Standard Webhooks signing", () => {
  it("reproduces the reference vector exactly", async () => {
    expect(await signOne(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).toBe(VECTOR.signature);
  });

  it("verifies the reference vector, and refuses it with another body, id or secret", async () => {
    const headers = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: VECTOR.signature };
    const now = VECTOR.timestamp + 10;

    expect(await verifySignature(VECTOR.secret, headers, VECTOR.body, now)).toBe(true);
    expect(await verifySignature(VECTOR.secret, headers, '{"test": 2432232315}', now)).toBe(false);
    expect(await verifySignature(VECTOR.secret, { ...headers, id: "msg_other" }, VECTOR.body, now)).toBe(
      false,
    );
    expect(await verifySignature(generateSecret(), headers, VECTOR.body, now)).toBe(false);
  });

  it("refuses a signature whose timestamp is more than 5 minutes away (replay)", async () => {
    const headers = { id: VECTOR.id, timestamp: String(VECTOR.timestamp), signature: VECTOR.signature };

    expect(await verifySignature(VECTOR.secret, headers, VECTOR.body, VECTOR.timestamp + 301)).toBe(false);
    expect(await verifySignature(VECTOR.secret, headers, VECTOR.body, VECTOR.timestamp - 301)).toBe(false);
  });

  it("round-trips a fresh secret: whsec_ + base64 of 32 bytes", async () => {
    const secret = generateSecret();
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(atob(secret.slice("whsec_".length))).toHaveLength(32);
    const now = Math.floor(Date.now() / 1000);
    const signature = await signatureHeader([secret], "evt_1", now, "{}");

    expect(await verifySignature(secret, { id: "evt_1", timestamp: String(now), signature }, "{}", now)).toBe(
      true,
    );
  });

  it("signs with both secrets after a rotation, space-separated, and either one verifies", async () => {
    const [fresh, old, stranger] = [generateSecret(), generateSecret(), generateSecret()];
    const now = Math.floor(Date.now() / 1000);
    const signature = await signatureHeader([fresh, old], "evt_2", now, '{"a":1}');
    const headers = { id: "evt_2", timestamp: String(now), signature };

    expect(signature.split(" ")).toHaveLength(2);
    expect(signature).toMatch(/^v1,[A-Za-z0-9+/=]+ v1,[A-Za-z0-9+/=]+$/);
    expect(await verifySignature(fresh, headers, '{"a":1}', now)).toBe(true);
    expect(await verifySignature(old, headers, '{"a":1}', now)).toBe(true);
    expect(await verifySignature(stranger, headers, '{"a":1}', now)).toBe(false);
  });
});

describe("the retry schedule and filters", () => {
  it("starts fast (5 s, 30 s, 2 min, 10 min) and then retries hourly", () => {
    expect([1, 2, 3, 4, 5, 20].map(retryDelaySeconds)).toEqual([5, 30, 120, 600, 3600, 3600]);
  });

  it("matches exact types and prefixes; no filter means every type", () => {
    expect(subscribes(["po.*"], "po.status_changed")).toBe(true);
    expect(subscribes(["qbo.invoice_*"], "qbo.invoice_emailed")).toBe(true);
    expect(subscribes(["qbo.invoice_*"], "qbo.discrepancy")).toBe(false);
    expect(subscribes(["payment.recorded"], "payment.voided")).toBe(false);
    expect(subscribes(null, "credit_note.voided")).toBe(true);
  });
});
