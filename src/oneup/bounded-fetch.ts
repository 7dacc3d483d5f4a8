/** Largest OneUp answer the broker reads; a token answer is well under 8 KiB. */
export const MAX_ONEUP_BODY_BYTES = 64 * 1024

/**
 * Wraps a fetch so that a huge answer is cut off (and fails as "unavailable")
 * instead of being buffered whole: OneUp's answers are validated, never trusted.
 * It also drops `WWW-Authenticate`: openid-client throws on that header before
 * reading the body, which would hide OneUp's OAuth error (an `invalid_grant`, or the
 * `invalid_client` that makes the broker try the previous secret) behind "unavailable".
 * RFC 6749 §5.2 allows the header on token errors; the body says all the broker needs.
 * And it makes a successful token answer's odd-but-harmless fields acceptable to
 * openid-client ({@link lenientTokenAnswer}).
 */
/** An answer from OneUp cut short for its size; `status` says whether OneUp did the grant (2xx). */
export class OversizedAnswer extends RangeError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message)
    this.name = 'OversizedAnswer'
  }
}

export function boundedFetch(inner: typeof fetch, maxBytes = MAX_ONEUP_BODY_BYTES): typeof fetch {
  return async (input, init) => {
    const response = await inner(input, init)
    const declared = Number(response.headers.get('content-length') ?? 0)
    if (declared > maxBytes) {
      await response.body?.cancel()
      throw new OversizedAnswer(response.status, `OneUp answer of ${declared} bytes is over the ${maxBytes}-byte limit`)
    }
    const chunks: Uint8Array[] = []
    let total = 0
    if (response.body !== null) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        total += chunk.byteLength
        if (total > maxBytes) throw new OversizedAnswer(response.status, `OneUp answer is over the ${maxBytes}-byte limit`)
        chunks.push(chunk)
      }
    }
    const headers = new Headers(response.headers)
    headers.delete('www-authenticate')
    let body: Uint8Array | null = total === 0 ? null : Buffer.concat(chunks)
    if (body !== null && response.ok) {
      body = lenientTokenAnswer(body)
      headers.delete('content-length')
    }
    return new Response(body, { status: response.status, statusText: response.statusText, headers })
  }
}

/**
 * A 2xx token answer is OneUp having done the grant: for a refresh, the refresh token
 * the broker holds is spent. openid-client (oauth4webapi) refuses the whole answer for
 * fields the broker does not need to be exact, and a refused answer would cost the
 * rotated refresh token. So, before it reads the answer:
 * - an `expires_in` that is not a number ≥ 0 (nor a string of one, which oauth4webapi
 *   parses) is dropped: the broker then assumes OneUp's documented 3600 s;
 * - a `scope` that is not a string is dropped: the broker keeps the scope it had;
 * - a missing `token_type` becomes `bearer`, the only type OneUp issues;
 * - an `id_token` is dropped: OneUp issues none, the broker reads none, and
 *   openid-client would verify it as an OpenID Connect ID token and refuse the answer.
 * Anything else (not JSON, no usable access token, another token type) is left for
 * openid-client and the broker to refuse. Returns the body unchanged when nothing changed.
 */
export function lenientTokenAnswer(body: Uint8Array): Uint8Array {
  let answer: unknown
  try {
    answer = JSON.parse(Buffer.from(body).toString('utf8'))
  } catch {
    return body
  }
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return body
  const fields = answer as Record<string, unknown>
  let changed = false
  if ('expires_in' in fields && !isLifetime(fields.expires_in)) {
    delete fields.expires_in
    changed = true
  }
  if ('scope' in fields && typeof fields.scope !== 'string') {
    delete fields.scope
    changed = true
  }
  if (fields.token_type === undefined || fields.token_type === null) {
    fields.token_type = 'bearer'
    changed = true
  }
  if ('id_token' in fields) {
    delete fields.id_token
    changed = true
  }
  return changed ? Buffer.from(JSON.stringify(fields)) : body
}

/** What oauth4webapi accepts as `expires_in`: a finite number ≥ 0, or a string it parses to one. */
function isLifetime(value: unknown): boolean {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' ? Number.parseFloat(value) : Number.NaN
  return Number.isFinite(seconds) && seconds >= 0
}
