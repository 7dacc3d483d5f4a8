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
  /**
   * Calls for this connection in this window: this one included when it counts, i.e. when
   * there is a connection and the app is within its own limit (a call the app's limit
   * refuses must not spend the budget every app shares for this user); 0 with no connection
   * or a revoked key.
   */
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

  async read(app: { id: string; keyId: string; rateLimit: number }, tenantId: string, userId: string, window: RateWindow): Promise<HandoutRead> {
    const connection = this.keys.connection(tenantId, userId)
    const counter = this.keys.connectionRate(tenantId, userId, window.index)
    if (this.oneScript) {
      const reply = await this.redis.obHandout(this.keys.app(app.id), this.keys.appRate(app.id, window.index), connection, counter, app.keyId, WINDOW_MS, app.rateLimit)
      const appUsed = Number(reply[0])
      if (appUsed === -1) return { appUsed, connectionUsed: 0, connection: undefined }
      return { appUsed, connectionUsed: Number(reply[1]), connection: record(reply, 2) }
    }
    const [appUsedReply, reply] = await Promise.all([
      this.redis.obAppCount(this.keys.app(app.id), this.keys.appRate(app.id, window.index), app.keyId, WINDOW_MS),
      this.redis.obConnRead(connection, counter, WINDOW_MS),
    ])
    const appUsed = Number(appUsedReply)
    const found = record(reply, 1)
    const connectionUsed = Number(reply[0])
    // The connection's count ran in parallel with the app's: a call the app may not make
    // (a revoked key, even a leaked one; past the app's own limit) is given back, or it
    // would spend the budget every app shares for this user. Only a counted call (there
    // is a record) is given back.
    const refused = appUsed === -1 || appUsed > app.rateLimit
    if (refused && found !== undefined) this.redis.obCountBack(counter).catch(() => undefined)
    if (appUsed === -1) return { appUsed, connectionUsed: 0, connection: undefined }
    return { appUsed, connectionUsed: refused && found !== undefined ? connectionUsed - 1 : connectionUsed, connection: found }
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
