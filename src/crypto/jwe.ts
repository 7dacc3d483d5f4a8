import { createCipheriv, createDecipheriv } from 'node:crypto'
import { randomBytesPooled } from './random.js'

/**
 * JWE compact serialisation, `alg: "dir"` + `enc: "A256GCM"` only (RFC 7516 +
 * RFC 7518 §5.3), with `node:crypto`. The format is the standard one (jose opens
 * what this seals and the other way round: see test/unit/jwe.test.ts); doing it
 * here rather than through jose's WebCrypto path makes a seal or an open cost
 * microseconds instead of a few hundred, which the hand-out and the connect
 * redirect need (README, Performance).
 */

export interface ProtectedHeader {
  alg: 'dir'
  enc: 'A256GCM'
  kid: string
  [name: string]: unknown
}

const IV_BYTES = 12
const TAG_BYTES = 16
const B64URL = /^[A-Za-z0-9_-]*$/

/** Encrypts `plaintext` under `key` (32 bytes); the whole header is authenticated. */
export function encryptCompact(plaintext: Uint8Array, header: ProtectedHeader, key: Uint8Array): string {
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url')
  // A fresh random 96-bit IV per seal (NIST SP 800-38D §8.2.2), never reused.
  const iv = randomBytesPooled(IV_BYTES)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  // RFC 7516 §5.1 step 14: the AAD is the ASCII of the encoded protected header.
  cipher.setAAD(Buffer.from(encodedHeader, 'ascii'))
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()])
  return `${encodedHeader}..${iv.toString('base64url')}.${ciphertext.toString('base64url')}.${cipher.getAuthTag().toString('base64url')}`
}

/** The protected header of a compact JWE, parsed but not yet trusted; undefined if malformed. */
export function readHeader(jwe: string): ProtectedHeader | undefined {
  const encoded = jwe.slice(0, jwe.indexOf('.'))
  if (encoded === '' || !B64URL.test(encoded)) return undefined
  try {
    const header = JSON.parse(Buffer.from(encoded, 'base64url').toString('utf8')) as unknown
    if (typeof header !== 'object' || header === null || Array.isArray(header)) return undefined
    const { alg, enc, kid } = header as Record<string, unknown>
    // Only what we seal: no other algorithm, no compression, no critical extensions.
    if (alg !== 'dir' || enc !== 'A256GCM' || typeof kid !== 'string') return undefined
    if ('zip' in header || 'crit' in header) return undefined
    return header as ProtectedHeader
  } catch {
    return undefined
  }
}

/**
 * Decrypts a compact JWE sealed as above, with the key its `kid` names.
 * Returns undefined on any failure (malformed, unknown key, tampered).
 */
export function decryptCompact(
  jwe: string,
  keyFor: (kid: string) => Uint8Array | undefined,
): { plaintext: Buffer; header: ProtectedHeader } | undefined {
  const parts = jwe.split('.')
  if (parts.length !== 5 || parts[1] !== '') return undefined
  const [encodedHeader = '', , ivText = '', ciphertextText = '', tagText = ''] = parts
  if (![ivText, ciphertextText, tagText].every((part) => B64URL.test(part))) return undefined
  const header = readHeader(jwe)
  const key = header === undefined ? undefined : keyFor(header.kid)
  if (header === undefined || key === undefined) return undefined
  const iv = Buffer.from(ivText, 'base64url')
  const tag = Buffer.from(tagText, 'base64url')
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) return undefined
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
    decipher.setAAD(Buffer.from(encodedHeader, 'ascii'))
    decipher.setAuthTag(tag)
    const plaintext = Buffer.concat([decipher.update(Buffer.from(ciphertextText, 'base64url')), decipher.final()])
    return { plaintext, header }
  } catch {
    return undefined
  }
}
