import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** `bytes` random bytes as base64url: 32 bytes give 256 bits. */
export const randomToken = (bytes = 32): string => randomBytes(bytes).toString('base64url')

/** SHA-256 as hex: how secrets are named in Redis, never stored themselves. */
export const sha256hex = (value: string): string => createHash('sha256').update(value).digest('hex')

/**
 * Compares two secrets in time independent of where they differ: both sides are
 * hashed first so lengths never leak either.
 */
export function secretsEqual(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest())
}

/** SHA-256 digest of a secret, to keep and compare against instead of the secret itself. */
export const secretDigest = (secret: string): Buffer => createHash('sha256').update(secret).digest()

/** Whether a presented secret hashes to a kept {@link secretDigest}, in constant time. */
export function matchesDigest(presented: string, digest: Buffer): boolean {
  return timingSafeEqual(secretDigest(presented), digest)
}
