import t from 'tap'
import { startOwnCluster } from '../helpers/cluster.js'
import { connectVia, createAppVia, startFleetBase, tokenVia } from '../helpers/fleet.js'
import { REDIS_CLUSTER_NODES } from '../helpers/redis.js'
import { startReplica } from '../helpers/replica.js'

t.test('Redis Cluster: a master killed while tokens are handed out and refreshed costs a few 503s at most, then everything goes on with no lost connection and no refresh token used twice', { skip: REDIS_CLUSTER_NODES === undefined ? false : 'runs once, in the standalone run: it brings its own cluster' }, async (t) => {
  const cluster = await startOwnCluster(t, 1000)
  // Tokens of 4 s: each needs a refresh 2 s after it is issued (half its lifetime), so refreshes run all through the failover.
  const { sandbox, prefix, env } = await startFleetBase(t, { accessTokenTtl: 4 }, { REDIS_CLUSTER_NODES: cluster.nodes })
  const [a, b] = await Promise.all([startReplica(t, env), startReplica(t, env)])
  if (a === undefined || b === undefined) throw new Error('replicas did not start')
  const replicas = [a.url, b.url]
  const key = await createAppVia(a.url)
  // Six tenants: their slots spread over the three masters.
  const users = Array.from({ length: 6 }, (_, i) => ({ tenant_id: `tenant-${i}`, user_id: `user-${i}` }))
  for (const user of users) t.equal((await connectVia(a.url, b.url, key, user.tenant_id, user.user_id)).status, 200)

  const answers: Array<{ user: number; status: number; code?: string; token?: string; after: boolean }> = []
  let failedOver = false
  let running = true
  const workers = Array.from({ length: 4 }, async (_, w) => {
    for (let i = w; running; i += 1) {
      const user = i % users.length
      const res = await tokenVia(replicas[i % 2] ?? a.url, key, users[user] ?? {})
      const body = (await res.json()) as { access_token?: string; error?: { code: string } }
      answers.push({ user, status: res.status, after: failedOver, ...(body.error ? { code: body.error.code } : {}), ...(body.access_token ? { token: body.access_token } : {}) })
    }
  })
  const until = async (predicate: () => boolean | Promise<boolean>, what: string) => {
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
      if (await predicate()) return
    }
    throw new Error(`timed out waiting for ${what}`)
  }
  await until(async () => (await sandbox.counters()).refresh_grants >= 6, 'refreshes under load')

  // Kill the master holding tenant-0 (its connections, locks and counters).
  const victimKey = `${prefix}{t:tenant-0}:c:user-0`
  const victim = await cluster.masterOf(victimKey)
  cluster.kill(victim)
  const promoted = await cluster.failedOver(victimKey, victim)
  t.not(promoted, victim, `a replica took over (${victim} → ${promoted})`)
  failedOver = true
  // Serving again on every tenant, including refreshes after the failover.
  await until(() => users.every((_, i) => answers.some((x) => x.after && x.user === i && x.status === 200)), 'every user served after the failover')
  const grantsAtFailover = (await sandbox.counters()).refresh_grants
  await until(async () => (await sandbox.counters()).refresh_grants >= grantsAtFailover + 6, 'refreshes after the failover')
  running = false
  await Promise.all(workers)

  const statuses = new Set(answers.map((x) => x.status))
  const only = [...statuses].every((s) => s === 200 || s === 503)
  t.ok(only, `only tokens and 503s: ${[...statuses].join(', ')}`)
  if (!only) t.comment([...a.output, ...b.output].filter((line) => line.includes('"level":50')).join('\n'))
  const unavailable = answers.filter((x) => x.status === 503)
  t.ok(unavailable.every((x) => x.code === '9' || x.code === '8'), 'each 503 says Redis (9) or a refresh that could not finish (8)')
  t.comment(`${answers.length} answers, ${unavailable.length} of them 503`)

  // Every connection still works: none lost, none needs its user again.
  for (const user of users) t.equal((await tokenVia(b.url, key, user)).status, 200, `${user.tenant_id} still connected`)
  const counters = await sandbox.counters()
  t.equal(counters.reuse_detections, 0, 'no refresh token was presented twice')
  // Each refresh OneUp performed gave a token that callers then received: none wasted, none doubled.
  const rotations = users.reduce((sum, _, i) => sum + new Set(answers.filter((x) => x.user === i && x.token).map((x) => x.token)).size - 1, 0)
  t.ok(counters.refresh_grants <= rotations + users.length, `refresh grants ${counters.refresh_grants}, token rotations seen ${rotations}`)
})
