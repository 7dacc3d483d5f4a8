import t from 'tap'
import { redisKeys } from '../../src/store/keys.js'
import { ADMIN_KEY, startHarness } from '../helpers/harness.js'
import { testRedis } from '../helpers/redis.js'

const admin = { authorization: `Bearer ${ADMIN_KEY}` }

t.test('ops register an app, see it listed with key ids but never keys, and rotate its key without downtime', async (t) => {
  const h = await startHarness(t)
  const created = await h.app.inject({
    method: 'POST',
    url: '/v1/admin/apps',
    headers: admin,
    payload: { name: 'Billing', tenants: ['acme', 'globex'], return_origins: ['https://billing.example.com/', 'http://billing.example.com:80'] },
  })
  t.equal(created.statusCode, 201)
  t.equal(created.headers['cache-control'], 'no-store')
  const app = created.json()
  t.match(app.id, /^app_[0-9a-f]{16}$/)
  t.match(app.key_id, /^key_[0-9a-f]{12}$/)
  t.match(app.key, new RegExp(`^obk_${app.id}_[A-Za-z0-9_-]{43}$`), '256 random bits after the app id')

  const list = await h.app.inject({ method: 'GET', url: '/v1/admin/apps', headers: admin })
  t.equal(list.statusCode, 200)
  const listed = list.json().items.find((a: { id: string }) => a.id === app.id)
  t.match(listed, {
    name: 'Billing',
    tenants: ['acme', 'globex'],
    return_origins: ['https://billing.example.com', 'http://billing.example.com'], // a default port written out is the same origin
    rate_limit: 1_000_000,
    keys: [{ key_id: app.key_id, last_used_at: null }],
  })
  t.notOk(list.body.includes(app.key), 'the key is never shown again')
  t.notOk(list.body.includes(app.key.slice(-43)))

  const second = await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${app.id}/keys`, headers: admin })
  t.equal(second.statusCode, 201)
  const third = await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${app.id}/keys`, headers: admin })
  t.equal(third.statusCode, 422, 'a third key is refused')
  t.equal(third.json().error.code, '30')

  const body = { tenant_id: 'acme', user_id: 'u' }
  t.equal((await h.asApp(app.key, 'POST', '/v1/token', body)).statusCode, 404, 'the first key works')
  t.equal((await h.asApp(second.json().key, 'POST', '/v1/token', body)).statusCode, 404, 'the second key works too')
  const revoke = await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${app.id}/keys/${app.key_id}`, headers: admin })
  t.equal(revoke.statusCode, 204)
  t.equal((await h.asApp(app.key, 'POST', '/v1/token', body)).statusCode, 401, 'the revoked key stops')
  t.equal((await h.asApp(second.json().key, 'POST', '/v1/token', body)).statusCode, 404, 'the new key goes on')
  const again = await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${app.id}/keys/${app.key_id}`, headers: admin })
  t.equal(again.statusCode, 404)
  t.equal((await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${app.id}/keys`, headers: admin })).statusCode, 201, 'room for a new key again')
  t.equal((await h.app.inject({ method: 'POST', url: '/v1/admin/apps/app_0000000000000000/keys', headers: admin })).statusCode, 404)
})

t.test('the admin API wants the admin key, and is off without one', async (t) => {
  const h = await startHarness(t)
  for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Basic ${ADMIN_KEY}` }]) {
    const res = await h.app.inject({ method: 'GET', url: '/v1/admin/apps', headers })
    t.equal(res.statusCode, 401)
    t.equal(res.json().error.code, '1')
  }
  const off = await startHarness(t, { env: { BROKER_ADMIN_KEY: '' } })
  const res = await off.app.inject({ method: 'GET', url: '/v1/admin/apps', headers: admin })
  t.equal(res.statusCode, 404)
  t.equal(res.json().error.code, '2')
})

t.test('app registration checks its fields', async (t) => {
  const h = await startHarness(t)
  const post = (payload: object) => h.app.inject({ method: 'POST', url: '/v1/admin/apps', headers: admin, payload })
  const cases: Array<[object, RegExp]> = [
    [{ tenants: ['*'], return_origins: [] }, /name/],
    [{ name: 'x', tenants: [], return_origins: [] }, /tenants/],
    [{ name: 'x', tenants: ['bad tenant'], return_origins: [] }, /tenants/],
    [{ name: 'x', tenants: ['*', 'acme'], return_origins: [] }, /tenants/],
    [{ name: 'x', tenants: ['*'], return_origins: ['https://x.example.com/path'] }, /return_origins\/0/],
    [{ name: 'x', tenants: ['*'], return_origins: ['javascript:alert(1)'] }, /return_origins\/0/],
    [{ name: 'x', tenants: ['*'], return_origins: [], rate_limit: 0 }, /rate_limit/],
    [{ name: 'x', tenants: ['*'], return_origins: [], rate_limit: '10' }, /rate_limit/],
  ]
  for (const [payload, field] of cases) {
    const res = await post(payload)
    t.equal(res.statusCode, 422, JSON.stringify(payload))
    t.equal(res.json().error.code, '3')
    t.match(res.json().error.reason, field)
  }
  const list = await h.app.inject({ method: 'GET', url: '/v1/admin/apps', headers: admin })
  t.same(list.json().items, [], 'nothing was created')
})

t.test("a key's last use, written in the background, never outlives the key's revocation", async (t) => {
  const h = await startHarness(t)
  const app = await h.createApp()
  await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${app.id}/keys/${app.key_id}`, headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  // The write of a use just before the revocation, arriving just after it.
  await h.app.broker.apps.touchKey(app.id, app.key_id, Date.now())
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const fields = Object.keys(await redis.hgetall(redisKeys(h.prefix).app(app.id)))
  t.notOk(fields.some((field) => field.endsWith(app.key_id)), 'nothing is left of the revoked key')
})
