import { decryptCompact, encryptCompact, readHeader } from './jwe.js'
import type { KeySpec } from '../config/keyring-spec.js'

/** A record could not be opened: unknown key, tampered, or bound to something else. */
export class SealError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SealError'
  }
}

/**
 * Seals JSON payloads as JWE compact serialisations (`dir` + `A256GCM`, the key
 * id in `kid`; see ./jwe.ts), each bound to what it belongs to through a `bnd`
 * protected header. The protected header is the AEAD's additional data (RFC 7516 §5.1
 * step 14), so a record copied under another user's key fails to open.
 */
export interface Sealer {
  /** The key id new records are sealed with. */
  readonly primaryKid: string
  seal(payload: unknown, binding: string): Promise<string>
  /** Opens and checks the binding; throws {@link SealError} on any mismatch. */
  open<T>(jwe: string, binding: string): Promise<T>
}

/** Builds a sealer over a keyring: the first key seals, every key opens. */
export function createSealer(keys: readonly KeySpec[]): Sealer {
  const primary = keys[0]
  if (primary === undefined) throw new TypeError('createSealer needs at least one key')
  const byKid = new Map(keys.map((k) => [k.kid, k.key]))

  return {
    primaryKid: primary.kid,

    async seal(payload, binding) {
      return encryptCompact(Buffer.from(JSON.stringify(payload)), { alg: 'dir', enc: 'A256GCM', kid: primary.kid, bnd: binding }, primary.key)
    },

    async open<T>(jwe: string, binding: string): Promise<T> {
      const opened = decryptCompact(jwe, (kid) => byKid.get(kid))
      if (opened === undefined) throw new SealError(whyNotOpened(jwe, byKid))
      // The binding header is ours to check (it is authenticated, not interpreted, by AES-GCM).
      if (opened.header.bnd !== binding) throw new SealError('the record is bound to something else')
      return JSON.parse(opened.plaintext.toString('utf8')) as T
    },
  }
}

/** What ops need to fix a record that does not open: is its key missing, or the record damaged? */
function whyNotOpened(jwe: string, byKid: ReadonlyMap<string, Uint8Array>): string {
  const kid = sealedKid(jwe)
  // A key id is an ops label, not a secret; one that is not a plain label is not repeated.
  if (kid === undefined || !/^[\w.-]{1,64}$/.test(kid)) return 'the record does not open: it is malformed'
  if (!byKid.has(kid)) return `the record is sealed with key id "${kid}", which TOKEN_ENCRYPTION_KEYS does not hold`
  return `the record does not open with key id "${kid}": it was tampered with, or that key id now names another key`
}

/** The key id a record was sealed with, without opening it; undefined if unreadable. */
export function sealedKid(jwe: string): string | undefined {
  return readHeader(jwe)?.kid
}
