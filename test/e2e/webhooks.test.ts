import { createHmac } from 'node:crypto'
import { setTimeout } from 'node:timers/promises'
import t from 'tap'
import { expireAccessToken, startHarness, type HarnessOptions } from '../helpers/harness.js'
import { admin, startReceiver, type Received } from '../helpers/ops.js'
import { redisKeys } from '../../src/store/keys.js'
import { dumpPrefix, testRedis } from '../helpers/redis.js'

/** Quick retries for tests: the schedule's shape is the same, only shorter. */
const FAST: HarnessOptions['app'] = { ops: { deliveryPolicy: { baseBackoffMs: 40, pollMs: 50 } } }

/** Verifies a delivery the way a receiver would, independently of the broker's code (Standard Webhooks). */
function signedBy(secret: string, received: Received): boolean {
  const id = String(received.headers['webhook-id'])
  const timestamp = String(received.headers['webhook-timestamp'])
  const expected = `v1,${createHmac('sha256', Buffer.from(secret.slice('whsec_'.length), 'base64')).update(`${id}.${timestamp}.${received.body}`).digest('base64')}`
  return String(received.headers['webhook-signature']).split(' ').includes(expected)
}

t.test('a lifecycle webhook is signed, retried with backoff while the receiver fails twice, and delivered with one event id', async (t) => {
  const receiver = await startReceiver(t, [500, 503])
  const h = await startHarness(t, { app: FAST })
  const { key, id } = await h.createApp()
  const created = await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url } })
  t.equal(created.statusCode, 201)
  t.equal(created.headers['cache-control'], 'no-store')
  const hook = created.json()
  t.match(hook, { id: /^wh_[0-9a-f]{12}$/, app_id: id, url: receiver.url, events: ['connection.created', 'connection.reauth_required', 'connection.deleted'], secret_id: /^whs_/, secret: /^whsec_/ })

  await h.connect(key, 'acme', 'alice')
  await receiver.waitFor(3)
  const [first, second, third] = receiver.received
  t.same(receiver.received.map((r) => r.status), [500, 503, 200], 'two failures, then delivered')
  t.equal(new Set(receiver.received.map((r) => r.headers['webhook-id'])).size, 1, 'every attempt carries the same event id')
  t.equal(first?.body, third?.body, 'the same body every time')
  for (const attempt of [first, second, third]) t.ok(attempt !== undefined && signedBy(hook.secret, attempt), 'signed: HMAC-SHA256 over id, timestamp and body')
  const event = JSON.parse(third?.body ?? '{}')
  t.match(event, { id: third?.headers['webhook-id'], type: 'connection.created', created_at: String })
  t.same(event.data, { tenant_id: 'acme', user_id: 'alice', app_id: id }, 'ids only, no more')
  t.match(third?.headers['webhook-id'], /^evt_[0-9a-f]{24}$/)
  t.ok(Math.abs(Number(third?.headers['webhook-timestamp']) - Date.now() / 1000) < 600, 'a Unix timestamp in seconds')
  const tampered = { ...(third as Received), body: (third as Received).body.replace('alice', 'mallory') }
  t.notOk(signedBy(hook.secret, tampered), 'a changed body does not verify')

  // The other two lifecycle events.
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  await expireAccessToken(h.app, 'acme', 'alice')
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })).statusCode, 409)
  await receiver.waitFor(4)
  t.equal(JSON.parse(receiver.received[3]?.body ?? '{}').type, 'connection.reauth_required')
  t.equal((await h.asApp(key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  await receiver.waitFor(5)
  t.equal(JSON.parse(receiver.received[4]?.body ?? '{}').type, 'connection.deleted')
  // The receiver has the last one; the broker acknowledges it once it has the answer.
  let depths: unknown
  for (let i = 0; i < 500; i += 1) {
    depths = (await h.app.inject({ method: 'GET', url: '/v1/admin/webhooks/queue', headers: admin })).json()
    if ((depths as { queued: number }).queued === 0) break
    await setTimeout(20)
  }
  t.same(depths, { queued: 0, retrying: 0, given_up: 0 }, 'nothing left waiting')

  const stored = (await dumpPrefix(h.prefix)).map((entry) => entry.text).join('\n')
  t.notOk(stored.includes(hook.secret.slice('whsec_'.length)), 'the signing secret is sealed at rest')
  t.notOk(h.logs.join('\n').includes(hook.secret.slice('whsec_'.length)), 'and never logged')
})

t.test('the signing secret rotates like an app key: both sign while two exist, the last one cannot be revoked', async (t) => {
  const receiver = await startReceiver(t)
  const h = await startHarness(t, { app: FAST })
  const { key, id } = await h.createApp()
  const hook = (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url, events: ['connection.created'] } })).json()
  const base = `/v1/admin/apps/${id}/webhooks/${hook.id}`
  const added = await h.app.inject({ method: 'POST', url: `${base}/secrets`, headers: admin })
  t.equal(added.statusCode, 201)
  const second = added.json()
  t.match(second, { secret_id: /^whs_/, secret: /^whsec_/ })
  const third = await h.app.inject({ method: 'POST', url: `${base}/secrets`, headers: admin })
  t.equal(third.statusCode, 422, 'two at most')
  t.equal(third.json().error.code, '30')

  await h.connect(key, 'acme', 'alice')
  await receiver.waitFor(1)
  t.ok(signedBy(hook.secret, receiver.received[0] as Received), 'receivers still on the old secret verify')
  t.ok(signedBy(second.secret, receiver.received[0] as Received), 'receivers on the new one too')

  t.equal((await h.app.inject({ method: 'DELETE', url: `${base}/secrets/${hook.secret_id}`, headers: admin })).statusCode, 204)
  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  await receiver.waitFor(2)
  t.notOk(signedBy(hook.secret, receiver.received[1] as Received), 'the revoked secret signs no more')
  t.ok(signedBy(second.secret, receiver.received[1] as Received))
  const last = await h.app.inject({ method: 'DELETE', url: `${base}/secrets/${second.secret_id}`, headers: admin })
  t.equal(last.statusCode, 422, 'a webhook keeps one secret')
  t.equal(last.json().error.code, '30')

  const listed = await h.app.inject({ method: 'GET', url: `/v1/admin/apps/${id}/webhooks`, headers: admin })
  t.match(listed.json().items, [{ id: hook.id, secrets: [{ secret_id: second.secret_id }] }])
  t.notOk(listed.body.includes('whsec_'), 'never a secret in a listing')
})

t.test("an endpoint gets only the events it asked for, of its app's tenants; a deleted one gets nothing more", async (t) => {
  const receiver = await startReceiver(t)
  const h = await startHarness(t, { app: FAST })
  const everything = await h.createApp()
  const acmeOnly = await h.createApp({ tenants: ['acme'] })
  const register = async (appId: string, payload: object) =>
    (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${appId}/webhooks`, headers: admin, payload })).json()
  const deletions = await register(acmeOnly.id, { url: `${receiver.url}?who=acme-deleted`, events: ['connection.deleted'] })
  await register(acmeOnly.id, { url: `${receiver.url}?who=acme-all` })

  await h.connect(everything.key, 'globex', 'carol', { username: 'carol' })
  await h.connect(everything.key, 'acme', 'alice')
  await h.asApp(everything.key, 'DELETE', '/v1/connections/acme/alice')
  await receiver.waitFor(3)
  const seen = receiver.received.map((r) => `${new URL(r.url, 'http://x').searchParams.get('who')} ${JSON.parse(r.body).type}`)
  t.same(seen.sort(), ['acme-all connection.created', 'acme-all connection.deleted', 'acme-deleted connection.deleted'], 'nothing about globex, which the app does not serve')

  t.equal((await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${acmeOnly.id}/webhooks/${deletions.id}`, headers: admin })).statusCode, 204)
  t.equal((await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${everything.id}/webhooks/${deletions.id}`, headers: admin })).statusCode, 404, "only through its own app")
  await h.connect(everything.key, 'acme', 'alice')
  await h.asApp(everything.key, 'DELETE', '/v1/connections/acme/alice')
  await receiver.waitFor(5)
  t.equal(receiver.received.length, 5, 'the deleted endpoint got nothing')
})

t.test('a receiver that hangs holds only its share of the slots, and a stop cuts its attempts short without counting them', async (t) => {
  const hanging = await startReceiver(t, Array.from({ length: 1000 }, () => 0))
  const healthy = await startReceiver(t)
  // A timeout far beyond the test's own: the stop must not wait for it.
  const h = await startHarness(t, { app: { ops: { deliveryPolicy: { baseBackoffMs: 40, pollMs: 50, timeoutMs: 600_000 } } } })
  const { id } = await h.createApp()
  for (const url of [hanging.url, healthy.url]) {
    const created = await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url, events: ['connection.created'] } })
    t.equal(created.statusCode, 201)
  }
  const started = Date.now()
  for (let i = 0; i < 60; i += 1) await h.app.broker.dispatcher.publish('connection.created', { tenantId: 'acme', userId: `u${i}`, appId: id })
  await healthy.waitFor(60)
  t.equal(new Set(healthy.received.map((r) => r.headers['webhook-id'])).size, 60, 'every event reached the healthy receiver while the other hung')
  t.equal(hanging.received.length, 4, 'the hanging receiver holds four attempts, no more')

  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const keys = redisKeys(h.prefix)
  await setTimeout(1500)
  const deferred = (await redis.zrange(keys.webhookRetries(), '0', '-1')).map((payload) => JSON.parse(payload) as { deferrals?: number })
  const mostDeferrals = Math.max(...deferred.map((d) => d.deferrals ?? 0))
  // The n-th deferral comes after n - 1 waits of 50 ms doubling (less a fifth of jitter):
  // far fewer turns than one per 50 ms poll.
  const mostTurns = Math.floor(Math.log2((Date.now() - started) / 40 + 1)) + 1
  t.ok(mostDeferrals >= 2, `the busy endpoint's deliveries were deferred again and again (${mostDeferrals} times at most)`)
  t.ok(mostDeferrals <= mostTurns, `each deferral waited longer than the last (${mostDeferrals} deferrals, at most ${mostTurns} with backoff)`)

  await h.app.broker.workers.stop()
  const waiting = [
    ...(await redis.zrange(keys.webhookRetries(), '0', '-1')),
    ...(await redis.xrange(keys.webhookQueue(), '-', '+')).map(([, fields]) => fields[1] ?? ''),
  ].map((payload) => JSON.parse(payload) as { attempt: number })
  t.equal(waiting.length, 60, "the hanging receiver's 60 deliveries all wait for another replica")
  t.ok(waiting.every((d) => d.attempt === 1), 'still at their first attempt: a stop is not the receiver failing')
  t.same(await redis.xinfo('CONSUMERS', keys.webhookQueue(), 'deliverers'), [], 'the stopped replica left the consumer group')
})

t.test('a delivery that keeps failing is given up after its last attempt, kept for ops, and audited', async (t) => {
  const receiver = await startReceiver(t, [500, 500, 500])
  const h = await startHarness(t, { app: FAST, env: { WEBHOOK_MAX_ATTEMPTS: '2' } })
  const { key, id } = await h.createApp()
  const hook = (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url } })).json()
  await h.connect(key, 'acme', 'alice')
  await receiver.waitFor(2)
  for (let i = 0; ; i += 1) {
    const depths = (await h.app.inject({ method: 'GET', url: '/v1/admin/webhooks/queue', headers: admin })).json()
    if (depths.given_up === 1) {
      t.same(depths, { queued: 0, retrying: 0, given_up: 1 })
      break
    }
    if (i > 500) throw new Error('never given up')
    await setTimeout(20)
  }
  t.equal(receiver.received.length, 2, 'two attempts, no more')
  const audit = (await h.app.inject({ method: 'GET', url: '/v1/admin/audit', headers: admin })).json()
  t.match(audit.items[0], { actor: 'broker', action: 'webhook.given_up', webhook_id: hook.id, app_id: id, event: 'connection.created', reason: 'the receiver answered 500' })
})

t.test('an attempt the receiver does not answer in WEBHOOK_TIMEOUT_MS is a timeout, given up like any failure', async (t) => {
  const receiver = await startReceiver(t, [0])
  const h = await startHarness(t, { app: { ops: { deliveryPolicy: { baseBackoffMs: 40, pollMs: 50, timeoutMs: 200 } } }, env: { WEBHOOK_MAX_ATTEMPTS: '1' } })
  const { id } = await h.createApp()
  await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url } })
  await h.app.broker.dispatcher.publish('connection.created', { tenantId: 'acme', userId: 'alice', appId: id })
  for (let i = 0; ; i += 1) {
    const audit = (await h.app.inject({ method: 'GET', url: '/v1/admin/audit', headers: admin })).json()
    const givenUp = audit.items.find((item: { action: string }) => item.action === 'webhook.given_up')
    if (givenUp !== undefined) {
      t.equal(givenUp.reason, 'the receiver timed out')
      break
    }
    if (i > 500) throw new Error('never given up')
    await setTimeout(20)
  }
})

t.test('webhook registration checks its fields', async (t) => {
  const h = await startHarness(t)
  const { id } = await h.createApp()
  const post = (appId: string, payload: object) => h.app.inject({ method: 'POST', url: `/v1/admin/apps/${appId}/webhooks`, headers: admin, payload })
  for (const payload of [{}, { url: 'not a url' }, { url: 'ftp://x.example.com' }, { url: 'https://user:pw@x.example.com' }, { url: 'https://x.example.com', events: ['connection.exploded'] }, { url: 'https://x.example.com', events: [] }]) {
    const res = await post(id, payload)
    t.equal(res.statusCode, 422, JSON.stringify(payload))
    t.equal(res.json().error.code, '3')
  }
  t.equal((await post('app_0000000000000000', { url: 'https://x.example.com' })).statusCode, 404)
  for (let i = 0; i < 5; i += 1) t.equal((await post(id, { url: `https://x.example.com/${i}` })).statusCode, 201)
  const sixth = await post(id, { url: 'https://x.example.com/6' })
  t.equal(sixth.statusCode, 422)
  t.equal(sixth.json().error.code, '30')
  // Twelve registrations at once for another app: the cap holds (checked and added in one step).
  const other = await h.createApp()
  const racing = await Promise.all(Array.from({ length: 12 }, (_, i) => post(other.id, { url: `https://y.example.com/${i}` })))
  t.same(racing.map((r) => r.statusCode).sort(), [...Array(5).fill(201), ...Array(7).fill(422)])
  t.equal((await h.app.inject({ method: 'GET', url: `/v1/admin/apps/${other.id}/webhooks`, headers: admin })).json().items.length, 5)
  t.equal((await h.app.inject({ method: 'GET', url: '/v1/admin/apps/app_0000000000000000/webhooks', headers: admin })).statusCode, 404)
  t.equal((await h.app.inject({ method: 'GET', url: `/v1/admin/apps/${id}/webhooks`, headers: { authorization: 'Bearer nope' } })).statusCode, 401, 'behind the admin key')
})

t.test('the audit log records admin actions and lifecycle events with ids only, newest first, a page at a time', async (t) => {
  const h = await startHarness(t)
  const { key, id, key_id: keyId } = await h.createApp()
  const second = (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/keys`, headers: admin })).json()
  await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${id}/keys/${keyId}`, headers: admin })
  await h.connect(second.key, 'acme', 'alice')
  await h.asApp(second.key, 'DELETE', '/v1/connections/acme/alice')
  await h.app.inject({ method: 'POST', url: '/v1/admin/apps', headers: admin, payload: { name: 'x', tenants: ['bad tenant'], return_origins: [] } })

  const page = await h.app.inject({ method: 'GET', url: '/v1/admin/audit?limit=3', headers: admin })
  t.equal(page.statusCode, 200)
  const rest = await h.app.inject({ method: 'GET', url: `/v1/admin/audit?limit=3&cursor=${page.json().next_cursor}`, headers: admin })
  t.equal(rest.json().next_cursor, null)
  const entries = [...page.json().items, ...rest.json().items]
  t.same(
    entries.map((e: { actor: string; action: string }) => `${e.actor} ${e.action}`),
    [`app:${id} connection.deleted`, `app:${id} connection.created`, 'admin app.key_revoked', 'admin app.key_added', 'admin app.created'],
    'the refused registration is not an action',
  )
  t.match(entries[2], { app_id: id, key_id: keyId, request_id: String })
  t.match(entries[3], { app_id: id, key_id: second.key_id })
  t.match(entries[0], { tenant_id: 'acme', user_id: 'alice', app_id: id, key_id: second.key_id }, 'the key that deleted it')
  t.match(entries[1], { tenant_id: 'acme', user_id: 'alice', app_id: id, key_id: second.key_id }, 'the key that made the connect link')
  const text = JSON.stringify(entries)
  t.notOk(text.includes(key.slice(-43)) || text.includes(second.key.slice(-43)), 'no key in the audit log')
  for (const cursor of ['nope', '18446744073709551616-0', '1-18446744073709551616', '99999999999999999999-0']) {
    const bad = await h.app.inject({ method: 'GET', url: `/v1/admin/audit?cursor=${cursor}`, headers: admin })
    t.same([bad.statusCode, bad.json().error.code], [422, '3'], `cursor ${cursor}`)
  }
  for (const cursor of ['0-0', '00-000']) {
    const first = await h.app.inject({ method: 'GET', url: `/v1/admin/audit?cursor=${cursor}`, headers: admin })
    t.same([first.statusCode, first.json()], [200, { items: [], next_cursor: null }], `nothing before ${cursor}`)
  }
  const last = await h.app.inject({ method: 'GET', url: '/v1/admin/audit?cursor=18446744073709551615-18446744073709551615', headers: admin })
  t.equal(last.json().items.length, 5, 'the largest id is a cursor before every entry')
  t.equal((await h.app.inject({ method: 'GET', url: '/v1/admin/audit?limit=0', headers: admin })).statusCode, 422)
})
