import t from 'tap'
import { BrokerError } from '../../src/errors.js'
import { encodeCursor, intersect, parseIds, parseListQuery, parseTimeFilter, within } from '../../src/connections/query.js'
import { cursorFor } from '../../src/connections/service.js'

const DAY = 86_400_000
const at = (iso: string) => Date.parse(iso)

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn()
  } catch (error) {
    return error instanceof BrokerError ? `${error.code} ${error.reason ?? ''}` : 'not a BrokerError'
  }
  return undefined
}

t.test("a date range in the seed's syntax includes both whole days", async (t) => {
  const q1 = parseTimeFilter('refreshed_at', 'gte:2026-01-01 AND lte:2026-03-31')
  t.same(q1, [[at('2026-01-01T00:00:00Z'), at('2026-04-01T00:00:00Z') - 1]])
  t.ok(within(q1, at('2026-03-31T23:59:59.999Z')), 'the last millisecond of the 31st is in')
  t.notOk(within(q1, at('2026-04-01T00:00:00Z')))
  t.notOk(within(q1, at('2025-12-31T23:59:59.999Z')))
})

t.test('each comparator selects what its name says, on days and on instants', async (t) => {
  const day = at('2026-03-10T00:00:00Z')
  const cases: Array<[string, number, boolean]> = [
    ['lt:2026-03-10', day - 1, true],
    ['lt:2026-03-10', day, false],
    ['lte:2026-03-10', day + DAY - 1, true],
    ['lte:2026-03-10', day + DAY, false],
    ['gt:2026-03-10', day + DAY - 1, false],
    ['gt:2026-03-10', day + DAY, true],
    ['gte:2026-03-10', day, true],
    ['gte:2026-03-10', day - 1, false],
    ['eq:2026-03-10', day + 5, true],
    ['2026-03-10', day + DAY, false],
    ['not:2026-03-10', day + 5, false],
    ['not:2026-03-10', day - 1, true],
    ['not:2026-03-10', day + DAY, true],
    ['gt:2026-03-10T12:00:00Z', day + DAY / 2, false],
    ['gt:2026-03-10T12:00:00Z', day + DAY / 2 + 1, true],
    ['lte:2026-03-10T12:00:00+02:00', day + DAY / 2 - 2 * 3_600_000, true],
    ['lte:2026-03-10T12:00:00+02:00', day + DAY / 2, false],
  ]
  for (const [filter, value, expected] of cases) t.equal(within(parseTimeFilter('created_at', filter), value), expected, `${filter} ${new Date(value).toISOString()}`)
})

t.test('contradictory clauses match nothing, and intersections stay sorted', async (t) => {
  t.same(parseTimeFilter('created_at', 'gt:2026-03-10 AND lt:2026-03-01'), [])
  t.same(intersect([[0, 10], [20, 30]], [[5, 25]]), [[5, 10], [20, 25]])
})

t.test('malformed filters, sorts, limits and cursors are 422 (code 3) naming the parameter', async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ refreshed_at: 'gte:yesterday' }, /querystring\/refreshed_at/],
    [{ refreshed_at: 'gte:2026-02-30' }, /querystring\/refreshed_at/],
    [{ refreshed_at: 'eq:2026-02-30T00:00:00Z' }, /querystring\/refreshed_at/],
    [{ access_expires_at: 'lt:2026-11-31T00:00+01:00' }, /querystring\/access_expires_at/],
    [{ created_at: 'gt:2026-01-01T24:00:00Z' }, /querystring\/created_at/],
    [{ created_at: 'gte:2026-01-01 AND ' }, /querystring\/created_at/],
    [{ status: 'eq:gone' }, /querystring\/status/],
    [{ status: 'gt:active' }, /querystring\/status/],
    [{ tenant_id: 'eq:bad tenant' }, /querystring\/tenant_id/],
    [{ tenant_id: 'lt:acme' }, /querystring\/tenant_id/],
    [{ sort: 'name' }, /querystring\/sort/],
    [{ sort: '--created_at' }, /querystring\/sort/],
    [{ limit: '0' }, /querystring\/limit/],
    [{ limit: '101' }, /querystring\/limit/],
    [{ limit: '5.5' }, /querystring\/limit/],
    [{ cursor: 'nonsense' }, /querystring\/cursor/],
    [{ cursor: encodeCursor({ field: 'created_at', direction: 'desc' }, { score: 1, tenantId: 'a', userId: 'b' }), sort: '-refreshed_at' }, /querystring\/cursor/],
    [{ cursor: Buffer.from('["-created_at",1,"a b","c"]').toString('base64url') }, /querystring\/cursor/],
  ]
  for (const [query, field] of bad) {
    const result = codeOf(() => parseListQuery(query))
    t.match(result, /^3 /, JSON.stringify(query))
    t.match(result, field)
  }
})

t.test('a listing query defaults to the newest connections first, 50 a page, every status', async (t) => {
  t.same(parseListQuery({}), {
    statuses: ['active', 'reauth_required'],
    tenantsIn: undefined,
    tenantsOut: [],
    time: {},
    sort: { field: 'created_at', direction: 'desc' },
    limit: 50,
    after: undefined,
  })
  const q = parseListQuery({ status: ['eq:reauth_required', 'not:reauth_required'], sort: ' refreshed_at', limit: '10', tenant_id: 'eq:acme', unknown: 'ignored' })
  t.same(q.statuses, ['active', 'reauth_required'].filter((s) => s !== 'reauth_required'), 'a repeated parameter: the last one wins')
  t.same(q.sort, { field: 'refreshed_at', direction: 'asc' }, "'+' decoded to a space still means ascending")
  t.same(q.tenantsIn, ['acme'])
  const cursor = encodeCursor(q.sort, { score: 5, tenantId: 'acme', userId: 'bob' })
  t.same(parseListQuery({ sort: '+refreshed_at', cursor }).after, { score: 5, tenantId: 'acme', userId: 'bob' })
})

t.test("bulk deletion ids are tenant:user pairs, at most the limit, anything else a 400", async (t) => {
  t.same(parseIds('acme:alice,globex:bob@x', 50), [
    { id: 'acme:alice', tenantId: 'acme', userId: 'alice' },
    { id: 'globex:bob@x', tenantId: 'globex', userId: 'bob@x' },
  ])
  for (const ids of [undefined, '', 'acme', 'acme:', ':alice', 'a:b:c', 'acme:al ice', 'acme:alice,', Array.from({ length: 51 }, (_, i) => `t:u${i}`).join(',')]) {
    t.equal(parseIds(ids, 50), undefined, String(ids).slice(0, 40))
  }
  t.equal(parseIds(Array.from({ length: 50 }, (_, i) => `t:u${i}`).join(','), 50)?.length, 50)
})

t.test('a position compares with another tenant by tenant id, and with its own by user id', async (t) => {
  const position = { score: 7, tenantId: 'm', userId: 'u' }
  t.equal(cursorFor('m', position, 'asc').mode, 'exact')
  t.equal(cursorFor('z', position, 'asc').mode, 'all', 'a later tenant: every entry at the same score comes after')
  t.equal(cursorFor('a', position, 'asc').mode, 'none')
  t.equal(cursorFor('z', position, 'desc').mode, 'none')
  t.equal(cursorFor('a', position, 'desc').mode, 'all')
})
