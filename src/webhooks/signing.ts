import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Webhook signatures as the Standard Webhooks specification has them
 * (https://www.standardwebhooks.com), so receivers can verify with an
 * off-the-shelf library:
 * - `webhook-id`: the event id (the same on every retry: de-duplicate on it);
 * - `webhook-timestamp`: Unix seconds of this attempt;
 * - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`,
 *   one per active signing secret, space-separated, so a receiver holding
 *   either secret verifies during a rotation.
 * A secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes.
 */

/** A new signing secret (shown once). */
export const newSigningSecret = (): string => `whsec_${randomBytes(32).toString('base64')}`

const keyOf = (secret: string) => Buffer.from(secret.replace(/^whsec_/, ''), 'base64')

/** The `v1,<base64>` signature of one message with one secret. */
export function sign(secret: string, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', keyOf(secret)).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

/** The headers of one delivery attempt. */
export function signedHeaders(secrets: readonly string[], id: string, timestamp: number, body: string): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
    'webhook-signature': secrets.map((secret) => sign(secret, id, timestamp, body)).join(' '),
  }
}

/**
 * What a receiver does (exported for tests and as a reference): true when one
 * of the signatures matches the secret and the timestamp is within `toleranceS`.
 */
export function verify(secret: string, headers: Record<string, string | undefined>, body: string, nowS: number, toleranceS = 300): boolean {
  const id = headers['webhook-id']
  const timestamp = Number(headers['webhook-timestamp'])
  if (id === undefined || !Number.isSafeInteger(timestamp) || Math.abs(nowS - timestamp) > toleranceS) return false
  const expected = Buffer.from(sign(secret, id, timestamp, body))
  return (headers['webhook-signature'] ?? '').split(' ').some((candidate) => {
    const given = Buffer.from(candidate)
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
