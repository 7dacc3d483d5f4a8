import { fail } from '../errors.js'
import { ID_PATTERN } from '../http/schemas.js'
import type { ConnectionStatus } from '../store/connections.js'

/**
 * The seed's filter and sort syntax ("Filter", "Sorting") for connection
 * listings, parsed into something the listing can run:
 *
 *   ?status=eq:active&refreshed_at=gte:2026-01-01 AND lte:2026-03-31&sort=-refreshed_at
 *
 * A clause is `comparator:operand` (`lt`, `lte`, `gt`, `gte`, `eq`, `not`) or a
 * bare operand (`eq`); clauses joined by ` AND ` must all hold. A date operand
 * (`2026-03-31`) stands for that whole UTC day, so `lte:2026-03-31` includes
 * the 31st, as in the seed's "2020 first quarter" example; a date-time
 * (`2026-03-31T12:00:00Z`) is one instant.
 */

export type SortField = 'refreshed_at' | 'created_at'
export const SORT_FIELDS: readonly SortField[] = ['refreshed_at', 'created_at']
export const STATUSES: readonly ConnectionStatus[] = ['active', 'reauth_required']
export const TIME_FILTERS = ['refreshed_at', 'created_at', 'access_expires_at'] as const
export type TimeField = (typeof TIME_FILTERS)[number]

/** Inclusive ms intervals, disjoint and sorted; `[]` matches nothing. */
export type Intervals = Array<[number, number]>

export const DEFAULT_LIMIT = 50
export const MAX_LIMIT = 100

/** A listing request, parsed and checked. */
export interface ListQuery {
  statuses: ConnectionStatus[]
  /** Tenants named by `tenant_id` (`eq`), or undefined for every tenant in scope. */
  tenantsIn: string[] | undefined
  /** Tenants excluded by `tenant_id=not:…`. */
  tenantsOut: string[]
  time: Partial<Record<TimeField, Intervals>>
  sort: { field: SortField; direction: 'asc' | 'desc' }
  limit: number
  after: Position | undefined
}

/** Where a listing stopped: the last entry it looked at, in sort order. */
export interface Position {
  score: number
  tenantId: string
  userId: string
}

type Raw = Record<string, unknown>

const COMPARATORS = ['lt', 'lte', 'gt', 'gte', 'eq', 'not'] as const
type Comparator = (typeof COMPARATORS)[number]
const ALL: Intervals = [[Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER]]
const DAY_MS = 86_400_000
const DATE = /^\d{4}-\d{2}-\d{2}$/
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2})$/
const ID = new RegExp(ID_PATTERN)

const invalid = (field: string, rule: string) => fail('InvalidField', { reason: `querystring/${field} ${rule}` })

/** A query parameter's value: the last one when repeated (the seed's "last value wins"). */
export function single(raw: Raw, name: string): string | undefined {
  const value = raw[name]
  const last = Array.isArray(value) ? value.at(-1) : value
  return typeof last === 'string' ? last : undefined
}

/** Splits `gte:2026-01-01 AND lte:2026-03-31` into comparator/operand clauses. */
function clauses(field: string, text: string): Array<{ op: Comparator; operand: string }> {
  const parts = text.split(/\s+AND\s+/i).map((part) => part.trim())
  if (parts.length > 10 || parts.some((part) => part === '')) throw invalid(field, 'must be clauses like gte:2026-01-01 joined by " AND "')
  return parts.map((part) => {
    const colon = part.indexOf(':')
    const head = colon === -1 ? '' : part.slice(0, colon)
    if ((COMPARATORS as readonly string[]).includes(head)) return { op: head as Comparator, operand: part.slice(colon + 1) }
    return { op: 'eq', operand: part }
  })
}

/** The instants an operand stands for: a whole UTC day for a date, one ms for a date-time. */
function instants(field: string, operand: string): [number, number] {
  if (DATE.test(operand)) {
    const start = dayStart(operand)
    if (start !== undefined) return [start, start + DAY_MS - 1]
  } else if (DATE_TIME.test(operand) && dayStart(operand.slice(0, 10)) !== undefined && !operand.includes('T24:')) {
    const at = Date.parse(operand)
    if (!Number.isNaN(at)) return [at, at]
  }
  throw invalid(field, 'must compare with a date (2026-03-31) or a date-time (2026-03-31T12:00:00Z)')
}

/** The first instant of a calendar day, or undefined for a day that does not exist (V8 rolls 02-30 into March). */
function dayStart(date: string): number | undefined {
  const start = Date.parse(`${date}T00:00:00Z`)
  return !Number.isNaN(start) && new Date(start).toISOString().startsWith(date) ? start : undefined
}

/** The intervals one comparison selects. */
function compare(op: Comparator, [a, b]: [number, number]): Intervals {
  const [min, max] = ALL[0] as [number, number]
  switch (op) {
    case 'eq':
      return [[a, b]]
    case 'not':
      return [[min, a - 1], [b + 1, max]]
    case 'lt':
      return [[min, a - 1]]
    case 'lte':
      return [[min, b]]
    case 'gt':
      return [[b + 1, max]]
    case 'gte':
      return [[a, max]]
  }
}

/** Intersection of two sorted disjoint interval lists. */
export function intersect(x: Intervals, y: Intervals): Intervals {
  const out: Intervals = []
  for (const [a1, b1] of x) {
    for (const [a2, b2] of y) {
      const lo = Math.max(a1, a2)
      const hi = Math.min(b1, b2)
      if (lo <= hi) out.push([lo, hi])
    }
  }
  return out.sort((p, q) => p[0] - q[0])
}

/** Parses a time filter (`refreshed_at=gte:2026-01-01 AND lte:2026-03-31`). */
export function parseTimeFilter(field: string, text: string): Intervals {
  return clauses(field, text).reduce<Intervals>((acc, { op, operand }) => intersect(acc, compare(op, instants(field, operand))), ALL)
}

/** Whether a value falls in one of the intervals. */
export const within = (intervals: Intervals, value: number): boolean => intervals.some(([a, b]) => value >= a && value <= b)

function parseStatus(text: string): ConnectionStatus[] {
  let allowed = [...STATUSES]
  for (const { op, operand } of clauses('status', text)) {
    const status = STATUSES.find((s) => s === operand)
    if (status === undefined || (op !== 'eq' && op !== 'not')) throw invalid('status', 'must be eq: or not: active or reauth_required')
    allowed = allowed.filter((s) => (op === 'eq' ? s === status : s !== status))
  }
  return allowed
}

function parseTenant(text: string): { tenantsIn: string[] | undefined; tenantsOut: string[] } {
  let tenantsIn: string[] | undefined
  const tenantsOut: string[] = []
  for (const { op, operand } of clauses('tenant_id', text)) {
    if (!ID.test(operand) || (op !== 'eq' && op !== 'not')) throw invalid('tenant_id', 'must be eq: or not: a tenant id')
    if (op === 'eq') tenantsIn = (tenantsIn ?? [operand]).filter((t) => t === operand)
    else tenantsOut.push(operand)
  }
  return { tenantsIn, tenantsOut }
}

function parseSort(text: string | undefined): ListQuery['sort'] {
  if (text === undefined) return { field: 'created_at', direction: 'desc' }
  // `+` in a query string decodes to a space: `sort=+created_at` arrives as " created_at".
  const match = /^([ +-]?)([a-z_]+)$/.exec(text)
  const field = SORT_FIELDS.find((f) => f === match?.[2])
  if (match === null || field === undefined) throw invalid('sort', `must be one of ${SORT_FIELDS.map((f) => `-${f}`).join(', ')} (or +)`)
  return { field, direction: match[1] === '-' ? 'desc' : 'asc' }
}

function parseLimit(text: string | undefined): number {
  if (text === undefined) return DEFAULT_LIMIT
  const limit = /^\d{1,3}$/.test(text) ? Number(text) : Number.NaN
  if (!(limit >= 1 && limit <= MAX_LIMIT)) throw invalid('limit', `must be an integer from 1 to ${MAX_LIMIT}`)
  return limit
}

/** The opaque `next_cursor`: where the listing stopped, and under which sort. */
export function encodeCursor(sort: ListQuery['sort'], position: Position): string {
  const text = JSON.stringify([`${sort.direction === 'desc' ? '-' : '+'}${sort.field}`, position.score, position.tenantId, position.userId])
  return Buffer.from(text).toString('base64url')
}

function decodeCursor(text: string | undefined, sort: ListQuery['sort']): Position | undefined {
  if (text === undefined) return undefined
  let parsed: unknown
  try {
    parsed = /^[A-Za-z0-9_-]{1,1024}$/.test(text) ? JSON.parse(Buffer.from(text, 'base64url').toString()) : undefined
  } catch {
    parsed = undefined
  }
  const sortKey = `${sort.direction === 'desc' ? '-' : '+'}${sort.field}`
  if (
    !Array.isArray(parsed) ||
    parsed.length !== 4 ||
    parsed[0] !== sortKey ||
    !Number.isSafeInteger(parsed[1]) ||
    typeof parsed[2] !== 'string' ||
    !ID.test(parsed[2]) ||
    typeof parsed[3] !== 'string' ||
    !ID.test(parsed[3])
  ) {
    throw invalid('cursor', 'must be a next_cursor of a listing with the same sort')
  }
  return { score: parsed[1] as number, tenantId: parsed[2], userId: parsed[3] }
}

/**
 * Parses a listing's query string. Unknown parameters are ignored (the seed's
 * "non existent fields"); a malformed known one is a 422 (code 3) naming it.
 */
export function parseListQuery(raw: Raw): ListQuery {
  const status = single(raw, 'status')
  const tenant = single(raw, 'tenant_id')
  const sort = parseSort(single(raw, 'sort'))
  const time: ListQuery['time'] = {}
  for (const field of TIME_FILTERS) {
    const text = single(raw, field)
    if (text !== undefined) time[field] = parseTimeFilter(field, text)
  }
  return {
    statuses: status === undefined ? [...STATUSES] : parseStatus(status),
    ...(tenant === undefined ? { tenantsIn: undefined, tenantsOut: [] } : parseTenant(tenant)),
    time,
    sort,
    limit: parseLimit(single(raw, 'limit')),
    after: decodeCursor(single(raw, 'cursor'), sort),
  }
}

/** Bulk deletion's `ids` (`tenant:user,…`, at most `max`); undefined when missing or malformed (a 400). */
export function parseIds(text: string | undefined, max: number): Array<{ id: string; tenantId: string; userId: string }> | undefined {
  if (text === undefined || text === '') return undefined
  const ids = text.split(',')
  if (ids.length > max) return undefined
  const out: Array<{ id: string; tenantId: string; userId: string }> = []
  for (const id of ids) {
    const [tenantId = '', userId = '', extra] = id.split(':')
    if (extra !== undefined || !ID.test(tenantId) || !ID.test(userId)) return undefined
    out.push({ id, tenantId, userId })
  }
  return out
}
