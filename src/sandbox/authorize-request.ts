import { OAuthError } from './oauth-errors.js'
import type { SandboxClient } from './options.js'
import type { AuthorizationRequest } from './pending.js'
import { readPkceChallenge } from './pkce.js'
import { ONEUP_SCOPE } from './token-grants.js'

/** The query of `GET /oauth2/auth`; a parameter sent more than once is an array. */
export interface AuthorizeQuery {
  response_type?: string | string[]
  client_id?: string | string[]
  redirect_uri?: string | string[]
  scope?: string | string[]
  state?: string | string[]
  code_challenge?: string | string[]
  code_challenge_method?: string | string[]
}

/** A parameter's value, or undefined when it is missing or was sent more than once. */
const once = (value: string | string[] | undefined): string | undefined => (Array.isArray(value) ? undefined : value)

/** What to do with an authorization request. */
export type AuthorizeOutcome =
  /** The client or redirect_uri cannot be trusted: show an error page, never redirect. */
  | { kind: 'untrusted'; message: string }
  /** The request is wrong but the redirect_uri is trusted: send the error back to it. */
  | { kind: 'redirect'; location: string }
  | { kind: 'login'; request: AuthorizationRequest }

// Hydra's minimum state entropy (fosite's MinParameterEntropy).
const MIN_STATE_LENGTH = 8
/** The sandbox keeps each pending request in memory: a state is bounded (the broker's are 43 characters). */
export const MAX_STATE_LENGTH = 1024

/** Checks an authorization request in the order Hydra does. */
export function checkAuthorizeRequest(
  query: AuthorizeQuery,
  lookup: (id: string) => SandboxClient | undefined,
): AuthorizeOutcome {
  const clientId = once(query.client_id)
  const client = clientId ? lookup(clientId) : undefined
  if (!client) {
    return { kind: 'untrusted', message: 'The client_id is missing or unknown to OneUp.' }
  }
  const redirectUri = once(query.redirect_uri)
  // The seed: "omitting or sending an invalid redirect_uri or client_id, an error page will be
  // displayed to the user given that the Authorization Server cannot trust the redirect_uri."
  if (!redirectUri || !client.redirectUris.includes(redirectUri)) {
    return { kind: 'untrusted', message: 'The redirect_uri is missing or is not registered for this client.' }
  }

  // An over-long state is not sent back either: the error redirect stays small.
  const sentState = once(query.state)
  const state = sentState !== undefined && sentState.length > MAX_STATE_LENGTH ? undefined : sentState
  const refuse = (error: OAuthError): AuthorizeOutcome => ({
    kind: 'redirect',
    location: errorRedirect(redirectUri, error, state),
  })
  const repeated = Object.entries(query).find(([, value]) => Array.isArray(value))?.[0]
  if (repeated !== undefined) {
    return refuse(new OAuthError('invalid_request', `The request includes the ${repeated} parameter more than once.`))
  }
  if (query.response_type !== 'code') {
    return refuse(new OAuthError('unsupported_response_type', 'The response_type must be code.'))
  }
  if (query.scope !== ONEUP_SCOPE) {
    return refuse(new OAuthError('invalid_scope', `The only scope available is ${ONEUP_SCOPE}.`))
  }
  if (sentState !== undefined && sentState.length > MAX_STATE_LENGTH) {
    // The sandbox's own bound (Hydra has none): it keeps pending requests in memory.
    return refuse(new OAuthError('invalid_request', `The state parameter must be at most ${MAX_STATE_LENGTH} characters long.`))
  }
  if (state === undefined || state.length < MIN_STATE_LENGTH) {
    // Hydra (fosite's ErrInvalidState) for a missing state as for a short one.
    return refuse(new OAuthError('invalid_state', `Request parameter 'state' must be at least be ${MIN_STATE_LENGTH} characters long to ensure sufficient entropy.`))
  }
  const pkce = readPkceChallenge(once(query.code_challenge), once(query.code_challenge_method))
  if (!pkce.ok) return refuse(new OAuthError('invalid_request', pkce.hint))

  return {
    kind: 'login',
    request: { clientId: client.id, redirectUri, state, scope: ONEUP_SCOPE, pkce: pkce.pkce },
  }
}

/** The client's redirect_uri carrying an OAuth error (and the state, when there was one). */
export function errorRedirect(redirectUri: string, error: OAuthError, state: string | undefined): string {
  return withParams(redirectUri, {
    error: error.error,
    error_description: error.description,
    error_hint: error.hint,
    state,
  })
}

/** The client's redirect_uri carrying the code, the state and the granted scope (Hydra adds `scope`). */
export function codeRedirect(redirectUri: string, code: string, state: string): string {
  return withParams(redirectUri, { code, scope: ONEUP_SCOPE, state })
}

// The redirect_uri keeps its own query untouched (RFC 6749 §3.1.2: "MUST retain").
function withParams(redirectUri: string, params: Record<string, string | undefined>): string {
  const added = new URLSearchParams()
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) added.append(name, value)
  }
  const url = new URL(redirectUri)
  url.search = url.search.length > 1 ? `${url.search}&${added}` : `?${added}`
  return url.toString()
}
