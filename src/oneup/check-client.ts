import { randomToken } from '../crypto/random.js'
import { boundedFetch } from './bounded-fetch.js'
import { isOneUpErrorId } from './error-id.js'

/** What OneUp said of a client id and secret. */
export interface ClientCheck {
  /** true: OneUp accepts them; false: it does not; null: no verdict (OneUp unreachable or unexpected answer). */
  accepted: boolean | null
  /** OneUp's OAuth error id, when it answered with one. */
  oneup_error: string | null
  /** What it means, for people. */
  detail: string
}

/**
 * Asks OneUp whether it accepts a client id and secret without touching any
 * user's tokens: a refresh grant with a throw-away refresh token. The token
 * endpoint authenticates the client before it looks at the grant (RFC 6749
 * §5.2), so `invalid_grant` means the credentials are good and `invalid_client`
 * (or `unauthorized_client`) that they are not. The secret goes only to
 * OneUp's token endpoint, in the form body as the broker always sends it.
 */
export async function checkClient(
  tokenUrl: string,
  client: { id: string; secret: string },
  options: { fetch?: typeof fetch; timeoutMs: number },
): Promise<ClientCheck> {
  const form = new URLSearchParams({
    grant_type: 'refresh_token',
    refresh_token: `broker-check-${randomToken(24)}`,
    client_id: client.id,
    client_secret: client.secret,
  })
  let status: number
  let body: unknown
  try {
    const response = await boundedFetch(options.fetch ?? fetch)(tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form.toString(),
      signal: AbortSignal.timeout(options.timeoutMs),
    })
    status = response.status
    body = await response.json().catch(() => undefined)
  } catch (error) {
    const name = error instanceof Error ? error.name : 'Error'
    return { accepted: null, oneup_error: null, detail: `OneUp could not be reached (${name === 'TimeoutError' ? 'timed out' : name}).` }
  }
  const id = (body as { error?: unknown } | undefined)?.error
  const error = isOneUpErrorId(id) ? id : null
  if (error === 'invalid_grant') return { accepted: true, oneup_error: error, detail: 'OneUp accepts this client id and secret.' }
  if (error === 'invalid_client' || error === 'unauthorized_client') {
    return { accepted: false, oneup_error: error, detail: 'OneUp refuses this client id and secret.' }
  }
  return { accepted: null, oneup_error: error, detail: `OneUp answered ${status}${error === null ? '' : ` ${error}`}: no verdict.` }
}
