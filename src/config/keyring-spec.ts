/** One encryption key of `TOKEN_ENCRYPTION_KEYS`. */
export interface KeySpec {
  kid: string
  key: Uint8Array
}

const KID = /^[A-Za-z0-9._-]{1,32}$/

/**
 * Parses `kid:base64url-32-bytes[,kid:key…]`. The first key seals, all open.
 * Returns the problems instead of throwing so config can report all at once.
 */
export function parseKeySpecs(text: string): { keys: KeySpec[]; problems: string[] } {
  const keys: KeySpec[] = []
  const problems: string[] = []
  const seen = new Set<string>()
  text.split(',').forEach((entry, index) => {
    const where = `TOKEN_ENCRYPTION_KEYS entry ${index + 1}`
    const colon = entry.indexOf(':')
    const kid = colon === -1 ? '' : entry.slice(0, colon).trim()
    const encoded = colon === -1 ? '' : entry.slice(colon + 1).trim()
    if (!KID.test(kid)) {
      problems.push(`${where}: expected kid:key with a kid of 1-32 letters, digits, '.', '_' or '-'`)
      return
    }
    if (seen.has(kid)) {
      problems.push(`${where}: kid "${kid}" appears twice`)
      return
    }
    const key = /^[A-Za-z0-9_-]{43}$/.test(encoded) ? Buffer.from(encoded, 'base64url') : undefined
    if (key?.length !== 32) {
      // Never echo the key itself: it is a secret even when malformed.
      problems.push(`${where} (kid "${kid}"): the key must be exactly 32 bytes in base64url (43 characters)`)
      return
    }
    seen.add(kid)
    keys.push({ kid, key: new Uint8Array(key) })
  })
  return { keys, problems }
}
