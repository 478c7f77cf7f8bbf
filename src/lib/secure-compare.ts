/**
 * Constant-time string comparison. `crypto.subtle.timingSafeEqual` (a workerd extension) needs
 * equal lengths and leaks length, so both sides are hashed to 32 bytes first.
 */
export async function timingSafeEqualStrings(a: string, b: string): Promise<boolean> {
  const enc = new TextEncoder();
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", enc.encode(a)),
    crypto.subtle.digest("SHA-256", enc.encode(b)),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}

/** As timingSafeEqualStrings, for bytes (HMACs, signatures). */
export async function timingSafeEqualBytes(
  a: ArrayBuffer | Uint8Array,
  b: ArrayBuffer | Uint8Array,
): Promise<boolean> {
  const [da, db] = await Promise.all([
    crypto.subtle.digest("SHA-256", a),
    crypto.subtle.digest("SHA-256", b),
  ]);
  return crypto.subtle.timingSafeEqual(da, db);
}
