import { BrokerError, fail } from '../errors.js'
import type { BrokerEvents } from '../events.js'
import { byteOrder, type ConnectionStore, type IndexCursor, type StoredConnection } from '../store/connections.js'
import { isRedisUnavailable } from '../store/redis.js'
import { encodeCursor, within, type ListQuery, type Position } from './query.js'

/** Bulk deletion takes at most this many ids (the seed's bulk deletion limit). */
export const MAX_BULK_IDS = 50

/**
 * A listing examines at most this many index entries per request: with a
 * filter the indexes cannot serve (e.g. on `created_at` while sorted by
 * `refreshed_at`), a page may come back short, with a `next_cursor` to go on.
 */
export const MAX_SCAN = 1000

/** Which tenants a caller may see: an app's list, or every tenant (`*` apps and ops). */
export type TenantScope = readonly string[]

/** Who asks: an app (its id, and the key it called with) or ops. Goes into `connection.deleted` and the audit log. */
export type Actor = { name: `app:${string}`; keyId: string } | { name: 'admin' }

/** A connection as the API shows it: metadata only, never a token. */
export interface ConnectionView {
  tenant_id: string
  user_id: string
  status: StoredConnection['status']
  scope: string
  created_at: string
  refreshed_at: string
  access_expires_at: string | null
  key_id: string | null
  /** The app whose connect session made it (ops' views only). */
  app_id?: string
}

export interface BulkResult {
  success_count: number
  error_count: number
  successes: Array<ConnectionView & { id: string }>
  errors: Array<{ id: string; error: ReturnType<BrokerError['toJSON']>['error'] }>
}

const iso = (ms: number) => new Date(ms).toISOString()

/** The API's view of a record; `withApp` adds the creating app (ops only). */
export function viewOf(tenantId: string, userId: string, c: Omit<StoredConnection, 'sealed'> & { sealed?: string }, withApp = false): ConnectionView {
  const sealed = c.sealed === undefined ? c.status === 'active' : c.sealed !== ''
  const view: ConnectionView = {
    tenant_id: tenantId,
    user_id: userId,
    status: c.status,
    scope: c.scope,
    created_at: iso(c.createdAt),
    refreshed_at: iso(c.refreshedAt),
    access_expires_at: c.accessExpiresAt > 0 ? iso(c.accessExpiresAt) : null,
    // A reauth_required record holds no tokens, so it is sealed with no key.
    key_id: sealed && c.kid !== '' ? c.kid : null,
  }
  if (withApp) view.app_id = c.appId
  return view
}

const allows = (scope: TenantScope, tenantId: string) => scope.includes('*') || scope.includes(tenantId)
const notFound = () => fail('NotFound', { reason: 'No connection for this tenant and user.' })

/**
 * Listing, reading and deleting connections, for apps (scoped to their
 * tenants) and ops (every tenant). Lists come from the per-tenant indexes the
 * connection scripts keep, never from a keyspace scan.
 */
export class ConnectionService {
  constructor(
    private readonly deps: { store: ConnectionStore; events: BrokerEvents },
  ) {}

  /** `GET …/connections`: a page in sort order, and the cursor of the next one (null at the end). */
  async list(scope: TenantScope, query: ListQuery, withApp = false): Promise<{ items: ConnectionView[]; next_cursor: string | null }> {
    const { store } = this.deps
    let tenants = scope.includes('*') ? await store.tenants() : [...scope].sort(byteOrder)
    if (query.tenantsIn !== undefined) {
      if (!query.tenantsIn.every((t) => allows(scope, t))) throw fail('NotFound', { reason: 'No such tenant for this app.' })
      tenants = [...query.tenantsIn].sort(byteOrder)
    }
    tenants = tenants.filter((t) => !query.tenantsOut.includes(t))

    const { field, direction } = query.sort
    const range = query.time[field]
    const items: ConnectionView[] = []
    if (tenants.length === 0 || query.statuses.length === 0 || range?.length === 0) return { items, next_cursor: null }
    const min = range?.[0]?.[0]
    const max = range?.at(-1)?.[1]
    const sign = direction === 'asc' ? 1 : -1
    const order = (a: Position, b: Position) =>
      sign * (a.score - b.score || byteOrder(a.tenantId, b.tenantId) || byteOrder(a.userId, b.userId))

    let position = query.after
    let scanned = 0
    for (;;) {
      const want = query.limit - items.length + 1
      const pages = await Promise.all(
        tenants.map(async (tenantId) => {
          const entries = await store.page(tenantId, {
            statuses: query.statuses,
            by: field,
            direction,
            min,
            max,
            after: position === undefined ? undefined : cursorFor(tenantId, position, direction),
            limit: want,
          })
          return { full: entries.length === want, entries: entries.map((e) => ({ score: e.score, tenantId, userId: e.userId })) }
        }),
      )
      const candidates = pages.flatMap((p) => p.entries).sort(order).slice(0, want)
      const more = pages.some((p) => p.full)
      const records = await Promise.all(candidates.map((c) => store.read(c.tenantId, c.userId)))
      for (const [index, candidate] of candidates.entries()) {
        if (items.length === query.limit) return { items, next_cursor: encodeCursor(query.sort, position as Position) }
        position = candidate
        scanned += 1
        const record = records[index]
        if (record !== undefined && this.matches(record, query)) items.push(viewOf(candidate.tenantId, candidate.userId, record, withApp))
      }
      if (candidates.length < want && !more) return { items, next_cursor: null }
      if (scanned >= MAX_SCAN && position !== undefined) return { items, next_cursor: encodeCursor(query.sort, position) }
    }
  }

  /** `GET …/connections/:tenant_id/:user_id`; 404 for a tenant out of scope (reads never say it exists). */
  async get(scope: TenantScope, tenantId: string, userId: string, withApp = false): Promise<ConnectionView> {
    if (!allows(scope, tenantId)) throw notFound()
    const record = await this.deps.store.read(tenantId, userId)
    if (record === undefined) throw notFound()
    return viewOf(tenantId, userId, record, withApp)
  }

  /** `DELETE …/connections/:tenant_id/:user_id`: the tokens are gone from Redis; 403 out of scope. */
  async delete(scope: TenantScope, tenantId: string, userId: string, actor: Actor, withApp = false): Promise<ConnectionView> {
    if (!allows(scope, tenantId)) throw fail('TenantForbidden')
    const deleted = await this.deps.store.delete(tenantId, userId)
    if (deleted === undefined) throw notFound()
    this.deps.events.emit('connection.deleted', { tenantId, userId, appId: deleted.appId, actor: actor.name, ...('keyId' in actor ? { keyId: actor.keyId } : {}) })
    return viewOf(tenantId, userId, deleted, withApp)
  }

  /**
   * Bulk deletion (the seed's "Bulk Deletion"): every id is tried, whatever
   * happens to the others; each lands in `successes` or in `errors` with the
   * error it would have had alone.
   */
  async deleteMany(
    scope: TenantScope,
    ids: ReadonlyArray<{ id: string; tenantId: string; userId: string }>,
    actor: Actor,
    withApp = false,
  ): Promise<BulkResult> {
    const outcomes = await Promise.all(
      ids.map(async ({ id, tenantId, userId }) => {
        try {
          return { id, view: await this.delete(scope, tenantId, userId, actor, withApp) }
        } catch (error) {
          const brokerError =
            error instanceof BrokerError ? error : new BrokerError(isRedisUnavailable(error) ? 'StoreUnavailable' : 'Internal', { cause: error })
          return { id, error: brokerError }
        }
      }),
    )
    const result: BulkResult = { success_count: 0, error_count: 0, successes: [], errors: [] }
    for (const outcome of outcomes) {
      if (outcome.view !== undefined) result.successes.push({ id: outcome.id, ...outcome.view })
      else if (outcome.error !== undefined) result.errors.push({ id: outcome.id, error: outcome.error.toJSON().error })
    }
    result.success_count = result.successes.length
    result.error_count = result.errors.length
    return result
  }

  private matches(record: StoredConnection, query: ListQuery): boolean {
    if (!query.statuses.includes(record.status)) return false
    // A connection with no access token (reauth_required) shows access_expires_at: null,
    // which no comparison matches, rather than 1970.
    const values = { refreshed_at: record.refreshedAt, created_at: record.createdAt, access_expires_at: record.accessExpiresAt > 0 ? record.accessExpiresAt : undefined }
    return Object.entries(query.time).every(([field, intervals]) => {
      const value = values[field as keyof typeof values]
      return value !== undefined && within(intervals, value)
    })
  }
}

/**
 * How a tenant's entries compare with a position of the merged order
 * (score, tenant, user): the position's own tenant compares by user id; a
 * tenant sorted after it has every entry at the position's score past it; one
 * sorted before has none.
 */
export function cursorFor(tenantId: string, position: Position, direction: 'asc' | 'desc'): IndexCursor {
  const side = byteOrder(tenantId, position.tenantId) * (direction === 'asc' ? 1 : -1)
  return { score: position.score, userId: position.userId, mode: side === 0 ? 'exact' : side > 0 ? 'all' : 'none' }
}
