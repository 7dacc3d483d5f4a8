/**
 * What went wrong talking to OneUp, in the broker's terms:
 * - `oauth`: OneUp answered with an OAuth error (`invalid_grant`, `invalid_client`, …);
 * - `unavailable`: no usable answer (network, timeout, 5xx, a body that is not a token answer).
 * Messages never include a token, a code or a secret; OneUp's own words are kept
 * in `description` only to be shown escaped to the user they concern.
 */
export class OneUpError extends Error {
  readonly kind: 'oauth' | 'unavailable'
  /** OneUp's `error` id (for `oauth`), e.g. `invalid_grant`. */
  readonly oauthError: string | undefined
  readonly description: string | undefined
  readonly httpStatus: number | undefined
  /** How long OneUp asked to wait (its `Retry-After`, in ms), when it said. */
  readonly retryAfterMs: number | undefined
  /**
   * A refresh token found in a 2xx answer the broker could not use otherwise: OneUp did
   * rotate, and this is the only live one. A private field, so no logger ever prints it.
   */
  readonly #rotatedRefreshToken: string | undefined

  constructor(
    kind: 'oauth' | 'unavailable',
    message: string,
    details: { oauthError?: string; description?: string; httpStatus?: number; retryAfterMs?: number; cause?: unknown; rotatedRefreshToken?: string } = {},
  ) {
    super(message, { cause: details.cause })
    this.name = 'OneUpError'
    this.kind = kind
    this.oauthError = details.oauthError
    this.description = details.description
    this.httpStatus = details.httpStatus
    this.retryAfterMs = details.retryAfterMs
    this.#rotatedRefreshToken = details.rotatedRefreshToken
  }

  get rotatedRefreshToken(): string | undefined {
    return this.#rotatedRefreshToken
  }

  /**
   * OneUp answered 2xx, so it performed the grant (for a refresh: the refresh token sent
   * is spent), but the answer is not a token answer the broker can use. Not a lost answer,
   * and not worth repeating with the spent token.
   */
  get unusableAnswer(): boolean {
    return this.kind === 'unavailable' && this.httpStatus !== undefined && this.httpStatus >= 200 && this.httpStatus < 300
  }

  /** OneUp refused the grant itself: the refresh token (or code) is dead for good. */
  get isInvalidGrant(): boolean {
    return this.kind === 'oauth' && this.oauthError === 'invalid_grant'
  }
}
