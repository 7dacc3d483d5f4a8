/** Largest OneUp answer the broker reads; a token answer is well under 8 KiB. */
export const MAX_ONEUP_BODY_BYTES = 64 * 1024

/**
 * Wraps a fetch so that a huge answer is cut off (and fails as "unavailable")
 * instead of being buffered whole: OneUp's answers are validated, never trusted.
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
    return new Response(total === 0 ? null : Buffer.concat(chunks), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }
}
