import t from 'tap'
import { BrokerEvents } from '../../src/events.js'
import { startHarness } from '../helpers/harness.js'
import { replicaOf } from '../helpers/ops.js'

const DAY = 86_400_000
const T0 = Date.parse('2026-03-01T08:00:00Z')

t.test('the keep-alive sweep refreshes exactly the connections not refreshed for 7 days, in small batches, and skips those needing their user', async (t) => {
  const clock = { ms: T0 }
  const events = new BrokerEvents()
  const reauth: string[] = []
  events.on('connection.reauth_required', ({ userId }) => void reauth.push(userId))
  // Batches of two, so the sweep pages through the index.
  const h = await startHarness(t, { app: { now: () => clock.ms, events }, env: { KEEPALIVE_BATCH: '2' } })
  const { key } = await h.createApp()
  const token = (userId: string) => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: userId, force_refresh: true })
  const refreshedAt = async (tenantId: string, userId: string) => (await h.asApp(key, 'GET', `/v1/connections/${tenantId}/${userId}`)).json().refreshed_at

  // Stale: connected on day 0 and never used since.
  for (const user of ['alice', 'bob', 'erin', 'frank']) await h.connect(key, 'acme', user, { username: user })
  await h.connect(key, 'globex', 'gina', { username: 'gina' })
  // Needs its user already: skipped, never sent to OneUp again.
  await h.connect(key, 'acme', 'dave', { username: 'dave' })
  await h.sandbox.control('/revoke', 'POST', { username: 'dave' })
  clock.ms = T0 + DAY
  t.equal((await token('dave')).statusCode, 409)
  // Fresh: connected on day 2, used on day 6.
  clock.ms = T0 + 2 * DAY
  await h.connect(key, 'acme', 'carol', { username: 'carol' })
  clock.ms = T0 + 6 * DAY
  await h.connect(key, 'globex', 'hal', { username: 'hal' })
  // Stale, and OneUp has dropped its grant meanwhile: the sweep finds out now, not the app later.
  await h.sandbox.control('/revoke', 'POST', { username: 'erin' })

  clock.ms = T0 + 8 * DAY
  const before = await h.sandbox.counters()
  const result = await h.app.broker.keepAlive.sweep()
  const after = await h.sandbox.counters()
  t.same(result, { refreshed: 4, reauthRequired: 1, failed: 0 })
  t.equal(after.refresh_grants - before.refresh_grants, 4, 'four refresh grants: alice, bob, frank, gina')
  t.equal(after.reuse_detections, 0)
  for (const [tenant, user] of [['acme', 'alice'], ['acme', 'bob'], ['acme', 'frank'], ['globex', 'gina']] as const) {
    t.equal(await refreshedAt(tenant, user), new Date(clock.ms).toISOString(), `${tenant}/${user} refreshed now`)
  }
  t.equal(await refreshedAt('acme', 'carol'), new Date(T0 + 2 * DAY).toISOString(), 'carol was fresh enough')
  t.equal(await refreshedAt('globex', 'hal'), new Date(T0 + 6 * DAY).toISOString())
  t.same(reauth, ['dave', 'erin'], 'erin now needs her user (and the apps were told); dave was not tried again')
  t.match((await h.asApp(key, 'GET', '/v1/connections/acme/erin')).json(), { status: 'reauth_required' })

  const again = await h.app.broker.keepAlive.sweep()
  t.same(again, { refreshed: 0, reauthRequired: 0, failed: 0 }, 'a second sweep finds nothing stale')
})

t.test('one replica sweeps per interval: the others find the lease taken', async (t) => {
  const clock = { ms: T0 }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  const other = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: h.config.encryptionKeys.map((k) => `${k.kid}:${Buffer.from(k.key).toString('base64url')}`).join(',') }, { now: () => clock.ms })
  clock.ms += 8 * DAY
  const before = await h.sandbox.counters()
  const [mine, theirs] = await Promise.all([h.app.broker.keepAlive.sweepIfDue(), other.broker.keepAlive.sweepIfDue()])
  t.same([mine, theirs].filter((r) => r !== undefined), [{ refreshed: 1, reauthRequired: 0, failed: 0 }], 'exactly one swept')
  t.equal((await h.sandbox.counters()).refresh_grants - before.refresh_grants, 1, 'one refresh, not two')
  t.equal(await h.app.broker.keepAlive.sweepIfDue(), undefined, 'the interval is taken until its lease lapses')
})

t.test('a replica whose timer fires a little early still sweeps: the lease lapses just before the next interval', async (t) => {
  const h = await startHarness(t, { app: { ops: { keepAlivePolicy: { intervalMs: 500 } } } })
  t.ok(await h.app.broker.keepAlive.sweepIfDue(), 'swept')
  t.equal(await h.app.broker.keepAlive.sweepIfDue(), undefined, 'not twice in one interval')
  // The interval's timer, 10 ms early.
  await new Promise((resolve) => setTimeout(resolve, 490))
  t.ok(await h.app.broker.keepAlive.sweepIfDue(), 'the next interval is swept')
})

t.test('KEEPALIVE_AFTER_HOURS=0 turns the sweeper off', async (t) => {
  const clock = { ms: T0 }
  const h = await startHarness(t, { env: { KEEPALIVE_AFTER_HOURS: '0' }, app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  clock.ms += 100 * DAY
  t.same(await h.app.broker.keepAlive.sweep(), { refreshed: 0, reauthRequired: 0, failed: 0 })
  const other = await startHarness(t, { env: { KEEPALIVE_AFTER_HOURS: '24', KEEPALIVE_INTERVAL_SECONDS: '60' } })
  t.same(other.config.keepAlive, { staleAfterMs: 86_400_000, intervalMs: 60_000, batchSize: 20 })
})
