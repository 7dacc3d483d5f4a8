import { Redis } from 'ioredis'
import t from 'tap'
import { connectVia, createAppVia, startFleetBase, tokenVia } from '../helpers/fleet.js'
import { RETURN_ORIGIN, startHarness, walkToCallback } from '../helpers/harness.js'
import { startOwnRedis } from '../helpers/redis-server.js'
import { startReplica } from '../helpers/replica.js'
import { REDIS_CLUSTER_NODES } from '../helpers/redis.js'

interface Answer {
  status: number
  code: string | undefined
  retryAfter: string | null
  ms: number
  accessToken: string | undefined
}

async function call(url: string, init?: RequestInit): Promise<Answer> {
  const started = Date.now()
  const res = await fetch(url, init)
  const body = (await res.json()) as { error?: { code?: string }; access_token?: string }
  return { status: res.status, code: body.error?.code, retryAfter: res.headers.get('retry-after'), ms: Date.now() - started, accessToken: body.access_token }
}

t.test('Redis down mid-load: quick 503s (code 9, Retry-After), no crash, and by itself back to serving the same stored tokens when Redis returns', { skip: REDIS_CLUSTER_NODES === undefined ? false : 'runs once, in the standalone run: it brings its own standalone redis-server (its cluster counterpart is cluster-failover)' }, async (t) => {
  const redis = await startOwnRedis(t)
  // Its own Redis: a standalone server even when the suite runs on a cluster.
  const { sandbox, env } = await startFleetBase(t, {}, { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '' })
  const replica = await startReplica(t, env)
  const key = await createAppVia(replica.url)
  for (const user of ['alice', 'bob']) t.equal((await connectVia(replica.url, replica.url, key, 'acme', user, user)).status, 200)
  const token = (user: string) =>
    call(`${replica.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant_id: 'acme', user_id: user }) })
  const before = { alice: (await token('alice')).accessToken, bob: (await token('bob')).accessToken }
  t.ok(before.alice !== undefined && before.bob !== undefined, 'both served')

  // Load from a few callers until told to stop.
  const answers: Answer[] = []
  let running = true
  const workers = Array.from({ length: 4 }, async (_, i) => {
    while (running) answers.push(await token(i % 2 === 0 ? 'alice' : 'bob'))
  })
  const seen = async (predicate: (a: Answer) => boolean, what: string) => {
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 50))) {
      if (answers.some(predicate)) return
    }
    throw new Error(`never saw ${what}`)
  }
  await seen((a) => a.status === 200, 'a 200 under load')

  await redis.kill()
  const down = answers.length
  await seen((a) => a.status === 503, 'a 503 with Redis down')
  const ready = await call(`${replica.url}/readyz`)
  t.equal(ready.status, 503, '/readyz says not ready')
  t.equal(ready.code, '9')
  t.ok(Number(ready.retryAfter) >= 1, 'with Retry-After')
  t.equal((await call(`${replica.url}/healthz`)).status, 200, '/healthz: the process itself is fine')
  const direct = await tokenVia(replica.url, key, { tenant_id: 'acme', user_id: 'alice' })
  t.equal(direct.status, 503)
  t.same(Object.keys((await direct.json()) as object), ['error'], 'the seed\'s error shape')

  await redis.start()
  for (const deadline = Date.now() + 30_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
    if ((await call(`${replica.url}/readyz`)).status === 200) break
  }
  t.equal((await call(`${replica.url}/readyz`)).status, 200, 'ready again, with no restart')
  const resumedAt = answers.length
  await seen((a) => answers.indexOf(a) >= resumedAt && a.status === 200, 'a 200 after Redis returned')
  running = false
  await Promise.all(workers)

  const during = answers.slice(down)
  const statuses = new Set(answers.map((a) => a.status))
  t.same([...statuses].sort(), [200, 503], 'every answer was a token or a 503')
  const outage = during.filter((a) => a.status === 503)
  t.ok(outage.length > 0)
  t.ok(outage.every((a) => a.code === '9' && Number(a.retryAfter) >= 1), 'every 503 is code 9 with Retry-After')
  // A bound, not a speed: one command timeout (2 s) plus one reconnection attempt, with room for a loaded machine.
  t.ok(outage.every((a) => a.ms < 8_000), `no request hung (slowest ${Math.max(...outage.map((a) => a.ms))} ms)`)
  t.equal(replica.process.exitCode, null, 'the replica never exited')
  const outageLines = replica.output.filter((line) => line.includes('answering 503'))
  t.ok(outageLines.length >= 1 && outageLines.length <= 2, `the outage is logged once every 10 s, not once per request (${outageLines.length} lines for ${outage.length} answers)`)

  const after = { alice: (await token('alice')).accessToken, bob: (await token('bob')).accessToken }
  t.same(after, before, 'the stored token sets survived the Redis restart (AOF): no user has to connect again')
  t.equal((await sandbox.counters()).reuse_detections, 0)
  t.equal(await replica.stop(), 0, 'and it still shuts down cleanly')
})

t.test('a full Redis (maxmemory under noeviction): writes answer 503 code 9 with Retry-After, and no sealed value reaches the logs', { skip: REDIS_CLUSTER_NODES === undefined ? false : 'runs once, in the standalone run: it brings its own standalone redis-server' }, async (t) => {
  const redis = await startOwnRedis(t)
  const { env } = await startFleetBase(t, {}, { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '', LOG_LEVEL: 'debug' })
  const replica = await startReplica(t, env)
  const key = await createAppVia(replica.url)
  t.equal((await connectVia(replica.url, replica.url, key, 'acme', 'alice', 'alice')).status, 200)

  const admin = new Redis(redis.url)
  t.teardown(() => admin.disconnect())
  await admin.config('SET', 'maxmemory-policy', 'noeviction')
  await admin.config('SET', 'maxmemory', '1')
  const answers = [
    await call(`${replica.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant_id: 'acme', user_id: 'alice' }) }),
    await call(`${replica.url}/v1/connect-sessions`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant_id: 'acme', user_id: 'bob' }) }),
  ]
  for (const answer of answers) t.same([answer.status, answer.code, Number(answer.retryAfter) >= 1], [503, '9', true], 'Redis unavailable, try again')
  await admin.config('SET', 'maxmemory', '0')
  t.equal((await call(`${replica.url}/v1/token`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify({ tenant_id: 'acme', user_id: 'alice' }) })).status, 200, 'served again once there is room')
  t.notMatch(replica.output.join('\n'), /eyJ[\w-]{20,}/, 'no sealed value (JWE) in any log line')
})

t.test('Redis failing after the state is spent sends the browser back to the app with error=store_unavailable, not to a dead end', { skip: REDIS_CLUSTER_NODES === undefined ? false : 'runs once, in the standalone run: it brings its own standalone redis-server' }, async (t) => {
  const redis = await startOwnRedis(t)
  const h = await startHarness(t, { env: { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '' } })
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice', return_to: `${RETURN_ORIGIN}/done` })).json().url
  const flow = await walkToCallback(h.app, link, { username: 'alice' })

  // The state is consumed, then Redis goes away while OneUp takes its time over the code.
  await h.sandbox.control('/faults', 'POST', { mode: 'hang', ms: 1000, count: 1 })
  const answered = h.app.inject({ method: 'GET', url: flow.callbackUrl.pathname + flow.callbackUrl.search, cookies: flow.cookies })
  while ((await h.sandbox.counters()).token_requests === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  await redis.kill()
  const callback = await answered
  t.equal(callback.statusCode, 303)
  t.equal(callback.headers.location, `${RETURN_ORIGIN}/done?status=error&error=store_unavailable`, 'the app learns what happened')
  t.match(h.logs.join('\n'), /Redis unavailable while finishing a connect flow/)

  await redis.start()
  const again = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice', return_to: `${RETURN_ORIGIN}/done` })).json().url
  const retried = await walkToCallback(h.app, again, { username: 'alice' })
  const done = await h.app.inject({ method: 'GET', url: retried.callbackUrl.pathname + retried.callbackUrl.search, cookies: retried.cookies })
  t.equal(done.headers.location, `${RETURN_ORIGIN}/done?status=connected`, 'and the user connects from the app again')
})
