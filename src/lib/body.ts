/**
 * Request bodies read with a ceiling. A declared Content-Length over the limit is refused before
 * a byte is read; the stream is then read with a running count anyway, because a chunked body
 * declares no length and a declared one is not trusted further than the limit.
 */

/** The body's bytes, or null when it is larger than `maxBytes` (reading stops at once). */
export async function readBodyWithin(request: Request, maxBytes: number): Promise<ArrayBuffer | null> {
  const declared = request.headers.get("content-length");
  if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) return null;
  if (!request.body) return new ArrayBuffer(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out.buffer;
}
