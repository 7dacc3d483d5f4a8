import { timingSafeEqual } from 'node:crypto'
import { sha256hex } from '../crypto/random.js'
import { fail } from '../errors.js'
import { rateState, type RateState } from '../limits.js'
import type { AppStore, StoredApp } from '../store/apps.js'
import type { RateWindow } from '../store/window.js'
import { appIdOfKey } from './keys.js'

/** The app behind a request, as the routes see it. */
export interface AuthenticatedApp {
  id: string
  keyId: string
  name: string
  tenants: readonly string[]
  returnOrigins: readonly string[]
  rateLimit: number
}

export const allowsTenant = (app: Pick<AuthenticatedApp, 'tenants'>, tenantId: string): boolean =>
  app.tenants.includes('*') || app.tenants.includes(tenantId)

/** Stand-ins compared against when the app is unknown; no key hashes to them. */
const DECOY_KEYS = [
  { keyId: 'decoy-1', hash: sha256hex('decoy key 1'), createdAt: 0, lastUsedAt: undefined },
  { keyId: 'decoy-2', hash: sha256hex('decoy key 2'), createdAt: 0, lastUsedAt: undefined },
]

const CACHE_MS = 60_000
const CACHE_MAX = 10_000

/**
 * Checks app keys against their stored SHA-256 hashes. A key that was checked
 * once is remembered for a minute by its hash (so the hot path does no extra
 * Redis read); revocation still takes effect at once, because every counted
 * call runs a script that checks the key is still on the app.
 *
 * An unknown app and a wrong secret for a known app take the same path (one
 * read of the app, a constant-time comparison against each of its ≤2 hashes)
 * and give the same answer.
 */
export class AppAuthenticator {
  private readonly cache = new Map<string, { app: AuthenticatedApp; until: number }>()

  constructor(
    private readonly apps: AppStore,
    private readonly now: () => number = Date.now,
    /** Told of every authenticated call (last-used times; it throttles itself). */
    private readonly onUse: (app: AuthenticatedApp) => void = () => undefined,
  ) {}

  async authenticate(key: string | undefined): Promise<AuthenticatedApp> {
    if (key === undefined || key === '') throw fail('Unauthorized', { reason: 'Send the app key as Authorization: Bearer <key>.' })
    const hash = sha256hex(key)
    const cached = this.fromCache(hash)
    if (cached !== undefined) return cached

    const appId = appIdOfKey(key)
    const stored = appId === undefined ? undefined : await this.apps.get(appId)
    // An unknown app is compared against decoys, and every candidate is compared (no early
    // exit): an unknown app and a wrong secret do the same work and give the same answer.
    let match: StoredApp['keys'][number] | undefined
    for (const candidate of stored?.keys ?? DECOY_KEYS) if (hashesEqual(candidate.hash, hash)) match ??= candidate
    if (stored === undefined || match === undefined) throw fail('Unauthorized', { reason: 'Unknown or revoked app key.' })

    const app = toAuthenticated(stored, match.keyId)
    if (this.cache.size >= CACHE_MAX) this.cache.clear()
    this.cache.set(hash, { app, until: this.now() + CACHE_MS })
    this.onUse(app)
    return app
  }

  /**
   * The app of a key this replica verified within the last minute, from
   * memory (no Redis, and the per-IP failure limit need not look), or
   * undefined: then call {@link authenticate}.
   */
  cached(key: string | undefined): AuthenticatedApp | undefined {
    if (key === undefined || key === '') return undefined
    return this.fromCache(sha256hex(key))
  }

  /** A live cache entry's app by key hash (its use reported), or undefined. */
  private fromCache(hash: string): AuthenticatedApp | undefined {
    const entry = this.cache.get(hash)
    if (entry === undefined || entry.until <= this.now()) return undefined
    this.onUse(entry.app)
    return entry.app
  }

  /**
   * Counts one call in the app's 15-minute window and returns its rate state.
   * This is also where a revoked key is caught: the count script refuses it.
   */
  async count(app: AuthenticatedApp, window: RateWindow): Promise<RateState> {
    return this.settle(app, await this.apps.count(app.id, app.keyId, window), window)
  }

  /**
   * The rate state of a count the caller made itself (the hand-out counts in
   * its own script); `used` -1 means the key has been revoked: forgotten here,
   * and 401.
   */
  settle(app: AuthenticatedApp, used: number, window: RateWindow): RateState {
    if (used === -1) {
      for (const [hash, entry] of this.cache) if (entry.app.id === app.id && entry.app.keyId === app.keyId) this.cache.delete(hash)
      throw fail('Unauthorized', { reason: 'Unknown or revoked app key.' })
    }
    return rateState(app.rateLimit, used, window)
  }
}

function toAuthenticated(app: StoredApp, keyId: string): AuthenticatedApp {
  return { id: app.id, keyId, name: app.name, tenants: app.tenants, returnOrigins: app.returnOrigins, rateLimit: app.rateLimit }
}

function hashesEqual(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b))
}
