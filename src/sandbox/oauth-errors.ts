/** The OAuth 2.0 error ids the sandbox answers (RFC 6749 §4.1.2.1 and §5.2). */
export type OAuthErrorId =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'unsupported_grant_type'
  | 'unsupported_response_type'
  | 'access_denied'
  | 'server_error'
  | 'temporarily_unavailable'
  | 'invalid_state'

// Hydra (fosite) answers these descriptions; only access_denied follows the seed's spelling.
const DESCRIPTIONS: Record<OAuthErrorId, string> = {
  invalid_request:
    'The request is missing a required parameter, includes an invalid parameter value, includes a parameter more than once, or is otherwise malformed.',
  invalid_client:
    'Client authentication failed (e.g., unknown client, no client authentication included, or unsupported authentication method).',
  invalid_grant:
    'The provided authorization grant (e.g., authorization code, resource owner credentials) or refresh token is invalid, expired, revoked, does not match the redirection URI used in the authorization request, or was issued to another client.',
  invalid_scope: 'The requested scope is invalid, unknown, or malformed.',
  unsupported_grant_type: 'The authorization grant type is not supported by the authorization server.',
  unsupported_response_type: 'The authorization server does not support obtaining a token using this method.',
  access_denied: 'the resource owner denied the request',
  server_error:
    'The authorization server encountered an unexpected condition that prevented it from fulfilling the request.',
  temporarily_unavailable:
    'The authorization server is currently unable to handle the request due to a temporary overloading or maintenance of the server.',
  invalid_state: 'The state is missing or does not have enough characters and is therefore considered too weak.',
}

/** The JSON body of an OAuth error, as the seed lists its fields. */
export interface OAuthErrorBody {
  error: string
  error_description: string
  error_hint: string
}

/** An OAuth error answer: its id, the standard description, a hint and the HTTP status. */
export class OAuthError extends Error {
  override readonly name = 'OAuthError'

  constructor(
    readonly error: OAuthErrorId,
    readonly hint: string,
  ) {
    super(`${error}: ${hint}`)
  }

  get description(): string {
    return DESCRIPTIONS[this.error]
  }

  /** RFC 6749 §5.2: 400, except 401 for a client that failed to authenticate. */
  get status(): number {
    if (this.error === 'invalid_client') return 401
    if (this.error === 'server_error') return 500
    if (this.error === 'temporarily_unavailable') return 503
    return 400
  }

  toJSON(): OAuthErrorBody {
    return { error: this.error, error_description: this.description, error_hint: this.hint }
  }
}

/** The standard description of an error id, or a generic one for ids the sandbox does not know. */
export function describeOAuthError(error: string): string {
  return error in DESCRIPTIONS ? DESCRIPTIONS[error as OAuthErrorId] : 'The authorization server could not handle the request.'
}
