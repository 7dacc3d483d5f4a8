/** Largest OneUp answer the broker reads; a token answer is well under 8 KiB. */
export const MAX_ONEUP_BODY_BYTES = 64 * 1024

/**
 * Wraps a fetch so that a huge answer is cut off (and fails as "unavailable")
 * instead of being buffered whole: OneUp's answers are validated, never trusted.
 * It also drops `WWW-Authenticate`: openid-client throws on that header before
 * reading the body, which would hide OneUp's OAuth error (an `invalid_grant`, or the
 * `invalid_client` that makes the broker try the previous secret) behind "unavailable".
 * RFC 6749 §5.2 allows the header on token errors; the body says all the broker needs.
 */
export function boundedFetch(inner: typeof fetch, maxBytes = MAX_ONEUP_BODY_BYTES): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init)
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > maxBytes) {
      await response.body?.cancel()
      throw new RangeError(`OneUp answer of ${declared} bytes is over the ${maxBytes}-byte limit`)
    }
    const chunks: Uint8Array[] = []
    let total = 0
    if (response.body !== null) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength
        if (total > maxBytes) throw new RangeError(`OneUp answer is over the ${maxBytes}-byte limit`)
        chunks.push(chunk)
      }
    }
    const headers = new Headers(response.headers)
    headers.delete('www-authenticate')
    return new Response(total === 0 ? null : Buffer.concat(chunks), {
      status: response.status,
      statusText: response.statusText,
      headers,
    })
  }
}
