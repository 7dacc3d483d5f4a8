/**
 * The broker's error family. Every error a client can see has a stable string
 * `code` and the HTTP status registered next to it here, in one place, and is
 * rendered in the seed's shape:
 * `{"error": {"status": 404, "code": "2", "message": "…", "reason": "…"}}`.
 *
 * Codes 0–5 are OneUp's own (seed, "Error Codes and Responses"); 6 and up are
 * the broker's. The README lists them all; never renumber one.
 */
export const ERRORS = {
  Internal: { code: '0', status: 500, message: 'Oops something went wrong.' },
  Unauthorized: { code: '1', status: 401, message: 'Unauthorized.' },
  NotFound: { code: '2', status: 404, message: 'The resource was not found.' },
  InvalidField: {
    code: '3',
    status: 422,
    message: 'The request does not respect the specification. Please see the documentation and double-check each field.',
  },
  RateLimited: { code: '4', status: 429, message: 'Rate limited.' },
  Unparsable: {
    code: '5',
    status: 400,
    message: 'The request was not parsed. Please double-check the content of the request.',
  },
  TenantForbidden: { code: '6', status: 403, message: 'This app is not allowed to serve this tenant.' },
  ReauthRequired: {
    code: '7',
    status: 409,
    message: 'The connection needs its user to connect again: OneUp refused its refresh token.',
  },
  OneUpUnavailable: { code: '8', status: 503, message: 'OneUp is unavailable. Retry later.' },
  StoreUnavailable: { code: '9', status: 503, message: 'The token store is unavailable. Retry later.' },
  TooLarge: { code: '10', status: 413, message: 'The request is too large.' },
  Unreadable: {
    code: '11',
    status: 500,
    message: 'The stored tokens of this connection cannot be opened: unknown encryption key, or a tampered record.',
  },
  Conflict: { code: '12', status: 409, message: 'Work under way conflicts with this request. Retry once it is over.' },
  BusinessRule: { code: '30', status: 422, message: 'Business logic violation. The request cannot be fulfilled.' },
} as const

export type ErrorKind = keyof typeof ERRORS

export interface BrokerErrorOptions {
  /** Extra words for the client; never a secret. */
  reason?: string
  /** Seconds, sent as `Retry-After` (429 and 503). */
  retryAfter?: number
  cause?: unknown
}

/** An error meant for the client, rendered by the app's one error handler. */
export class BrokerError extends Error {
  readonly kind: ErrorKind
  readonly code: string
  readonly status: number
  readonly reason: string | undefined
  readonly retryAfter: number | undefined

  constructor(kind: ErrorKind, options: BrokerErrorOptions = {}) {
    super(ERRORS[kind].message, { cause: options.cause })
    this.name = 'BrokerError'
    this.kind = kind
    this.code = ERRORS[kind].code
    this.status = ERRORS[kind].status
    this.reason = options.reason
    this.retryAfter = options.retryAfter
  }

  /** The seed's error body. */
  toJSON(): { error: { status: number; code: string; message: string; reason?: string } } {
    const error: { status: number; code: string; message: string; reason?: string } = {
      status: this.status,
      code: this.code,
      message: this.message,
    }
    if (this.reason !== undefined) error.reason = this.reason
    return { error }
  }
}

/** Shorthand for `new BrokerError(kind, options)`. */
export const fail = (kind: ErrorKind, options?: BrokerErrorOptions): BrokerError => new BrokerError(kind, options)
