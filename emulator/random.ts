/** Randomness: opaque secrets from Web Crypto, and a seeded PRNG for reproducible fault injection. */

/** An opaque token: `bytes` random bytes as base64url, with nothing that identifies the emulator. */
export function randomToken(bytes = 48): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return base64Url(buffer);
}

/** A realm id shaped like QBO's: 16 decimal digits, no leading zero. */
export function randomRealmId(): string {
  const digits = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(digits, (byte, index) => (index === 0 ? 1 + (byte % 9) : byte % 10)).join("");
}

/** A value for the `intuit_tid` header, the id Intuit support asks for. */
export function intuitTid(): string {
  return `1-${crypto.randomUUID().replaceAll("-", "").slice(0, 8)}-${base64Url(crypto.getRandomValues(new Uint8Array(9)))}`;
}

export function base64Url(bytes: Uint8Array): string {
  return base64(bytes).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

export function base64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

/** mulberry32: tiny, fast and good enough to make "10 % random faults, seed 42" repeatable. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
