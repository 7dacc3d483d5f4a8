import { Cluster, type ChainableCommander } from 'ioredis'
import type { RedisClient } from './redis.js'
import type { ConnectionIndexField, ConnectionIndexStatus, RedisKeys } from './keys.js'

export type ConnectionStatus = 'active' | 'reauth_required'

/** A connection as Redis holds it: sealed tokens plus plaintext metadata. */
export interface StoredConnection {
  /** A new one at every write, never repeated for a key (see `obConnPut`): the compare-and-set token. */
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

/** A position in an index, and how entries with its score compare to it (see `obConnPage`). */
export interface IndexCursor {
  score: number
  userId: string
  mode: 'all' | 'none' | 'exact'
}

export interface IndexPageQuery {
  statuses: readonly ConnectionIndexStatus[]
  by: ConnectionIndexField
  direction: 'asc' | 'desc'
  /** Inclusive score bounds (ms); undefined for none. */
  min?: number | undefined
  max?: number | undefined
  after?: IndexCursor | undefined
  limit: number
}

/** Compares ids in byte order, as Redis orders members (ids are ASCII, so UTF-16 order is byte order). */
export const byteOrder = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0)

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
    // A new connection may be a new tenant: register it first, so that the
    // tenant is never missing from cross-tenant listings and jobs (a tenant
    // registered without a record costs one empty read; the reverse would hide one).
    if (expected === 'any') await this.redis.sadd(this.keys.tenants(), tenantId)
    const args: Array<string | number> = [
      ...this.recordKeys(tenantId, userId),
      this.keys.versions(tenantId),
      expected === 'any' ? '*' : String(expected),
      userId,
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
    const version = await this.acknowledged<number | null>(
      () => this.redis.obConnPut(...args),
      (pipeline) => pipeline.obConnPut(...args),
    )
    return version === null ? undefined : Number(version)
  }

  /**
   * Replaces a record's sealed token set with the same tokens sealed under the
   * key `kid`, if its version is still `expected`; the version is kept (see
   * `obConnReseal`). Returns false when the record changed meanwhile.
   */
  async reseal(tenantId: string, userId: string, expected: number, sealed: string, kid: string): Promise<boolean> {
    const keys = [this.keys.connection(tenantId, userId), this.keys.tenantKids(tenantId)] as const
    const written = await this.acknowledged<number>(
      () => this.redis.obConnReseal(...keys, expected, sealed, kid),
      (pipeline) => pipeline.obConnReseal(...keys, expected, sealed, kid),
    )
    return Number(written) === 1
  }

  /**
   * Runs a record write; on Redis Cluster, waits for a replica to have it too
   * (see {@link REPLICA_ACK_TIMEOUT_MS}): the record may hold the only copy of a
   * rotated refresh token, or the only copy sealed under a key about to be retired.
   */
  private async acknowledged<T>(send: () => Promise<unknown>, inPipeline: (pipeline: ChainableCommander) => ChainableCommander): Promise<T> {
    if (!(this.redis instanceof Cluster)) return (await send()) as T
    // WAIT has no key: in one pipeline with the write it goes to the master that took the write.
    // Its count is not checked: with no replica up the write still stands on the master.
    const replies = await inPipeline(this.redis.pipeline()).wait(1, REPLICA_ACK_TIMEOUT_MS).exec()
    const [error, reply] = replies?.[0] ?? [new Error('no reply to the write')]
    if (error) throw error
    return reply as T
  }

  /**
   * Deletes the record, its index entries and its key count in one step.
   * Returns what it was (without its tokens), or undefined when there was none.
   */
  async delete(tenantId: string, userId: string): Promise<Omit<StoredConnection, 'sealed'> | undefined> {
    const flat = await this.redis.obConnDelete(...this.recordKeys(tenantId, userId), userId)
    const deleted = parse(flat)
    if (deleted === undefined) return undefined
    const { sealed: _sealed, ...metadata } = deleted
    return metadata
  }

  /** Reads several records of one tenant (pipelined); undefined where there is none. */
  async readMany(tenantId: string, userIds: readonly string[]): Promise<Array<StoredConnection | undefined>> {
    return Promise.all(userIds.map((userId) => this.read(tenantId, userId)))
  }

  /**
   * One page of a tenant's index for the given statuses, sorted by `by`: see
   * the `obConnPage` script for the cursor's meaning.
   */
  async page(tenantId: string, query: IndexPageQuery): Promise<Array<{ userId: string; score: number }>> {
    const indexes = query.statuses.map((status) => this.keys.connectionIndex(tenantId, status, query.by))
    const cursor = query.after
    const flat = await this.redis.obConnPage(
      indexes.length,
      ...indexes,
      query.direction,
      query.min === undefined ? '-inf' : String(query.min),
      query.max === undefined ? '+inf' : String(query.max),
      cursor === undefined ? '' : String(cursor.score),
      cursor === undefined ? 'exact' : cursor.mode,
      cursor?.userId ?? '',
      query.limit,
    )
    const out: Array<{ userId: string; score: number }> = []
    for (let i = 0; i + 1 < flat.length; i += 2) out.push({ userId: String(flat[i]), score: Number(flat[i + 1]) })
    return out
  }

  /** Every tenant that ever had a connection, sorted. */
  async tenants(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.tenants())).sort(byteOrder)
  }

  /** How many of a tenant's records are sealed with each key id. */
  async kidCounts(tenantId: string): Promise<Record<string, number>> {
    const hash = await this.redis.hgetall(this.keys.tenantKids(tenantId))
    const counts: Record<string, number> = {}
    for (const [kid, count] of Object.entries(hash)) if (Number(count) > 0) counts[kid] = Number(count)
    return counts
  }

  /** The record, its four index keys and its tenant's key counts: what obConnDelete touches (obConnPut adds the version counter). */
  private recordKeys(tenantId: string, userId: string): string[] {
    const { keys } = this
    return [
      keys.connection(tenantId, userId),
      keys.connectionIndex(tenantId, 'active', 'refreshed_at'),
      keys.connectionIndex(tenantId, 'active', 'created_at'),
      keys.connectionIndex(tenantId, 'reauth_required', 'refreshed_at'),
      keys.connectionIndex(tenantId, 'reauth_required', 'created_at'),
      keys.tenantKids(tenantId),
    ]
  }

  /** Releases the lock only if `owner` still holds it (compare-and-delete). */
  async unlock(tenantId: string, userId: string, owner: string): Promise<void> {
    await this.redis.obUnlock(this.keys.refreshLock(tenantId, userId), owner)
  }

  /**
   * Marks the connection as cooling down after a OneUp failure, for the record
   * at `version` only: a connection made again meanwhile is not held back.
   */
  async coolDown(tenantId: string, userId: string, version: number, ms: number): Promise<void> {
    await this.redis.set(this.keys.refreshCooldown(tenantId, userId), String(version), 'PX', ms)
  }

  /**
   * Starts a refresh of the record the caller saw (`seenVersion`): takes the
   * refresh lock for `owner` unless the record changed meanwhile, is cooling
   * down, or another holder is refreshing. One round trip (`obRefreshBegin`).
   */
  async beginRefresh(tenantId: string, userId: string, seenVersion: number, owner: string, lockMs: number): Promise<RefreshStart> {
    const [state, detail] = await this.redis.obRefreshBegin(
      this.keys.connection(tenantId, userId),
      this.keys.refreshLock(tenantId, userId),
      this.keys.refreshCooldown(tenantId, userId),
      seenVersion,
      owner,
      lockMs,
    )
    if (state === 0) return { kind: 'missing' }
    if (state === 2) return { kind: 'cooling', ms: Number(detail) }
    if (state === 3) return { kind: 'locked' }
    // With 1 and 4 the script read the record in the same atomic step that found its version.
    const connection = parse(detail as string[]) as StoredConnection
    return state === 1 ? { kind: 'changed', connection } : { kind: 'acquired', connection }
  }
}

/** What `beginRefresh` found. */
export type RefreshStart =
  | { kind: 'missing' }
  | { kind: 'changed'; connection: StoredConnection }
  | { kind: 'cooling'; ms: number }
  | { kind: 'locked' }
  | { kind: 'acquired'; connection: StoredConnection }
