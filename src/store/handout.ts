import { Cluster } from 'ioredis'
import type { ConnectionStatus } from './connections.js'
import type { RedisKeys } from './keys.js'
import type { RedisClient } from './redis.js'
import { WINDOW_MS, type RateWindow } from './window.js'

/** What the hand-out reads of a connection: enough to answer, or to refresh. */
export interface HandoutRecord {
  version: number
  status: ConnectionStatus
  sealed: string
  refreshedAt: number
}

export interface HandoutRead {
  /** Calls of the app in this window, this one included; -1 when its key has been revoked. */
  appUsed: number
  /** Calls for this connection in this window, this one included (0 when the key was revoked). */
  connectionUsed: number
  connection: HandoutRecord | undefined
}

/**
 * The hand-out's one Redis round trip: the app's counter (which also checks
 * the key is still active), the connection's counter, the connection's record.
 * On a standalone Redis that is one script; on Redis Cluster the app's and the
 * connection's keys live in different slots, so it is two scripts sent in the
 * same tick (auto-pipelined: still one round trip per node, in parallel).
 */
export class HandoutStore {
  private readonly oneScript: boolean

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    this.oneScript = !(redis instanceof Cluster)
  }

  async read(app: { id: string; keyId: string }, tenantId: string, userId: string, window: RateWindow): Promise<HandoutRead> {
    const connection = this.keys.connection(tenantId, userId)
    const counter = this.keys.connectionRate(tenantId, userId, window.index)
    if (this.oneScript) {
      const reply = await this.redis.obHandout(this.keys.app(app.id), this.keys.appRate(app.id, window.index), connection, counter, app.keyId, WINDOW_MS)
      const appUsed = Number(reply[0])
      if (appUsed === -1) return { appUsed, connectionUsed: 0, connection: undefined }
      return { appUsed, connectionUsed: Number(reply[1]), connection: record(reply, 2) }
    }
    const [appUsed, reply] = await Promise.all([
      this.redis.obAppCount(this.keys.app(app.id), this.keys.appRate(app.id, window.index), app.keyId, WINDOW_MS),
      this.redis.obConnRead(connection, counter, WINDOW_MS),
    ])
    if (Number(appUsed) === -1) {
      // A revoked key's call was counted against the connection in parallel: give it back,
      // or a leaked key, even revoked, could spend a user's budget.
      this.redis.obCountBack(counter).catch(() => undefined)
      return { appUsed: -1, connectionUsed: 0, connection: undefined }
    }
    return { appUsed: Number(appUsed), connectionUsed: Number(reply[0]), connection: record(reply, 1) }
  }
}

/** `v, status, sealed, refreshed_at` from a script's reply, or undefined when there is no record. */
function record(reply: Array<string | number | null>, at: number): HandoutRecord | undefined {
  const [version, status, sealed, refreshedAt] = reply.slice(at, at + 4)
  if (version === null || version === undefined) return undefined
  return {
    version: Number(version),
    status: status === 'active' ? 'active' : 'reauth_required',
    sealed: String(sealed ?? ''),
    refreshedAt: Number(refreshedAt ?? 0),
  }
}
