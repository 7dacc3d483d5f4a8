import { setTimeout } from 'node:timers/promises'
import t from 'tap'
import { errorLabel } from '../../src/metrics/metrics.js'
import { Redis } from 'ioredis'
import { startHarness, walkToCallback, type Harness } from '../helpers/harness.js'
import { admin, startReceiver } from '../helpers/ops.js'
import { startOwnRedis } from '../helpers/redis-server.js'

/** The value of one sample in Prometheus text (0 when absent: a counter not yet moved). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue
    const open = line.indexOf('{')
    const space = line.lastIndexOf(' ')
    const found: Record<string, string> = {}
    if (open !== -1 && open < space) {
      for (const match of line.slice(open + 1, line.lastIndexOf('}')).matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) found[match[1] as string] = match[2] as string
    }
    if (Object.entries(labels).every(([key, value]) => found[key] === value) && (open === -1 || open < space)) return Number(line.slice(space + 1))
  }
  return 0
}

async function scrape(h: Harness): Promise<string> {
  const res = await h.app.inject('/metrics')
  if (res.statusCode !== 200) throw new Error(`/metrics: ${res.statusCode}`)
  return res.body
}

t.test('after a connect flow and hand-outs, /metrics shows each counter moved by exactly what happened', async (t) => {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const before = await scrape(h)
  const { key } = await h.createApp()

  t.equal((await h.connect(key, 'acme', 'alice')).callback.statusCode, 200)
  t.equal((await h.connect(key, 'acme', 'bob', { deny: true })).callback.statusCode, 400)
  const token = (userId: string) => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: userId })
  t.equal((await token('alice')).statusCode, 200)
  clock.ms += 3600 * 1000
  t.equal((await token('alice')).statusCode, 200)
  t.equal((await token('nobody')).statusCode, 404)
  await h.app.inject('/no/such/route')

  const res = await h.app.inject('/metrics')
  t.match(res.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const after = res.body
  const moved = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels)

  t.equal(moved('oneup_broker_connect_flows_total', { stage: 'started' }), 2, 'two flows started')
  t.equal(moved('oneup_broker_connect_flows_total', { stage: 'connected' }), 1, 'one completed')
  t.equal(moved('oneup_broker_connect_flows_total', { stage: 'error' }), 1, 'one failed')
  t.equal(moved('oneup_broker_connect_flow_failures_total', { error: 'access_denied' }), 1, 'because the user denied access')
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'served' }), 1)
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'refreshed' }), 1)
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'not_found' }), 1)
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'failed' }), 0)
  t.equal(moved('oneup_broker_refresh_duration_seconds_count', { outcome: 'refreshed' }), 1, 'one refresh, timed')
  t.equal(moved('oneup_broker_http_requests_total', { method: 'POST', route: '/v1/token', status: '200' }), 2)
  t.equal(moved('oneup_broker_http_requests_total', { method: 'POST', route: '/v1/token', status: '404' }), 1)
  t.equal(moved('oneup_broker_http_requests_total', { method: 'GET', route: '/oauth/callback', status: '200' }), 1)
  t.equal(moved('oneup_broker_http_requests_total', { method: 'GET', route: '(unmatched)', status: '404' }), 1, 'unknown paths share one label')
  t.equal(moved('oneup_broker_http_request_duration_seconds_count', { method: 'POST', route: '/v1/token' }), 3)
  // One script on standalone Redis, two (app counter, connection read) on Cluster.
  const handoutScripts = moved('oneup_broker_redis_command_duration_seconds_count', { command: 'obHandout' }) +
    moved('oneup_broker_redis_command_duration_seconds_count', { command: 'obConnRead' })
  t.ok(handoutScripts >= 3, 'the hand-out script is timed, by name')
  t.ok(sample(after, 'process_cpu_user_seconds_total') > 0, 'the default Node.js metrics are there')
  t.ok(after.includes('nodejs_eventloop_lag_seconds'), 'event loop lag too')
  t.notMatch(after, /alice|acme|ory_(at|rt|ac)_|obk_app_/, 'no tenant, user, token or key in any label')
})

t.test('a refresh OneUp refuses and a code exchange OneUp cannot answer count as OneUp errors, by kind', async (t) => {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const before = await scrape(h)
  const { key } = await h.createApp()
  await h.connect(key, 'acme', 'carol')

  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  clock.ms += 3600 * 1000
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'carol' })).statusCode, 409)

  // The code exchange meets a OneUp that answers 503 to everything.
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'dave' })).json()
  const { callbackUrl, cookies } = await walkToCallback(h.app, session.url)
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 503, count: 10 })
  t.teardown(() => h.sandbox.control('/faults', 'DELETE'))
  const callback = await h.app.inject({ method: 'GET', url: callbackUrl.pathname + callbackUrl.search, cookies })
  t.equal(callback.statusCode, 503)

  const after = await scrape(h)
  const moved = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels)
  t.equal(moved('oneup_broker_oneup_errors_total', { operation: 'refresh', kind: 'invalid_grant' }), 1)
  t.equal(moved('oneup_broker_oneup_errors_total', { operation: 'code_exchange', kind: 'unavailable' }), 1)
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'reauth_required' }), 1)
  t.equal(moved('oneup_broker_refresh_duration_seconds_count', { outcome: 'reauth_required' }), 1)
  t.equal(moved('oneup_broker_connect_flow_failures_total', { error: 'oneup_unavailable' }), 1)
})

t.test('webhook attempts are counted by outcome, and the queue is read from Redis at each scrape', async (t) => {
  const receiver = await startReceiver(t, [500, 500, 500])
  const h = await startHarness(t, { app: { ops: { deliveryPolicy: { baseBackoffMs: 40, pollMs: 50, maxAttempts: 2 } } } })
  const before = await scrape(h)
  const { key, id } = await h.createApp()
  t.equal((await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url } })).statusCode, 201)
  await h.connect(key, 'acme', 'alice')
  await receiver.waitFor(2) // 500, then 500 on the last attempt: given up
  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  await receiver.waitFor(4) // 500, then 200

  let after = await scrape(h)
  for (let i = 0; i < 100 && sample(after, 'oneup_broker_webhook_deliveries_total', { outcome: 'delivered' }) === 0; i += 1) {
    await setTimeout(20)
    after = await scrape(h)
  }
  const moved = (outcome: string) => sample(after, 'oneup_broker_webhook_deliveries_total', { outcome }) - sample(before, 'oneup_broker_webhook_deliveries_total', { outcome })
  t.same([moved('delivered'), moved('failed'), moved('given_up')], [1, 2, 1], 'delivered, failed, given up')
  t.match(before, /oneup_broker_webhook_deliveries_total\{outcome="given_up"\} 0/, 'every outcome is there from the start, at 0')
  t.same(
    ['queued', 'retrying', 'given_up'].map((state) => sample(after, 'oneup_broker_webhook_queue', { state })),
    [0, 0, 1],
    'the queue as Redis holds it: the given-up delivery is kept for ops',
  )
  t.equal(sample(after, 'oneup_broker_redis_up'), 1)
})

t.test('redis_up is 0 while Redis keeps the connection but answers nothing, as /readyz says, and the webhook queue is left out', async (t) => {
  // Its own redis-server, paused: a frozen Redis (or a network dropping packets) leaves the client connected and ready.
  const own = await startOwnRedis(t)
  const h = await startHarness(t, { env: { REDIS_URL: own.url, REDIS_CLUSTER_NODES: '' } })
  await h.createApp()
  t.match(await scrape(h), /^oneup_broker_redis_up 1$/m)
  const pauser = new Redis(own.url)
  t.teardown(() => pauser.disconnect())
  await pauser.call('CLIENT', 'PAUSE', '5000', 'ALL')
  const [ready, text] = await Promise.all([h.app.inject('/readyz'), scrape(h)])
  t.equal(h.app.broker.redis.status, 'ready', 'the client is still connected')
  t.equal(ready.statusCode, 503, '/readyz: not ready')
  t.match(text, /^oneup_broker_redis_up 0$/m, 'redis_up says the same')
  t.notMatch(text, /^oneup_broker_webhook_queue\{/m, 'no queue depths rather than stale ones')
})

t.test("the series the alert rules watch with rate() are exported at 0 from the start, so a replica's first error counts", async (t) => {
  const h = await startHarness(t)
  const text = await scrape(h)
  for (const line of [
    'oneup_broker_oneup_errors_total{operation="refresh",kind="invalid_client"} 0',
    'oneup_broker_oneup_errors_total{operation="code_exchange",kind="invalid_client"} 0',
    'oneup_broker_oneup_errors_total{operation="refresh",kind="unauthorized_client"} 0',
    'oneup_broker_oneup_errors_total{operation="refresh",kind="unavailable"} 0',
    'oneup_broker_refresh_duration_seconds_count{outcome="reauth_required"} 0',
    'oneup_broker_refresh_duration_seconds_count{outcome="refreshed"} 0',
    'oneup_broker_connect_flow_failures_total{error="oneup_unavailable"} 0',
    'oneup_broker_webhook_deliveries_total{outcome="given_up"} 0',
    'oneup_broker_token_handouts_total{outcome="failed"} 0',
    'oneup_broker_http_requests_total{method="POST",route="/v1/token",status="503"} 0',
    'oneup_broker_http_requests_total{method="POST",route="/v1/token",status="500"} 0',
  ]) {
    t.ok(text.split('\n').includes(line), line)
  }
})

t.test('a token call whose app key Redis cannot check is answered 503 before the hand-out: counted as an answer only', async (t) => {
  // Its own redis-server, killed: the shared one (or a Cluster) stays up for the other tests.
  const own = await startOwnRedis(t)
  const h = await startHarness(t, { env: { REDIS_URL: own.url, REDIS_CLUSTER_NODES: '' } })
  const { key } = await h.createApp()
  const before = await scrape(h)
  await own.kill()
  const res = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, '9')
  const after = await scrape(h)
  const moved = (name: string, labels: Record<string, string>) => sample(after, name, labels) - sample(before, name, labels)
  t.equal(moved('oneup_broker_http_requests_total', { method: 'POST', route: '/v1/token', status: '503' }), 1, 'what OneupBrokerHandoutsFailing counts')
  t.equal(moved('oneup_broker_token_handouts_total', { outcome: 'failed' }), 0, 'no hand-out was reached')
})

t.test('lock waits and the previous client secret are counted from their domain events', async (t) => {
  const h = await startHarness(t)
  const before = await scrape(h)
  h.app.broker.events.emit('refresh.waited', { ms: 40 })
  h.app.broker.events.emit('oneup.previous_secret_used')
  const after = await scrape(h)
  t.equal(sample(after, 'oneup_broker_refresh_lock_wait_seconds_count') - sample(before, 'oneup_broker_refresh_lock_wait_seconds_count'), 1)
  t.equal(sample(after, 'oneup_broker_refresh_lock_wait_seconds_sum') - sample(before, 'oneup_broker_refresh_lock_wait_seconds_sum'), 0.04)
  t.equal(sample(after, 'oneup_broker_oneup_previous_secret_used_total'), 1)
})

t.test('each app counts only its own requests, and stops listening when closed', async (t) => {
  const one = await startHarness(t)
  const two = await startHarness(t)
  await one.app.inject('/healthz')
  const labels = { method: 'GET', route: '/healthz', status: '200' }
  t.equal(sample(await scrape(one), 'oneup_broker_http_requests_total', labels), 1)
  t.equal(sample(await scrape(two), 'oneup_broker_http_requests_total', labels), 0)
  t.equal(two.app.broker.events.listenerCount('handout'), 1)
  await two.app.close()
  t.equal(two.app.broker.events.listenerCount('handout'), 0)
})

t.test('error ids from the outside cannot mint new label values', async (t) => {
  t.equal(errorLabel('access_denied'), 'access_denied')
  t.equal(errorLabel('invalid_grant'), 'invalid_grant')
  t.equal(errorLabel('made_up_by_an_attacker_1'), 'other')
  t.equal(errorLabel(undefined), 'other')
})
