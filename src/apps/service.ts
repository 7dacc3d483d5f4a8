import { fail } from '../errors.js'
import type { AppStore, StoredApp } from '../store/apps.js'
import { newAppId, newAppKey, newKeyId } from './keys.js'

/** An app may hold this many active keys: enough to rotate one without downtime. */
export const MAX_KEYS_PER_APP = 2

/** Default calls per 15-minute window: a busy backend asks for thousands of tokens a second. */
export const DEFAULT_APP_RATE_LIMIT = 1_000_000

export interface NewApp {
  name: string
  tenants: string[]
  returnOrigins: string[]
  rateLimit?: number
}

/** What ops see of an app: never a key, only key ids. */
export interface AppView {
  id: string
  name: string
  tenants: string[]
  return_origins: string[]
  rate_limit: number
  created_at: string
  keys: Array<{ key_id: string; created_at: string; last_used_at: string | null }>
}

/**
 * Normalises an allowed return origin: exactly `scheme://host[:port]`, http or
 * https, nothing else (no path, no userinfo). Returns undefined when it is not one.
 */
export function normaliseOrigin(text: string): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return undefined
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined
  if (url.username !== '' || url.password !== '' || url.origin === 'null') return undefined
  // Anything beyond the origin (a path, a query, a fragment, even empty) means the caller meant
  // something we would not enforce. What the URL parser itself normalises (case, a default port
  // such as :443 or :80, an IDN host) is the same origin: accepted, stored normalised.
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || /[?#]/.test(text)) return undefined
  return url.origin
}

/** Registering internal apps and rotating their keys. Keys are shown once, stored as hashes. */
export class AppService {
  constructor(
    private readonly apps: AppStore,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: NewApp): Promise<{ id: string; key_id: string; key: string }> {
    const origins = input.returnOrigins.map((origin, index) => {
      const normal = normaliseOrigin(origin)
      if (normal === undefined) {
        throw fail('InvalidField', { reason: `return_origins/${index} must be an origin like https://app.example.com` })
      }
      return normal
    })
    if (input.tenants.includes('*') && input.tenants.length > 1) {
      throw fail('InvalidField', { reason: 'tenants must be ["*"] alone, or a list of tenant ids' })
    }
    const id = newAppId()
    const keyId = newKeyId()
    const { key, hash } = newAppKey(id)
    const now = this.now()
    await this.apps.create(
      {
        id,
        name: input.name,
        tenants: [...new Set(input.tenants)],
        returnOrigins: [...new Set(origins)],
        rateLimit: input.rateLimit ?? DEFAULT_APP_RATE_LIMIT,
        createdAt: now,
      },
      { keyId, hash, createdAt: now, lastUsedAt: undefined },
    )
    return { id, key_id: keyId, key }
  }

  async list(): Promise<AppView[]> {
    return (await this.apps.list()).map(view)
  }

  /** A second key for rotation; refused (422, code 30) while the app has two. */
  async addKey(appId: string): Promise<{ key_id: string; key: string }> {
    const keyId = newKeyId()
    const { key, hash } = newAppKey(appId)
    const result = await this.apps.addKey(appId, { keyId, hash, createdAt: this.now(), lastUsedAt: undefined }, MAX_KEYS_PER_APP)
    if (result === 'no_app') throw fail('NotFound', { reason: 'No such app.' })
    if (result === 'full') {
      throw fail('BusinessRule', { reason: `An app has at most ${MAX_KEYS_PER_APP} active keys: revoke one first.` })
    }
    return { key_id: keyId, key }
  }

  async revokeKey(appId: string, keyId: string): Promise<void> {
    if (!(await this.apps.revokeKey(appId, keyId))) throw fail('NotFound', { reason: 'No such key on this app.' })
  }
}

function view(app: StoredApp): AppView {
  const iso = (ms: number) => new Date(ms).toISOString()
  return {
    id: app.id,
    name: app.name,
    tenants: app.tenants,
    return_origins: app.returnOrigins,
    rate_limit: app.rateLimit,
    created_at: iso(app.createdAt),
    keys: app.keys.map((k) => ({ key_id: k.keyId, created_at: iso(k.createdAt), last_used_at: k.lastUsedAt === undefined ? null : iso(k.lastUsedAt) })),
  }
}
