import { createHash, timingSafeEqual } from 'node:crypto'
import type { SandboxClient } from './options.js'
import { OAuthError } from './oauth-errors.js'

/** Credentials a token request carries, and how. */
interface ClientCredentials {
  clientId: string
  clientSecret: string
}

/** Whether an Authorization header uses the Basic scheme (invalid_client then asks for Basic again). */
export function usesBasicAuth(authorization: string | undefined): boolean {
  return authorization !== undefined && /^basic(\s|$)/i.test(authorization)
}

/**
 * Authenticates the client of a token request by `client_secret_basic` or `client_secret_post`.
 *
 * @throws OAuthError `invalid_client` for missing, conflicting, unknown or wrong credentials.
 */
export function authenticateClient(
  authorization: string | undefined,
  form: Readonly<Record<string, string>>,
  lookup: (id: string) => SandboxClient | undefined,
): SandboxClient {
  const credentials = readCredentials(authorization, form)
  const client = lookup(credentials.clientId)
  if (!client || !client.secrets.some((secret) => sameSecret(secret, credentials.clientSecret))) {
    throw new OAuthError('invalid_client', 'The client is unknown or the client secret is wrong.')
  }
  return client
}

function readCredentials(authorization: string | undefined, form: Readonly<Record<string, string>>): ClientCredentials {
  if (!usesBasicAuth(authorization)) {
    const { client_id: clientId, client_secret: clientSecret } = form
    if (!clientId || !clientSecret) {
      throw new OAuthError(
        'invalid_client',
        'Authenticate with client_id and client_secret in the body, or with HTTP Basic.',
      )
    }
    return { clientId, clientSecret }
  }
  const basic = decodeBasic(authorization as string)
  // RFC 6749 §2.3: "The client MUST NOT use more than one authentication method in each request."
  // Repeating the same client_id in the body is allowed (§2.3.1 lists it for Basic too); a
  // different id or secret is two methods disagreeing.
  if (
    (form.client_id !== undefined && form.client_id !== basic.clientId) ||
    (form.client_secret !== undefined && form.client_secret !== basic.clientSecret)
  ) {
    throw new OAuthError('invalid_client', 'The credentials in the Authorization header and in the body differ.')
  }
  return basic
}

// RFC 6749 §2.3.1: the client id and secret are encoded with application/x-www-form-urlencoded,
// then used as the user-id and password of RFC 2617 Basic.
function decodeBasic(authorization: string): ClientCredentials {
  const malformed = new OAuthError('invalid_client', 'The Basic credentials are malformed.')
  const encoded = authorization.slice('basic'.length).trim()
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) throw malformed
  const decoded = Buffer.from(encoded, 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  if (colon <= 0) throw malformed
  try {
    return { clientId: formDecode(decoded.slice(0, colon)), clientSecret: formDecode(decoded.slice(colon + 1)) }
  } catch {
    throw malformed
  }
}

function formDecode(value: string): string {
  return decodeURIComponent(value.replaceAll('+', ' '))
}

function sameSecret(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected).digest()
  const b = createHash('sha256').update(given).digest()
  return timingSafeEqual(a, b)
}
