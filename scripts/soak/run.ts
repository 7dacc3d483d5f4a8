/**
 * The soak: three broker replicas (real processes from dist/) on one Redis of its own (or a
 * Redis Cluster of its own), the OneUp sandbox with short-lived access tokens so that
 * refreshes never stop, a mix of token requests over many connections, one replica killed
 * (SIGKILL) and started again a third of the way in, Redis restarted two thirds of the way
 * in. Loopback only, bounded in time and in requests. `npm run soak` runs it long
 * (scripts/soak.ts); test/soak runs it short in CI.
 */
import { readFileSync } from 'node:fs'
import { startOwnCluster } from '../../test/helpers/cluster.js'
import { connectVia, createAppVia } from '../../test/helpers/fleet.js'
import { brokerEnv, startSandbox } from '../../test/helpers/harness.js'
import { startOwnRedis } from '../../test/helpers/redis-server.js'
import { testPrefix } from '../../test/helpers/redis.js'
import { freePort, startReplica, type Cleanup, type Replica } from '../../test/helpers/replica.js'

export interface SoakOptions {
  /** One redis-server of its own, or a cluster of its own (three masters, three replicas). */
  redis: 'standalone' | 'cluster'
  /** Connected users. */
  connections: number
  /** How long the load runs (ms); the set-up before it is not counted. */
  durationMs: number
  /** Stop sooner once this many token requests were made. */
  maxRequests: number
  /** Requests in flight at once. */
  concurrency: number
  /** The sandbox's access-token lifetime (s): a token that short is refreshed once half its lifetime is left, so 20 means a refresh every 10 s per busy connection. */
  accessTokenTtl: number
  /** The sandbox's refresh-token grace period (s); 0 is strict reuse detection. */
  graceSeconds: number
  /** Progress lines; silent by default. */
  log?: (line: string) => void
}

export interface SoakReport {
  options: Omit<SoakOptions, 'log'>
  seconds: number
  requests: number
  /** HTTP status (or `network` for a connection that failed, e.g. to the killed replica) → count. */
  byStatus: Record<string, number>
  /** Refresh grants OneUp (the sandbox) performed. */
  refreshGrants: number
  /** Expiries served: per connection, the distinct access tokens handed out, less the first. */
  expiries: number
  /** Spent refresh tokens presented again (past any grace): must be 0. */
  reuseDetections: number
  /**
   * Spent refresh tokens presented again within OneUp's grace period: each is a refresh
   * whose answer a fault cut off (a killed replica, Redis gone before the write), retried.
   */
  graceReuses: number
  /** Connections that answered 404 or 409 at any time, or no token at the end: must be 0. */
  lost: number
  /** Resident memory of each replica (MiB) at its start and at the end (or when killed). */
  memory: Array<{ replica: string; startMiB: number; endMiB: number }>
}

export const SHORT_SOAK: Omit<SoakOptions, 'redis'> = {
  connections: 30,
  durationMs: 12_000,
  maxRequests: 20_000,
  concurrency: 6,
  accessTokenTtl: 8,
  graceSeconds: 60,
}

function rssMiB(pid: number | undefined): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'))
    return Math.round((Number(line?.replace(/\D+/g, '') ?? 0) / 1024) * 10) / 10
  } catch {
    return Number.NaN
  }
}

/** Runs `count` tasks with at most `limit` at once. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await task(next++)
  }))
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => undefined)
  const cleanups: Array<() => unknown> = []
  const cleanup: Cleanup = { teardown: (fn) => void cleanups.push(fn) }
  try {
    return await soak(options, cleanup, log)
  } finally {
    for (const fn of cleanups.reverse()) await Promise.resolve(fn()).catch(() => undefined)
  }
}

async function soak(options: SoakOptions, cleanup: Cleanup, log: (line: string) => void): Promise<SoakReport> {
  const prefix = testPrefix()
  const publicUrl = `http://127.0.0.1:${await freePort()}`
  let restartRedis: () => Promise<void>
  let redisEnv: Record<string, string>
  if (options.redis === 'cluster') {
    const cluster = await startOwnCluster(cleanup, 1000)
    redisEnv = { REDIS_CLUSTER_NODES: cluster.nodes }
    restartRedis = async () => {
      // A restart in a cluster: one master goes down, its replica takes over, it comes back as a replica.
      const key = `${prefix}{t:t0}:c:u0`
      const victim = await cluster.masterOf(key)
      cluster.kill(victim)
      await cluster.failedOver(key, victim)
      await cluster.restart(victim)
    }
  } else {
    const redis = await startOwnRedis(cleanup)
    redisEnv = { REDIS_URL: redis.url, REDIS_CLUSTER_NODES: '' }
    restartRedis = async () => {
      await redis.kill()
      await redis.start()
    }
  }
  log(`soak: ${options.redis} Redis up`)
  const sandbox = await startSandbox(
    cleanup,
    { accessTokenTtl: options.accessTokenTtl, refreshGraceSeconds: options.graceSeconds, rateLimit: 1_000_000 },
    `${publicUrl}/oauth/callback`,
  )
  const env = { ...brokerEnv(sandbox.base, prefix, redisEnv), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn' }
  const memory: SoakReport['memory'] = []
  const live: Replica[] = []
  const names = new Map<Replica, string>()
  const started = async (name: string) => {
    const replica = await startReplica(cleanup, env)
    names.set(replica, name)
    memory.push({ replica: name, startMiB: rssMiB(replica.process.pid), endMiB: Number.NaN })
    return replica
  }
  live.push(...(await Promise.all(['replica 1', 'replica 2', 'replica 3'].map(started))))
  const url = (i: number) => live[i % live.length]?.url ?? ''
  const key = await createAppVia(url(0), 'soak')

  const users = Array.from({ length: options.connections }, (_, i) => ({ tenant_id: `t${i % 50}`, user_id: `u${i}` }))
  await pool(users.length, 8, async (i) => {
    const answer = await connectVia(url(i), url(i + 1), key, users[i]?.tenant_id ?? '', users[i]?.user_id ?? '')
    if (answer.status !== 200) throw new Error(`connecting ${i}: ${answer.status}`)
  })
  log(`soak: ${users.length} connections made through 3 replicas`)

  const byStatus: Record<string, number> = {}
  const tokens = users.map(() => new Set<string>())
  const lost = new Set<number>()
  let requests = 0
  const ask = async (i: number, replica: string): Promise<number | 'network'> => {
    try {
      const res = await fetch(`${replica}/v1/token`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(users[i]),
      })
      const body = (await res.json()) as { access_token?: string }
      if (body.access_token !== undefined) tokens[i]?.add(body.access_token)
      if (res.status === 404 || res.status === 409) lost.add(i)
      return res.status
    } catch {
      return 'network'
    }
  }

  const loadStart = Date.now()
  const end = loadStart + options.durationMs
  let killed = false
  let restarted = false
  const chaos = (async () => {
    while (Date.now() < loadStart + options.durationMs / 3) await new Promise((r) => setTimeout(r, 50))
    const victim = live.splice(1, 1)[0]
    if (victim !== undefined) {
      const entry = memory.find((m) => m.replica === names.get(victim))
      if (entry !== undefined) entry.endMiB = rssMiB(victim.process.pid)
      await victim.stop('SIGKILL')
      killed = true
      log('soak: replica 2 killed (SIGKILL)')
      live.push(await started('replica 2, restarted'))
      log('soak: replica 2 started again')
    }
    while (Date.now() < loadStart + (2 * options.durationMs) / 3) await new Promise((r) => setTimeout(r, 50))
    await restartRedis()
    restarted = true
    log(`soak: ${options.redis === 'cluster' ? 'a cluster master killed, failed over and' : 'Redis killed and'} started again`)
  })()

  await Promise.all(Array.from({ length: options.concurrency }, async (_, w) => {
    for (let n = w; Date.now() < end && requests < options.maxRequests; n += 1) {
      requests += 1
      const status = await ask(Math.floor(Math.random() * users.length), url(n))
      byStatus[status] = (byStatus[status] ?? 0) + 1
    }
  }))
  await chaos
  const seconds = (Date.now() - loadStart) / 1000
  log(`soak: load done (${requests} requests in ${seconds.toFixed(1)} s); checking every connection`)

  // Every connection must still hand out a token. A 503 right after the faults is a cooldown
  // or a lapsing lock: ask again for a while before counting it lost.
  await pool(users.length, 8, async (i) => {
    for (const deadline = Date.now() + 30_000; ; await new Promise((r) => setTimeout(r, 500))) {
      const status = await ask(i, url(i))
      if (status === 200 || lost.has(i)) return
      if (Date.now() > deadline) {
        lost.add(i)
        return
      }
    }
  })
  for (const replica of live) {
    const entry = memory.find((m) => m.replica === names.get(replica))
    if (entry !== undefined) entry.endMiB = rssMiB(replica.process.pid)
  }
  const counters = await sandbox.counters()
  if (!killed || !restarted) throw new Error('the soak ended before its faults ran: give it more time')
  const { log: _log, ...shown } = options
  return {
    options: shown,
    seconds,
    requests,
    byStatus,
    refreshGrants: counters.refresh_grants,
    expiries: tokens.reduce((sum, set) => sum + Math.max(0, set.size - 1), 0),
    reuseDetections: counters.reuse_detections,
    graceReuses: counters.grace_reuses,
    lost: lost.size,
    memory,
  }
}

/** The report as the lines `npm run soak` prints. */
export function formatReport(report: SoakReport): string {
  const o = report.options
  return [
    `soak on ${o.redis} Redis: 3 replicas, ${o.connections} connections, access tokens of ${o.accessTokenTtl} s, OneUp grace ${o.graceSeconds} s`,
    `requests: ${report.requests} in ${report.seconds.toFixed(1)} s`,
    `requests by status: ${Object.entries(report.byStatus).sort().map(([status, n]) => `${status}: ${n}`).join(', ')}`,
    `refresh grants seen by OneUp: ${report.refreshGrants}, expiries served: ${report.expiries}`,
    `refresh tokens presented again within OneUp's grace period: ${report.graceReuses} (refreshes whose answer a fault cut off)`,
    `reuse detections: ${report.reuseDetections} (must be 0)`,
    `connections lost: ${report.lost} (must be 0)`,
    ...[...report.memory].sort((a, b) => a.replica.localeCompare(b.replica)).map((m) => `memory of ${m.replica}: ${m.startMiB} MiB at start, ${m.endMiB} MiB at the end`),
  ].join('\n')
}
