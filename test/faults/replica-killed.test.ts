import t from 'tap'
import { connectVia, createAppVia, startFleetBase, tokenVia } from '../helpers/fleet.js'
import { startReplica } from '../helpers/replica.js'

t.test('a replica killed while it holds the refresh lock: the other gets a clean 503 meanwhile, takes over once the lock lapses, and the refresh token is used once', async (t) => {
  // A token of 1 s, expired once asked for: it must be refreshed, and cannot be served meanwhile.
  // ONEUP_TIMEOUT_MS 1000: a refresh's budget is 6 s and its lock lives 11 s.
  const { sandbox, env } = await startFleetBase(t, { accessTokenTtl: 1 }, { ONEUP_TIMEOUT_MS: '1000' })
  const [a, b] = await Promise.all([startReplica(t, env), startReplica(t, env)])
  if (a === undefined || b === undefined) throw new Error('replicas did not start')
  const key = await createAppVia(a.url)
  t.equal((await connectVia(a.url, b.url, key, 'acme', 'alice')).status, 200)
  const body = { tenant_id: 'acme', user_id: 'alice' }
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await sandbox.control('/settings', 'PUT', { access_token_ttl: 3600 })

  // A's refresh reaches OneUp and stalls there, unprocessed; then A dies holding the lock.
  await sandbox.control('/faults', 'POST', { mode: 'stall', ms: 60_000, count: 1 })
  const before = (await sandbox.counters()).token_requests
  const dying = tokenVia(a.url, key, body).catch((error: unknown) => error)
  while ((await sandbox.counters()).token_requests === before) await new Promise((r) => setTimeout(r, 20))
  t.equal(await a.stop('SIGKILL'), 'SIGKILL')
  t.type(await dying, Error, 'A\'s caller lost its connection')

  // B: while the dead lock lives, callers wait a bounded time and get 503 code 8; then B refreshes.
  const seen: Array<{ status: number; code?: string }> = []
  for (const deadline = Date.now() + 40_000; Date.now() < deadline; ) {
    const res = await tokenVia(b.url, key, body)
    const json = (await res.json()) as { error?: { code: string }; access_token?: string }
    seen.push({ status: res.status, ...(json.error === undefined ? {} : { code: json.error.code }) })
    if (res.status === 200) {
      const me = await fetch(`${sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${json.access_token}` } })
      t.equal(me.status, 200, 'B\'s token works at OneUp')
      break
    }
  }
  t.equal(seen.at(-1)?.status, 200, 'B took over once the lock lapsed')
  t.ok(seen.slice(0, -1).every((s) => s.status === 503 && s.code === '8'), `before that, clean 503s (code 8): ${JSON.stringify(seen)}`)
  const counters = await sandbox.counters()
  t.equal(counters.refresh_grants, 1, 'one refresh in all: A\'s never reached OneUp\'s grant')
  t.equal(counters.reuse_detections, 0, 'no refresh token was used twice')
  t.equal(b.process.exitCode, null)
})
