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

  constructor(
    kind: 'oauth' | 'unavailable',
    message: string,
    details: { oauthError?: string; description?: string; httpStatus?: number; cause?: unknown } = {},
  ) {
    super(message, { cause: details.cause })
    this.name = 'OneUpError'
    this.kind = kind
    this.oauthError = details.oauthError
    this.description = details.description
    this.httpStatus = details.httpStatus
  }

  /** OneUp refused the grant itself: the refresh token (or code) is dead for good. */
  get isInvalidGrant(): boolean {
    return this.kind === 'oauth' && this.oauthError === 'invalid_grant'
  }
}
