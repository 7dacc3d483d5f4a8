import t from 'tap'
import { BrokerEvents } from '../../src/events.js'
import { ADMIN_KEY, startHarness, type Harness } from '../helpers/harness.js'
import { testRedis } from '../helpers/redis.js'

const admin = { authorization: `Bearer ${ADMIN_KEY}` }
const DAY = 86_400_000
const T0 = Date.parse('2026-01-10T09:00:00Z')

/** Stores a connection straight through the broker's store (as the callback would), at a given time. */
async function seed(h: Harness, tenantId: string, userId: string, at: number, status: 'active' | 'reauth_required' = 'active'): Promise<void> {
  const { connections, opener } = h.app.broker
  const tokens = { accessToken: `ory_at_${userId}`, refreshToken: `ory_rt_${userId}`, accessExpiresAt: at + 3_600_000, scope: 'offline_access' }
  const sealed = status === 'active' ? await opener.seal(tenantId, userId, tokens) : ''
  await connections.write(tenantId, userId, 'any', { status, sealed, kid: opener.primaryKid, scope: 'offline_access', appId: 'app_seed', refreshedAt: at, accessExpiresAt: status === 'active' ? at + 3_600_000 : 0 }, at)
}

type Item = { tenant_id: string; user_id: string; status: string; created_at: string; refreshed_at: string }

/** Follows next_cursor to the end; returns every item in order and how many pages it took. */
async function listAll(h: Harness, key: string, query: string): Promise<{ items: Item[]; pages: number }> {
  const items: Item[] = []
  let cursor: string | null = null
  let pages = 0
  do {
    const res = await h.asApp(key, 'GET', `/v1/connections?${query}${cursor === null ? '' : `&cursor=${cursor}`}`)
    if (res.statusCode !== 200) throw new Error(`list: ${res.statusCode} ${res.body}`)
    const body = res.json() as { items: Item[]; next_cursor: string | null }
    items.push(...body.items)
    cursor = body.next_cursor
    pages += 1
  } while (cursor !== null && pages < 100)
  return { items, pages }
}

const ids = (items: Item[]) => items.map((i) => `${i.tenant_id}:${i.user_id}`)

t.test('listing walks every connection of every tenant exactly once, in sort order, a page at a time, even when times tie', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const expected: Array<{ id: string; at: number }> = []
  // Many connections share one millisecond: pages must split ties by tenant then user.
  for (const tenant of ['globex', 'acme', 'initech']) {
    for (let i = 0; i < 9; i += 1) {
      const at = T0 + (i % 3) * 1000
      await seed(h, tenant, `user-${i}`, at)
      expected.push({ id: `${tenant}:user-${i}`, at })
    }
  }
  const byTime = (direction: 1 | -1) => (a: { id: string; at: number }, b: { id: string; at: number }) =>
    direction * (a.at - b.at || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))

  const newest = await listAll(h, key, 'limit=4')
  t.same(ids(newest.items), expected.slice().sort(byTime(-1)).map((e) => e.id), 'newest first by default')
  t.equal(newest.pages, 7, '27 connections in pages of 4')

  const oldest = await listAll(h, key, 'sort=%2Bcreated_at&limit=5')
  t.same(ids(oldest.items), expected.slice().sort(byTime(1)).map((e) => e.id), '+created_at: oldest first')

  const one = await h.asApp(key, 'GET', '/v1/connections?limit=1')
  t.equal(one.json().items.length, 1)
  t.type(one.json().next_cursor, 'string')
  t.equal(one.headers['x-ratelimit-limit'], '1000000', 'counted in the app window like every app call')
  const wrongSort = await h.asApp(key, 'GET', `/v1/connections?sort=-refreshed_at&cursor=${one.json().next_cursor}`)
  t.equal(wrongSort.statusCode, 422, 'a cursor belongs to its sort')
  t.equal(wrongSort.json().error.code, '3')
})

t.test("filters and sorting follow the seed: status, a refreshed_at range, sort=-refreshed_at", async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  await seed(h, 'acme', 'jan', Date.parse('2026-01-15T10:00:00Z'))
  await seed(h, 'acme', 'feb', Date.parse('2026-02-15T10:00:00Z'))
  await seed(h, 'acme', 'mar-last', Date.parse('2026-03-31T23:59:59Z'))
  await seed(h, 'acme', 'apr', Date.parse('2026-04-01T00:00:00Z'))
  await seed(h, 'globex', 'feb-gone', Date.parse('2026-02-20T10:00:00Z'), 'reauth_required')
  await seed(h, 'globex', 'dec', Date.parse('2025-12-31T23:59:59Z'))

  const q1 = await listAll(h, key, `refreshed_at=${encodeURIComponent('gte:2026-01-01 AND lte:2026-03-31')}&sort=-refreshed_at`)
  t.same(ids(q1.items), ['acme:mar-last', 'globex:feb-gone', 'acme:feb', 'acme:jan'], 'the first quarter, the 31st of March included, newest refresh first')

  const active = await listAll(h, key, `status=eq:active&refreshed_at=${encodeURIComponent('gte:2026-01-01 AND lte:2026-03-31')}&sort=-refreshed_at`)
  t.same(ids(active.items), ['acme:mar-last', 'acme:feb', 'acme:jan'])

  const reauth = await listAll(h, key, 'status=reauth_required')
  t.same(ids(reauth.items), ['globex:feb-gone'])
  t.match(reauth.items[0], { status: 'reauth_required', key_id: null, access_expires_at: null }, 'a connection needing its user holds no tokens')
  for (const filter of ['lt:2000-01-01', 'eq:1970-01-01', 'not:2026-02-20', 'lte:2026-12-31']) {
    const items = (await listAll(h, key, `access_expires_at=${encodeURIComponent(filter)}&tenant_id=eq:globex`)).items
    t.notOk(ids(items).includes('globex:feb-gone'), `access_expires_at=${filter} never matches a null access_expires_at`)
  }

  const notFeb = await listAll(h, key, `refreshed_at=not:2026-02-15&sort=%2Brefreshed_at&tenant_id=eq:acme`)
  t.same(ids(notFeb.items), ['acme:jan', 'acme:mar-last', 'acme:apr'], 'not: excludes the whole day; tenant_id narrows to one tenant')

  // A filter the index cannot serve (created_at while sorted by refreshed_at) still gives exact pages.
  const created = await listAll(h, key, `created_at=lt:2026-02-01&sort=-refreshed_at&limit=1`)
  t.same(ids(created.items), ['acme:jan', 'globex:dec'])

  const none = await h.asApp(key, 'GET', '/v1/connections?status=eq:active%20AND%20not:active')
  t.same(none.json(), { items: [], next_cursor: null })

  for (const query of ['status=eq:gone', 'refreshed_at=gte:soon', 'sort=name', 'limit=1000', 'tenant_id=eq:a%20b']) {
    const res = await h.asApp(key, 'GET', `/v1/connections?${query}`)
    t.equal(res.statusCode, 422, query)
    t.equal(res.json().error.code, '3')
  }
})

t.test('an app only ever sees the tenants it was given: 404 for reads, 403 for deletes', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp({ tenants: ['acme', 'globex'] })
  await seed(h, 'acme', 'alice', T0)
  await seed(h, 'globex', 'bob', T0 + 1)
  await seed(h, 'initech', 'carol', T0 + 2)

  t.same(ids((await listAll(h, key, '')).items), ['globex:bob', 'acme:alice'])
  const out = await h.asApp(key, 'GET', '/v1/connections?tenant_id=initech')
  t.equal(out.statusCode, 404)
  t.equal(out.json().error.code, '2')
  t.same(ids((await listAll(h, key, 'tenant_id=not:globex')).items), ['acme:alice'])

  const read = await h.asApp(key, 'GET', '/v1/connections/initech/carol')
  t.equal(read.statusCode, 404, 'a read never says whether another tenant has a connection')
  t.equal(read.json().error.code, '2')
  const del = await h.asApp(key, 'DELETE', '/v1/connections/initech/carol')
  t.equal(del.statusCode, 403)
  t.equal(del.json().error.code, '6')
  const bulk = await h.asApp(key, 'DELETE', '/v1/connections?ids=initech:carol')
  t.equal(bulk.json().errors[0].error.code, '6')

  const opsView = await h.app.inject({ method: 'GET', url: '/v1/admin/connections/initech/carol', headers: admin })
  t.equal(opsView.statusCode, 200, 'ops see every tenant')
  t.match(opsView.json(), { tenant_id: 'initech', user_id: 'carol', app_id: 'app_seed' }, "and which app's connect session made it")
  const opsList = await h.app.inject({ method: 'GET', url: '/v1/admin/connections?sort=%2Bcreated_at', headers: admin })
  t.same(opsList.json().items.map((i: Item) => i.user_id), ['alice', 'bob', 'carol'])
})

t.test('bulk deletion deletes what it can, reports the rest in the seed shape, and never stops at the first failure', async (t) => {
  const events = new BrokerEvents()
  const deleted: unknown[] = []
  events.on('connection.deleted', (ref) => void deleted.push(ref))
  const h = await startHarness(t, { app: { events } })
  const { key, id, key_id: keyId } = await h.createApp({ tenants: ['acme'] })
  await h.connect(key, 'acme', 'alice')
  await h.connect(key, 'acme', 'bob', { username: 'bob' })

  const res = await h.asApp(key, 'DELETE', '/v1/connections?ids=acme:nobody,acme:alice,globex:x,acme:bob')
  t.equal(res.statusCode, 200)
  const body = res.json()
  t.match(body, {
    success_count: 2,
    error_count: 2,
    successes: [
      { id: 'acme:alice', tenant_id: 'acme', user_id: 'alice', status: 'active' },
      { id: 'acme:bob', tenant_id: 'acme', user_id: 'bob' },
    ],
    errors: [
      { id: 'acme:nobody', error: { status: 404, code: '2' } },
      { id: 'globex:x', error: { status: 403, code: '6' } },
    ],
  })
  t.notMatch(res.body, /ory_(at|rt)_/, 'a deleted element is shown without its tokens')
  t.same(deleted, [
    { tenantId: 'acme', userId: 'alice', appId: id, actor: `app:${id}`, keyId },
    { tenantId: 'acme', userId: 'bob', appId: id, actor: `app:${id}`, keyId },
  ])
  const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(token.statusCode, 404, 'the tokens are gone')
  t.same((await listAll(h, key, '')).items, [], 'and so are the index entries')

  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  t.same(await redis.hgetall(`${h.prefix}{t:acme}:c:alice`), {}, 'nothing left in Redis')
  t.same(await redis.hgetall(`${h.prefix}{t:acme}:kids`), {}, 'nor counted under a key')
})

t.test('bulk deletion answers 400 (code 5) to missing, malformed or too many ids, and deletes nothing', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  await seed(h, 'acme', 'alice', T0)
  const many = Array.from({ length: 51 }, (_, i) => `acme:u${i}`).join(',')
  for (const query of ['', '?ids=', '?ids=acme', '?ids=acme:alice,acme', '?ids=acme:alice;drop', `?ids=${many},acme:alice`, '?ids=acme:al%20ice,acme:alice']) {
    const res = await h.asApp(key, 'DELETE', `/v1/connections${query}`)
    t.equal(res.statusCode, 400, query.slice(0, 40))
    t.equal(res.json().error.code, '5')
  }
  t.equal((await h.asApp(key, 'GET', '/v1/connections/acme/alice')).statusCode, 200, 'still there')
  const repeated = Array.from({ length: 25 }, (_, i) => `ids=acme:r${i}`).join('&')
  t.match((await h.asApp(key, 'DELETE', `/v1/connections?${repeated}`)).json(), { success_count: 0, error_count: 1 }, 'ids repeated: the last one wins')
  // Fifty ids of the longest kind: over 12 KB of query string.
  const longest = (i: number) => `${'t'.repeat(128)}:${String(i).padStart(128, 'u')}`
  const fifty = Array.from({ length: 49 }, (_, i) => longest(i)).concat('acme:alice').join(',')
  const ok = await h.asApp(key, 'DELETE', `/v1/connections?ids=${fifty}`)
  t.match(ok.json(), { success_count: 1, error_count: 49 }, 'fifty is allowed, however long the ids')
})

t.test('a connection is read and deleted one at a time: metadata only, 204, then 404', async (t) => {
  const clock = { ms: T0 }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  clock.ms += 2 * 3_600_000
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })).statusCode, 200, 'refreshed')
  const res = await h.asApp(key, 'GET', '/v1/connections/acme/alice')
  t.same(res.json(), {
    tenant_id: 'acme',
    user_id: 'alice',
    status: 'active',
    scope: 'offline_access',
    created_at: new Date(T0).toISOString(),
    refreshed_at: new Date(clock.ms).toISOString(),
    access_expires_at: new Date(clock.ms + 3_600_000).toISOString(),
    key_id: 'k1',
  })
  t.same(ids((await listAll(h, key, `refreshed_at=gt:${new Date(T0).toISOString()}`)).items), ['acme:alice'], 'the index moved with the refresh')
  t.equal((await h.asApp(key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  const again = await h.asApp(key, 'DELETE', '/v1/connections/acme/alice')
  t.equal(again.statusCode, 404)
  t.equal(again.json().error.code, '2')
  t.equal((await h.asApp(key, 'GET', '/v1/connections/acme/alice')).statusCode, 404)
  const bad = await h.asApp(key, 'GET', '/v1/connections/acme/al%20ice')
  t.equal(bad.statusCode, 422, 'a malformed id is a bad field')
})

t.test('a connection OneUp refused moves to reauth_required in the listing, and back to active when its user reconnects', async (t) => {
  const clock = { ms: T0 }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  await h.sandbox.control('/revoke', 'POST', { username: 'bob' })
  clock.ms += 2 * 3_600_000
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'bob' })).statusCode, 409)
  t.same(ids((await listAll(h, key, 'status=reauth_required')).items), ['acme:bob'])
  t.same((await listAll(h, key, 'status=active')).items, [])
  const status = await h.app.inject({ method: 'GET', url: '/v1/admin/encryption', headers: admin })
  t.same(status.json().records, {}, 'a record without tokens is sealed with no key')

  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  const back = await h.asApp(key, 'GET', '/v1/connections/acme/bob')
  t.match(back.json(), { status: 'active', created_at: new Date(T0).toISOString(), key_id: 'k1' }, 'created_at is kept across reconnection')
  t.same(ids((await listAll(h, key, 'status=active')).items), ['acme:bob'])
  t.same((await listAll(h, key, 'status=reauth_required')).items, [])
})

t.test('ids of 128 characters, every one percent-encoded in the path, reach their connection', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp({ tenants: ['*'] })
  const tenantId = '|'.repeat(128)
  const userId = `${'u@+'.repeat(42)}ab`
  const connected = await h.connect(key, tenantId, userId)
  t.equal(connected.callback.statusCode, 200)
  const path = `/v1/connections/${encodeURIComponent(tenantId)}/${encodeURIComponent(userId)}`
  const read = await h.asApp(key, 'GET', path)
  t.equal(read.statusCode, 200)
  t.match(read.json(), { tenant_id: tenantId, user_id: userId, status: 'active' })
  t.equal((await h.asApp(key, 'DELETE', path)).statusCode, 204)
  t.equal((await h.asApp(key, 'GET', path)).statusCode, 404)
  for (const [tooLong, what] of [['%7C'.repeat(129), 'one character too many'], ['a'.repeat(5000), 'far too long']] as const) {
    const answer = await h.asApp(key, 'GET', `/v1/connections/acme/${tooLong}`)
    t.same([answer.statusCode, answer.json().error.code], [422, '3'], `${what}: a bad field, as the contract says`)
  }
  const mangled = await h.asApp(key, 'GET', '/v1/connections/acme/%E0%A4%A')
  t.same([mangled.statusCode, mangled.json().error.code], [400, '5'], 'bad percent-encoding: not parsed')
})

t.test('a client that sends Content-Type: application/json on every call deletes with no body; where a body is expected, an empty one is still a 400', async (t) => {
  const h = await startHarness(t)
  const { id, key } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  const json = (authorization: string) => ({ authorization, 'content-type': 'application/json' })
  t.equal((await h.app.inject({ method: 'DELETE', url: '/v1/connections/acme/alice', headers: json(`Bearer ${key}`) })).statusCode, 204)
  const bulk = await h.app.inject({ method: 'DELETE', url: '/v1/connections?ids=acme:bob', headers: json(`Bearer ${key}`) })
  t.equal(bulk.statusCode, 200)
  t.equal(bulk.json().success_count, 1)
  t.equal((await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/keys`, headers: json(admin.authorization) })).statusCode, 201, 'a POST that takes no body')
  const empty = await h.app.inject({ method: 'POST', url: '/v1/token', headers: json(`Bearer ${key}`), payload: '' })
  t.equal(empty.statusCode, 400)
  t.equal(empty.json().error.code, '5')
  const poisoned = await h.app.inject({ method: 'DELETE', url: '/v1/connections/acme/carol', headers: json(`Bearer ${key}`), payload: '{"__proto__":{"x":1}}' })
  t.equal(poisoned.statusCode, 400, "a body with __proto__ is refused as before, even where none is expected")
})
