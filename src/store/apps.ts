import type { RedisClient } from './redis.js'
import type { RedisKeys } from './keys.js'
import { WINDOW_MS, type RateWindow } from './window.js'

export interface StoredAppKey {
  keyId: string
  /** SHA-256 (hex) of the whole key: the key itself is never stored. */
  hash: string
  createdAt: number
  lastUsedAt: number | undefined
}

export interface StoredApp {
  id: string
  name: string
  /** Tenant ids this app may serve; `["*"]` for all. */
  tenants: string[]
  /** Origins its users may be sent back to. */
  returnOrigins: string[]
  /** Calls per 15-minute window. */
  rateLimit: number
  createdAt: number
  keys: StoredAppKey[]
}

const keyField = (keyId: string) => `key:${keyId}`

function parse(id: string, hash: Record<string, string>): StoredApp | undefined {
  if (hash.name === undefined) return undefined
  const keys: StoredAppKey[] = []
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('key:')) continue
    const keyId = field.slice(4)
    const [keyHash = '', createdAt = '0'] = value.split(' ')
    const used = hash[`used:${keyId}`]
    keys.push({ keyId, hash: keyHash, createdAt: Number(createdAt), lastUsedAt: used === undefined ? undefined : Number(used) })
  }
  keys.sort((a, b) => a.createdAt - b.createdAt)
  return {
    id,
    name: hash.name,
    tenants: JSON.parse(hash.tenants ?? '[]') as string[],
    returnOrigins: JSON.parse(hash.return_origins ?? '[]') as string[],
    rateLimit: Number(hash.rate_limit),
    createdAt: Number(hash.created_at),
    keys,
  }
}

/** Internal apps and their key hashes. */
export class AppStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async create(app: Omit<StoredApp, 'keys'>, firstKey: StoredAppKey): Promise<void> {
    await this.redis.hset(this.keys.app(app.id), {
      name: app.name,
      tenants: JSON.stringify(app.tenants),
      return_origins: JSON.stringify(app.returnOrigins),
      rate_limit: String(app.rateLimit),
      created_at: String(app.createdAt),
      [keyField(firstKey.keyId)]: `${firstKey.hash} ${firstKey.createdAt}`,
    })
    await this.redis.sadd(this.keys.appIndex(), app.id)
  }

  async get(id: string): Promise<StoredApp | undefined> {
    return parse(id, await this.redis.hgetall(this.keys.app(id)))
  }

  async list(): Promise<StoredApp[]> {
    const ids = (await this.redis.smembers(this.keys.appIndex())).sort()
    const apps = await Promise.all(ids.map((id) => this.get(id)))
    return apps.filter((app): app is StoredApp => app !== undefined)
  }

  /** Adds a key unless the app has `maxKeys` already. */
  async addKey(appId: string, key: StoredAppKey, maxKeys: number): Promise<'added' | 'full' | 'no_app'> {
    const result = await this.redis.obAppAddKey(this.keys.app(appId), key.keyId, `${key.hash} ${key.createdAt}`, maxKeys)
    return result === 1 ? 'added' : result === 0 ? 'full' : 'no_app'
  }

  /** Revokes a key: it stops authenticating on every replica at its next call. */
  async revokeKey(appId: string, keyId: string): Promise<boolean> {
    return (await this.redis.hdel(this.keys.app(appId), keyField(keyId), `used:${keyId}`)) > 0
  }

  /**
   * Records when a key was last used (callers throttle this; it is not on every call),
   * only while the key is on the app: a write racing its revocation would outlive it.
   */
  async touchKey(appId: string, keyId: string, at: number): Promise<void> {
    await this.redis.obTouchKey(this.keys.app(appId), keyId, at)
  }

  /** Whether the key is still on its app (not revoked). */
  async hasKey(appId: string, keyId: string): Promise<boolean> {
    return (await this.redis.hexists(this.keys.app(appId), keyField(keyId))) === 1
  }

  /** Counts a call in the app's window; -1 when the key has been revoked. */
  async count(appId: string, keyId: string, window: RateWindow): Promise<number> {
    return Number(await this.redis.obAppCount(this.keys.app(appId), this.keys.appRate(appId, window.index), keyId, WINDOW_MS))
  }
}
