import type { BrokerEvents } from '../events.js'
import type { Log } from '../log.js'
import type { RedisKeys } from '../store/keys.js'
import type { RedisClient } from '../store/redis.js'

/** One audit entry as `GET /v1/admin/audit` shows it. Ids only, never a secret. */
export interface AuditEntry {
  id: string
  at: string
  /** `admin`, `app:<id>`, or `broker` (the broker itself, e.g. OneUp refused a refresh). */
  actor: string
  action: string
  [detail: string]: string | number | null
}

/** Details an entry may carry: ids and counts, never a key, token or secret. */
export type AuditDetails = Record<string, string | number | null | undefined>

const STREAM_ID = /^\d{1,20}-\d{1,20}$/

/**
 * The audit log: admin actions and connection lifecycle events, in a Redis
 * stream capped at about `maxEntries` (`XADD … MAXLEN ~`), newest first when read.
 */
export class AuditLog {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly maxEntries: number,
    private readonly now: () => number = Date.now,
  ) {}

  async record(actor: string, action: string, details: AuditDetails = {}): Promise<void> {
    const entry: Record<string, string | number | null> = { at: this.now(), actor, action }
    for (const [name, value] of Object.entries(details)) if (value !== undefined) entry[name] = value
    await this.redis.xadd(this.keys.audit(), 'MAXLEN', '~', this.maxEntries, '*', 'e', JSON.stringify(entry))
  }

  /** A page, newest first; `before` is the `next_cursor` of the previous page. */
  async list(limit: number, before: string | undefined): Promise<{ items: AuditEntry[]; next_cursor: string | null }> {
    // Nothing comes before the first possible id (and Redis refuses an exclusive range from it).
    if (before !== undefined && before.split('-').every((part) => BigInt(part) === 0n)) return { items: [], next_cursor: null }
    const start = before === undefined ? '+' : `(${before}`
    const rows = await this.redis.xrevrange(this.keys.audit(), start, '-', 'COUNT', limit + 1)
    const items = rows.slice(0, limit).map(([id, fields]) => {
      const entry = JSON.parse(fields[1] ?? '{}') as Record<string, string | number | null>
      return { ...entry, id, at: new Date(Number(entry.at)).toISOString(), actor: String(entry.actor), action: String(entry.action) }
    })
    return { items, next_cursor: rows.length > limit ? (items.at(-1)?.id ?? null) : null }
  }

  /** Records the connection lifecycle events of the domain (never waits on them). */
  subscribe(events: BrokerEvents, log: Log): void {
    const write = (actor: string, action: string, details: AuditDetails) => {
      this.record(actor, action, details).catch((error: unknown) => log.error({ err: error, action }, 'could not write an audit entry'))
    }
    // The app key involved (the one that made the connect link, or called the deletion): when a
    // key has leaked, ops can tell what was done with it.
    const withKey = (keyId: string | undefined) => (keyId === undefined ? {} : { key_id: keyId })
    events.on('connection.created', ({ tenantId, userId, appId, keyId }) =>
      write(`app:${appId}`, 'connection.created', { tenant_id: tenantId, user_id: userId, app_id: appId, ...withKey(keyId) }),
    )
    events.on('connection.reauth_required', ({ tenantId, userId, appId }) =>
      write('broker', 'connection.reauth_required', { tenant_id: tenantId, user_id: userId, app_id: appId }),
    )
    events.on('connection.deleted', ({ tenantId, userId, appId, actor, keyId }) =>
      write(actor, 'connection.deleted', { tenant_id: tenantId, user_id: userId, app_id: appId, ...withKey(keyId) }),
    )
  }
}

/** Each half of a stream id is an unsigned 64-bit number. */
const MAX_ID_PART = 2n ** 64n - 1n

/** Whether a text is a stream id, i.e. an audit cursor. */
export const isAuditCursor = (text: string): boolean => STREAM_ID.test(text) && text.split('-').every((part) => BigInt(part) <= MAX_ID_PART)
