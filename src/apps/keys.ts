import { randomBytes } from 'node:crypto'
import { randomToken, sha256hex } from '../crypto/random.js'

const KEY_FORMAT = /^obk_(app_[0-9a-f]{16})_[A-Za-z0-9_-]{43}$/

export const newAppId = (): string => `app_${randomBytes(8).toString('hex')}`
export const newKeyId = (): string => `key_${randomBytes(6).toString('hex')}`

/**
 * A new app key: `obk_<app id>_<256 random bits>`. The app id inside lets the
 * broker find the app's key hashes in one read; the random part is the secret.
 */
export function newAppKey(appId: string): { key: string; hash: string } {
  const key = `obk_${appId}_${randomToken(32)}`
  return { key, hash: sha256hex(key) }
}

/** The app id a presented key claims, or undefined when it is not shaped like a key. */
export function appIdOfKey(key: string): string | undefined {
  return KEY_FORMAT.exec(key)?.[1]
}
