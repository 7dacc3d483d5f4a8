import * as oidc from 'openid-client'
import type { Config } from '../config/config.js'
import { boundedFetch, OversizedAnswer } from './bounded-fetch.js'
import { OneUpError } from './errors.js'
import { oneUpErrorId } from './error-id.js'

/** A token answer from OneUp, validated. */
export interface OneUpTokens {
  accessToken: string
  /** Absent when OneUp keeps the old one (then the broker keeps it too). */
  refreshToken: string | undefined
  /** Seconds; absent when OneUp did not say. */
  expiresIn: number | undefined
  scope: string | undefined
}

export interface OneUpClient {
  /** Where to send the browser (seed, "Obtain an Authorization Code"), with PKCE S256. */
  authorizationUrl(params: { state: string; codeChallenge: string }): string
  /** Exchanges the code from the callback, sending the PKCE verifier. */
  exchangeCode(params: { code: string; state: string; verifier: string }): Promise<OneUpTokens>
  /** One refresh grant (no retries here: the caller owns the retry policy). */
  refresh(refreshToken: string): Promise<OneUpTokens>
}

export interface OneUpClientOptions {
  /** Seam for tests and for metrics; defaults to the global fetch. */
  fetch?: typeof fetch
  /** Told which secret OneUp accepted when the current one was refused (never the secret itself). */
  onPreviousSecretUsed?: () => void
}

const MAX_TOKEN_LENGTH = 4096

/**
 * The broker's OAuth client to OneUp, built on openid-client. OneUp publishes
 * no discovery document and no ID token, so the server metadata is given here by hand.
 */
export function createOneUpClient(oneup: Config['oneup'], options: OneUpClientOptions = {}): OneUpClient {
  const server: oidc.ServerMetadata = {
    issuer: new URL(oneup.authorizationUrl).origin,
    authorization_endpoint: oneup.authorizationUrl,
    token_endpoint: oneup.tokenUrl,
    code_challenge_methods_supported: ['S256'],
  }
  const fetchImpl = boundedFetch(options.fetch ?? fetch)
  /** A client with one secret; its calls to OneUp also end when `deadline` fires. */
  const configure = (secret: string, deadline?: AbortSignal): oidc.Configuration => {
    // The seed's examples send client_id and client_secret in the form body.
    const config = new oidc.Configuration(server, oneup.clientId, undefined, oidc.ClientSecretPost(secret))
    config.timeout = oneup.timeoutMs / 1000
    config[oidc.customFetch] = (url, init) => (deadline === undefined ? fetchImpl(url, init as RequestInit) : fetchBefore(fetchImpl, deadline, url, init as RequestInit))
    if (server.token_endpoint?.startsWith('http:') || oneup.authorizationUrl.startsWith('http:')) {
      // Only the sandbox and local tests use http; real OneUp is https-only.
      oidc.allowInsecureRequests(config)
    }
    return config
  }
  const current = configure(oneup.clientSecret)

  /**
   * Runs a grant with the current secret, then with the previous one if OneUp says `invalid_client`.
   * Up to three calls to OneUp, all within one ONEUP_TIMEOUT_MS: the refresh coordinator sizes
   * its lock and its retries for one attempt taking at most that long, so a slow OneUp in the
   * middle of a secret rotation must not make one attempt last three timeouts (the lock would
   * lapse while this call still presents the refresh token, and another replica present it too).
   */
  async function withSecrets(grant: (config: oidc.Configuration) => Promise<oidc.TokenEndpointResponse>): Promise<OneUpTokens> {
    const deadline = AbortSignal.timeout(oneup.timeoutMs)
    const secret = (value: string) => configure(value, deadline)
    try {
      return validate(await grant(secret(oneup.clientSecret)))
    } catch (error) {
      const failure = classify(error)
      if (oneup.clientSecretPrevious === undefined || failure.oauthError !== 'invalid_client') throw failure
    }
    try {
      const tokens = validate(await grant(secret(oneup.clientSecretPrevious)))
      options.onPreviousSecretUsed?.()
      return tokens
    } catch (error) {
      const failure = classify(error)
      if (failure.oauthError !== 'invalid_client') throw failure
    }
    // Both refused: OneUp may have switched to the current secret between the
    // two calls (the rotation's very moment). One more try settles it.
    try {
      return validate(await grant(secret(oneup.clientSecret)))
    } catch (error) {
      throw classify(error)
    }
  }

  return {
    authorizationUrl({ state, codeChallenge }) {
      return oidc
        .buildAuthorizationUrl(current, {
          redirect_uri: oneup.redirectUri,
          scope: 'offline_access',
          state,
          code_challenge: codeChallenge,
          code_challenge_method: 'S256',
        })
        .toString()
    },

    exchangeCode({ code, state, verifier }) {
      // The redirect_uri sent to the token endpoint must be exactly the one on
      // file, whatever host the callback reached us through: build it from config.
      const callback = new URL(oneup.redirectUri)
      callback.searchParams.set('code', code)
      callback.searchParams.set('state', state)
      return withSecrets((config) =>
        oidc.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state }),
      )
    },

    refresh(refreshToken) {
      return withSecrets((config) => oidc.refreshTokenGrant(config, refreshToken))
    },
  }
}

/**
 * One call to OneUp that ends when `deadline` fires, whether or not the fetch underneath
 * honours its signal (the deadline, not the fetch, bounds how long the refresh lock is held).
 */
async function fetchBefore(fetchImpl: typeof fetch, deadline: AbortSignal, url: string | URL | Request, init: RequestInit): Promise<Response> {
  deadline.throwIfAborted()
  const signal = init.signal == null ? deadline : AbortSignal.any([init.signal, deadline])
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(deadline.reason)
    deadline.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([fetchImpl(url, { ...init, signal }), aborted])
  } finally {
    if (onAbort !== undefined) deadline.removeEventListener('abort', onAbort)
  }
}

/** Checks a token answer beyond what openid-client checks, and drops what the broker does not keep. */
function validate(answer: oidc.TokenEndpointResponse): OneUpTokens {
  const { access_token: accessToken, refresh_token: refreshToken, expires_in: expiresIn, scope } = answer
  if (refreshToken !== undefined && !isUsableToken(refreshToken)) throw unusable('its refresh_token is not a usable token')
  if (!isUsableToken(accessToken)) throw unusable('its access_token is not a usable token', refreshToken)
  if (answer.token_type.toLowerCase() !== 'bearer') throw unusable('its token_type is not bearer', refreshToken)
  // 0 is OneUp saying "expired already": kept (the default is for an answer that says nothing).
  const validExpiry = typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn >= 0 && expiresIn <= 366 * 86400
  return {
    accessToken,
    refreshToken,
    expiresIn: validExpiry ? Math.floor(expiresIn) : undefined,
    scope: typeof scope === 'string' && scope.length <= 1024 ? scope : undefined,
  }
}

function isUsableToken(token: unknown): token is string {
  return typeof token === 'string' && token.length > 0 && token.length <= MAX_TOKEN_LENGTH
}

/**
 * A 200 answer the broker cannot use. `why` names what is wrong, never a value of the
 * answer; a usable refresh token in it rides along (OneUp rotated: it is the live one).
 */
function unusable(why: string, refreshToken?: unknown): OneUpError {
  return new OneUpError('unavailable', `OneUp answered 200 with a token answer the broker cannot use: ${why}`, {
    httpStatus: 200,
    ...(isUsableToken(refreshToken) ? { rotatedRefreshToken: refreshToken } : {}),
  })
}

/**
 * openid-client's refusals of a 200 token answer (oauth4webapi reads a token answer only
 * when the status is 200; the caller has set other statuses apart), as what they say of it. Their messages name a field, never
 * a value; a JSON parse error's message quotes the body, so it is not repeated.
 */
function refusedAnswer(error: oidc.ClientError): OneUpError | undefined {
  const cause = error.cause as { message?: unknown; cause?: { body?: { refresh_token?: unknown } } } | undefined
  switch (error.code) {
    case 'OAUTH_PARSE_ERROR':
    case 'OAUTH_RESPONSE_IS_NOT_JSON':
      return unusable('its body is not JSON')
    case 'OAUTH_INVALID_RESPONSE': {
      const said = typeof cause?.message === 'string' && /^[\w" -]{1,160}$/.test(cause.message) ? cause.message : 'not a token answer'
      return unusable(said, cause?.cause?.body?.refresh_token)
    }
    case 'OAUTH_UNSUPPORTED_OPERATION':
      return unusable('its token_type is not bearer', cause?.cause?.body?.refresh_token)
    default:
      return undefined
  }
}

/** Turns whatever openid-client or fetch threw into a {@link OneUpError} that names no secret. */
function classify(error: unknown): OneUpError {
  if (error instanceof OneUpError) return error
  // Cut short for its size: a 2xx is still OneUp having done the grant (not to be retried).
  const oversized = error instanceof OversizedAnswer ? error : (error as { cause?: unknown } | undefined)?.cause
  if (oversized instanceof OversizedAnswer && oversized.status >= 200 && oversized.status < 300) return unusable('its body is over the size limit')
  // openid-client names the Response as the cause of an answer it could not read as OAuth.
  const response = error instanceof oidc.ClientError && error.cause instanceof Response ? error.cause : undefined
  if (response !== undefined && response.status >= 400 && response.status < 500) {
    // A 4xx without an OAuth error (a rate limit in OneUp's own format, a proxy's page):
    // OneUp, or something in front of it, answered; the grant was not performed.
    // (A 5xx of that kind may come from a gateway that lost OneUp's answer: left as "no answer".)
    return new OneUpError('unavailable', `OneUp answered ${response.status} without an OAuth error`, { httpStatus: response.status, retryAfterMs: retryAfterMs(response) })
  }
  const refused = error instanceof oidc.ClientError && (response === undefined || response.ok) ? refusedAnswer(error) : undefined
  if (refused !== undefined) return refused
  if (error instanceof oidc.ResponseBodyError) {
    const cause = error.cause as Record<string, unknown>
    const description = [cause.error_description, cause.error_hint].filter((part) => typeof part === 'string').join(' ')
    // 5xx OAuth errors (server_error, temporarily_unavailable) are OneUp being unwell, not a verdict.
    const kind = error.status >= 500 ? 'unavailable' : 'oauth'
    return new OneUpError(kind, `OneUp answered ${error.status} ${oneUpErrorId(error.error)}`, {
      oauthError: oneUpErrorId(error.error),
      description: description === '' ? undefined : description.slice(0, 500),
      httpStatus: error.status,
      retryAfterMs: retryAfterMs(error.response),
    })
  }
  const name = error instanceof Error ? error.name : 'Error'
  const code = (error as { code?: unknown })?.code
  // openid-client wraps an aborted fetch (the timeout, the deadline) as OAUTH_TIMEOUT or OAUTH_ABORT.
  const timedOut = name === 'TimeoutError' || name === 'AbortError' || code === 'OAUTH_TIMEOUT' || code === 'OAUTH_ABORT'
  const what = timedOut ? 'timed out' : `failed (${typeof code === 'string' ? code : name})`
  return new OneUpError('unavailable', `the call to OneUp ${what}`, { cause: error })
}

/** A `Retry-After` (seconds or an HTTP date) in ms from now, or undefined when absent or unreadable. */
function retryAfterMs(response: Response | undefined): number | undefined {
  const value = response?.headers.get('retry-after')?.trim()
  if (value === undefined || value === '') return undefined
  const ms = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value) - Date.now()
  return Number.isFinite(ms) ? Math.max(0, ms) : undefined
}
