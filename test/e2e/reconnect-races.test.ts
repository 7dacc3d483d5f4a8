import t, { type Test } from 'tap'
import { BrokerEvents } from '../../src/events.js'
import { ADMIN_KEY, expireAccessToken, oneupUserOf, startHarness, type Harness } from '../helpers/harness.js'

/**
 * A refresh of a connection is still in flight at OneUp when the app deletes the
 * connection or the user connects again (perhaps another OneUp account): whatever
 * that refresh meets, it belongs to the old record and must not touch the new one.
 */

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function untilTokenRequests(h: Harness, n: number): Promise<void> {
  while ((await h.sandbox.counters()).token_requests < n) await wait(5)
}

/** Lifecycle events as `type:appId`, in order. */
function lifecycle(events: BrokerEvents): string[] {
  const seen: string[] = []
  for (const name of ['connection.created', 'connection.reauth_required', 'connection.deleted'] as const) {
    events.on(name, (p: { appId: string }) => void seen.push(`${name}:${p.appId}`))
  }
  return seen
}

/** A broker with alice connected, her access token expired: her next hand-out refreshes. */
async function connected(t: Test, events = new BrokerEvents()) {
  const h = await startHarness(t, { app: { events } })
  const app = await h.createApp()
  t.equal((await h.connect(app.key, 'acme', 'alice', { username: 'alice' })).callback.statusCode, 200)
  await expireAccessToken(h.app, 'acme', 'alice')
  return { h, app }
}

t.test('a refresh still in flight when its connection is deleted and connected again never writes the old account over the new one', async (t) => {
  const { h, app } = await connected(t)
  // OneUp rotates at once but answers late: the app disconnects the user, who connects another account.
  await h.sandbox.control('/faults', 'POST', { mode: 'hang', ms: 1500, count: 1 })
  const inFlight = h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  while ((await h.sandbox.counters()).refresh_grants === 0) await wait(10)
  t.equal((await h.asApp(app.key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  t.equal((await h.connect(app.key, 'acme', 'alice', { username: 'bob' })).callback.statusCode, 200)
  await inFlight
  t.equal(await oneupUserOf(h, app.key, 'acme', 'alice'), 'bob', 'the connection holds the account connected last')
})

t.test('OneUp refusing the old connection\'s refresh token does not mark the new connection, nor tell the app it needs its user', async (t) => {
  const events = new BrokerEvents()
  const seen = lifecycle(events)
  const { h, app } = await connected(t, events)
  // A refresh waits at OneUp; meanwhile the user withdraws consent and connects again.
  const before = (await h.sandbox.counters()).token_requests
  await h.sandbox.control('/faults', 'POST', { mode: 'stall', ms: 1500, count: 1 })
  const inFlight = h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  await untilTokenRequests(h, before + 1)
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  t.equal((await h.connect(app.key, 'acme', 'alice', { username: 'alice' })).callback.statusCode, 200)
  const answer = await inFlight

  const stored = await h.app.inject({ method: 'GET', url: '/v1/admin/connections/acme/alice', headers: { authorization: `Bearer ${ADMIN_KEY}` } })
  t.equal(stored.json().status, 'active', 'the new connection stays active')
  t.equal(answer.statusCode, 200, 'the caller is served from the new connection, not told to reconnect')
  t.equal(seen.at(-1), `connection.created:${app.id}`, 'the last event the app hears of is the new connection, no reauth_required after it')
  t.equal(await oneupUserOf(h, app.key, 'acme', 'alice'), 'alice')
})

// (That it does not join the old refresh's promise shows in the force_refresh test below: here
// the old refresh's fallback would serve bob too.)
t.test('a hand-out for the new connection, made while the old refresh waits at OneUp, serves the new connection and tells the app nothing false', async (t) => {
  const events = new BrokerEvents()
  const seen = lifecycle(events)
  const { h, app } = await connected(t, events)
  const other = await h.createApp({ name: 'second app' })
  const before = (await h.sandbox.counters()).token_requests
  await h.sandbox.control('/faults', 'POST', { mode: 'stall', ms: 1500, count: 1 })
  const inFlight = h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  await untilTokenRequests(h, before + 1)
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  t.equal((await h.asApp(app.key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  t.equal((await h.connect(other.key, 'acme', 'alice', { username: 'bob' })).callback.statusCode, 200)
  // Made after the reconnect, in the same process as the old refresh.
  const after = await h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  await inFlight
  t.equal(after.statusCode, 200, "bob's connection is served")
  t.equal(await oneupUserOf(h, app.key, 'acme', 'alice'), 'bob')
  t.same(seen.slice(1), [`connection.deleted:${app.id}`, `connection.created:${other.id}`], 'no reauth_required for the old connection after the new one')
})

t.test('force_refresh on the new connection gets a new token, not the old refresh\'s fallback', async (t) => {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  t.equal((await h.connect(key, 'acme', 'alice', { username: 'alice' })).callback.statusCode, 200)
  await expireAccessToken(h.app, 'acme', 'alice')
  const before = (await h.sandbox.counters()).token_requests
  await h.sandbox.control('/faults', 'POST', { mode: 'hang', ms: 1500, count: 1 })
  clock.ms += 1000
  const inFlight = h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  await untilTokenRequests(h, before + 1)
  t.equal((await h.asApp(key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  // Bob's token needs no refresh for its TTL: only force_refresh asks for one.
  await h.sandbox.control('/settings', 'PUT', { access_token_ttl: 120 })
  t.equal((await h.connect(key, 'acme', 'alice', { username: 'bob' })).callback.statusCode, 200)
  const dead = (await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })).json().access_token as string
  await h.sandbox.control('/expire', 'POST', { username: 'bob' })
  clock.ms += 5000
  const forced = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice', force_refresh: true })
  await inFlight
  t.equal(forced.statusCode, 200)
  t.not(forced.json().access_token, dead, 'not the token the app reported dead')
  const me = await fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${forced.json().access_token}` } })
  t.equal(me.status, 200, 'OneUp accepts it')
})

t.test('the cooldown after the old connection\'s failed refresh does not hold back the new connection', async (t) => {
  const { h, app } = await connected(t)
  // The first attempt waits beyond ONEUP_TIMEOUT_MS (3 s, nothing spent at OneUp), then OneUp answers 503.
  const before = (await h.sandbox.counters()).token_requests
  await h.sandbox.control('/faults', 'POST', { mode: 'stall', ms: 4000, count: 1 })
  const inFlight = h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  await untilTokenRequests(h, before + 1)
  t.equal((await h.asApp(app.key, 'DELETE', '/v1/connections/acme/alice')).statusCode, 204)
  t.equal((await h.connect(app.key, 'acme', 'alice', { username: 'alice' })).callback.statusCode, 200)
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 503, count: 2 })
  t.equal((await inFlight).statusCode, 503, 'the old refresh failed')
  await h.sandbox.control('/faults', 'DELETE')
  await expireAccessToken(h.app, 'acme', 'alice')
  const fresh = await h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(fresh.statusCode, 200, 'the new connection is refreshed and served at once')
})
