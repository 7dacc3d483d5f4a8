import { authenticateClient } from './client-auth.js'
import type { Grant } from './grants.js'
import { OAuthError } from './oauth-errors.js'
import type { SandboxClient } from './options.js'
import { isWellFormedPkceValue, verifierMatches } from './pkce.js'
import type { SandboxState } from './state.js'

/** The only scope OneUp has (the seed: "The only scope available"). */
export const ONEUP_SCOPE = 'offline_access'

/** The seed's token response, field for field. */
export interface TokenResponse {
  access_token: string
  expires_in: number
  refresh_token: string
  scope: string
  token_type: 'bearer'
}

/**
 * Answers a token request: authenticates the client and runs the grant. Everything happens
 * synchronously, so a code or refresh token is spent before any artificial latency and two
 * concurrent requests with one token see each other exactly as strict Hydra would.
 *
 * @throws OAuthError for every refusal.
 */
export function grantTokens(
  state: SandboxState,
  authorization: string | undefined,
  form: Readonly<Record<string, string>>,
): TokenResponse {
  if (!form.grant_type) {
    throw new OAuthError('invalid_request', 'The POST body must include the grant_type parameter.')
  }
  const client = authenticateClient(authorization, form, (id) => state.client(id))
  switch (form.grant_type) {
    case 'authorization_code':
      return exchangeCode(state, client, form)
    case 'refresh_token':
      return refreshTokens(state, client, form)
    default:
      throw new OAuthError(
        'unsupported_grant_type',
        'The grant_type must be authorization_code or refresh_token.',
      )
  }
}

function exchangeCode(state: SandboxState, client: SandboxClient, form: Readonly<Record<string, string>>): TokenResponse {
  const { code, redirect_uri: redirectUri, code_verifier: verifier } = form
  if (!code) throw new OAuthError('invalid_request', 'The POST body must include the code parameter.')
  if (!redirectUri) throw new OAuthError('invalid_request', 'The POST body must include the redirect_uri parameter.')

  const issued = state.grants.findCode(code)
  if (!issued) throw new OAuthError('invalid_grant', 'The authorization code is unknown or has expired.')
  if (issued.grantId !== undefined) {
    // RFC 6749 §4.1.2: "If an authorization code is used more than once, the authorization
    // server MUST deny the request and SHOULD revoke (when possible) all tokens previously
    // issued based on that authorization code."
    state.grants.revokeGrant(issued.grantId)
    throw new OAuthError(
      'invalid_grant',
      'The authorization code has already been used; every token issued from it has been revoked.',
    )
  }
  if (issued.clientId !== client.id) {
    throw new OAuthError('invalid_grant', 'The authorization code was issued to another client.')
  }
  if (issued.redirectUri !== redirectUri) {
    throw new OAuthError('invalid_grant', 'The redirect_uri does not match the one of the authorization request.')
  }
  checkVerifier(issued.pkce, verifier)

  const grant = state.grants.openGrant(issued)
  state.counters.code_exchanges += 1
  return issue(state, grant)
}

function checkVerifier(pkce: Parameters<typeof verifierMatches>[0] | undefined, verifier: string | undefined): void {
  if (!pkce) {
    if (verifier !== undefined) {
      throw new OAuthError('invalid_grant', 'A code_verifier was sent but the authorization request had no code_challenge.')
    }
    return
  }
  if (verifier === undefined || !isWellFormedPkceValue(verifier)) {
    throw new OAuthError('invalid_grant', 'The code_verifier must be 43 to 128 characters of [A-Za-z0-9-._~] (RFC 7636).')
  }
  // RFC 7636 §4.6: "If the values are not equal, an error response indicating "invalid_grant"
  // as described in Section 5.2 of [RFC6749] MUST be returned."
  if (!verifierMatches(pkce, verifier)) {
    throw new OAuthError('invalid_grant', 'The PKCE code challenge did not match the code verifier.')
  }
}

function refreshTokens(state: SandboxState, client: SandboxClient, form: Readonly<Record<string, string>>): TokenResponse {
  const { refresh_token: token, scope } = form
  if (!token) throw new OAuthError('invalid_request', 'The POST body must include the refresh_token parameter.')
  // An empty scope asks for nothing narrower: Hydra serves the granted scope.
  if (scope !== undefined && scope !== '' && scope !== ONEUP_SCOPE) {
    throw new OAuthError('invalid_scope', `The only scope is ${ONEUP_SCOPE}.`)
  }
  const found = state.grants.findRefresh(token)
  if (!found) throw new OAuthError('invalid_grant', 'The refresh token is unknown, expired or revoked.')
  const { record, grant } = found
  if (grant.clientId !== client.id) {
    throw new OAuthError('invalid_grant', 'The refresh token was issued to another client.')
  }

  if (record.spentAt !== undefined) {
    const graceMs = state.settings.refreshGraceSeconds * 1000
    if (graceMs === 0 || state.now() - record.spentAt > graceMs) {
      // Hydra's refresh token reuse detection: a spent refresh token presented again means it
      // may have leaked, so the whole chain of the authorization is revoked.
      state.grants.revokeGrant(grant.id)
      state.counters.reuse_detections += 1
      throw new OAuthError(
        'invalid_grant',
        'The refresh token has already been used; every token of this authorization has been revoked.',
      )
    }
    state.counters.grace_reuses += 1
  } else {
    state.grants.spend(record)
  }
  state.counters.refresh_grants += 1
  // fosite's refresh handler calls RevokeAccessToken(ctx, ts.GetID()) before issuing the new
  // pair: after a refresh only the newest access token of the chain is active.
  state.grants.revokeAccessTokens(grant)
  return issue(state, grant)
}

function issue(state: SandboxState, grant: Grant): TokenResponse {
  const ttl = state.settings.accessTokenTtl
  const pair = state.grants.issueTokens(grant, ttl * 1000)
  return {
    access_token: pair.accessToken,
    expires_in: ttl,
    refresh_token: pair.refreshToken,
    scope: grant.scope,
    token_type: 'bearer',
  }
}
