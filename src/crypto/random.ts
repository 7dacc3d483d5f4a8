import { hash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Random bytes come from a pool refilled 4 KiB at a time: each call to the
 * CSPRNG costs about 3 µs whatever its size (32 bytes and 2 KiB alike, on this
 * project's machine), and a connect redirect needs four draws. Every byte is
 * handed out once, as in Node's own `randomUUID` cache.
 */
const POOL_BYTES = 4096
let pool = Buffer.alloc(0)
let poolOffset = 0

/** `bytes` fresh random bytes (a copy: never shared with a later caller). */
export function randomBytesPooled(bytes: number): Buffer {
  if (bytes > POOL_BYTES) return randomBytes(bytes)
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(POOL_BYTES)
    poolOffset = 0
  }
  const out = Buffer.from(pool.subarray(poolOffset, poolOffset + bytes))
  poolOffset += bytes
  return out
}

/** `bytes` random bytes as base64url: 32 bytes give 256 bits. */
export const randomToken = (bytes = 32): string => randomBytesPooled(bytes).toString('base64url')

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
