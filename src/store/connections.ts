import { Cluster } from 'ioredis'
import type { RedisClient } from './redis.js'
import type { RedisKeys } from './keys.js'
import { WINDOW_MS, type RateWindow } from './window.js'

export type ConnectionStatus = 'active' | 'reauth_required'

/** A connection as Redis holds it: sealed tokens plus plaintext metadata. */
export interface StoredConnection {
  /** Bumped by every write; the compare-and-set token. */
  version: number
  status: ConnectionStatus
  /** The sealed token set; empty once the connection needs reauthorization. */
  sealed: string
  /** The encryption key id `sealed` was sealed with. */
  kid: string
  scope: string
  /** The app whose connect session created it. */
  appId: string
  createdAt: number
  refreshedAt: number
  accessExpiresAt: number
}

export type ConnectionFields = Omit<StoredConnection, 'version' | 'createdAt'>

/**
 * How long a write to a Redis Cluster waits for a replica to acknowledge it.
 * A token set is the only copy of a rotated refresh token: a failover that
 * promoted a replica which had not received it would bring back a spent
 * token, and OneUp revokes the chain when it is presented again.
 */
export const REPLICA_ACK_TIMEOUT_MS = 500

function parse(flat: Array<string | number>, offset = 0): StoredConnection | undefined {
  if (flat.length <= offset) return undefined
  const hash: Record<string, string> = {}
  for (let i = offset; i + 1 < flat.length; i += 2) hash[String(flat[i])] = String(flat[i + 1])
  if (hash.v === undefined) return undefined
  return {
    version: Number(hash.v),
    status: hash.status === 'active' ? 'active' : 'reauth_required',
    sealed: hash.sealed ?? '',
    kid: hash.kid ?? '',
    scope: hash.scope ?? '',
    appId: hash.app_id ?? '',
    createdAt: Number(hash.created_at ?? 0),
    refreshedAt: Number(hash.refreshed_at ?? 0),
    accessExpiresAt: Number(hash.access_expires_at ?? 0),
  }
}

/**
 * Connection records, their refresh locks and cooldowns. Knows nothing of
 * sealing: it stores the sealed string it is given.
 */
export class ConnectionStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async read(tenantId: string, userId: string): Promise<StoredConnection | undefined> {
    const hash = await this.redis.hgetall(this.keys.connection(tenantId, userId))
    return parse(Object.entries(hash).flat())
  }

  /** Counts a call in the connection's window and reads it, in one round trip. */
  async countAndRead(
    tenantId: string,
    userId: string,
    window: RateWindow,
  ): Promise<{ used: number; connection: StoredConnection | undefined }> {
    const reply = await this.redis.obConnRead(
      this.keys.connection(tenantId, userId),
      this.keys.connectionRate(tenantId, userId, window.index),
      WINDOW_MS,
    )
    return { used: Number(reply[0]), connection: parse(reply, 1) }
  }

  /**
   * Writes the record if its version is still `expected` (`'any'` writes
   * regardless). Returns the new version, or undefined when someone else wrote
   * first, so a slow writer can never put back an older token set.
   */
  async write(
    tenantId: string,
    userId: string,
    expected: number | 'any',
    fields: ConnectionFields,
    now: number,
  ): Promise<number | undefined> {
    const args: [string, string, ...Array<string | number>] = [
      this.keys.connection(tenantId, userId),
      this.keys.tenantIndex(tenantId),
      expected === 'any' ? '*' : String(expected),
      userId,
      fields.refreshedAt,
      now,
      ...[
        'status', fields.status,
        'sealed', fields.sealed,
        'kid', fields.kid,
        'scope', fields.scope,
        'app_id', fields.appId,
        'refreshed_at', fields.refreshedAt,
        'access_expires_at', fields.accessExpiresAt,
      ],
    ]
    let version: number | null
    if (this.redis instanceof Cluster) {
      // WAIT has no key: in one pipeline with the write it goes to the master that took the write.
      // Its count is not checked: with no replica up the write still stands on the master.
      const replies = await this.redis.pipeline().obConnPut(...args).wait(1, REPLICA_ACK_TIMEOUT_MS).exec()
      const [error, reply] = replies?.[0] ?? [new Error('no reply to the write')]
      if (error) throw error
      version = reply as number | null
    } else {
      version = await this.redis.obConnPut(...args)
    }
    return version === null ? undefined : Number(version)
  }

  /** Deletes the record and its index entry; true when it existed. */
  async delete(tenantId: string, userId: string): Promise<boolean> {
    const deleted = await this.redis.obConnDelete(this.keys.connection(tenantId, userId), this.keys.tenantIndex(tenantId), userId)
    return deleted === 1
  }

  /** Takes the connection's refresh lock for `owner` if free. */
  async lock(tenantId: string, userId: string, owner: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.keys.refreshLock(tenantId, userId), owner, 'PX', ttlMs, 'NX')) === 'OK'
  }

  /** Releases the lock only if `owner` still holds it (compare-and-delete). */
  async unlock(tenantId: string, userId: string, owner: string): Promise<void> {
    await this.redis.obUnlock(this.keys.refreshLock(tenantId, userId), owner)
  }

  /** Marks the connection as cooling down after a OneUp failure. */
  async coolDown(tenantId: string, userId: string, ms: number): Promise<void> {
    await this.redis.set(this.keys.refreshCooldown(tenantId, userId), '1', 'PX', ms)
  }

  /** Version, whether a refresh is in flight somewhere, and cooldown left (ms, 0 if none). */
  async probe(tenantId: string, userId: string): Promise<{ version: number | undefined; locked: boolean; cooldownMs: number }> {
    const [version, locked, cooldown] = await this.redis.obConnProbe(
      this.keys.connection(tenantId, userId),
      this.keys.refreshLock(tenantId, userId),
      this.keys.refreshCooldown(tenantId, userId),
    )
    return {
      version: version === null ? undefined : Number(version),
      locked: Number(locked) === 1,
      cooldownMs: Math.max(0, Number(cooldown)),
    }
  }
}
