import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/** `bytes` random bytes as base64url: 32 bytes give 256 bits. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url')

/**
 * SHA-256 as hex: how secrets are named in Redis, never stored themselves.
 * `hash()` is the one-shot form (no Hash object): the hand-out runs it on
 * every app key it sees, and it costs a third of `createHash`'s chain.
 */
export const sha256hex = (value: string): string => hash('sha256', value, 'hex')

/**
 * Compares two secrets in time independent of where they differ: both sides are
 * hashed first so lengths never leak either.
 */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(secretDigest(a), secretDigest(b))
}

/** SHA-256 digest of a secret, to keep and compare against instead of the secret itself. */
export const secretDigest = (secret: string): Buffer => hash('sha256', secret, 'buffer')

/** Whether a presented secret hashes to a kept {@link secretDigest}, in constant time. */
export function matchesDigest(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), digest)
}
