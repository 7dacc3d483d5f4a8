/**
 * `npm run bench`: the hand-out against its yardsticks, on loopback, bounded in
 * time. Builds nothing itself (the npm script builds first); starts Redis-backed
 * reference servers, the OneUp sandbox and the broker (production mode, logs at
 * warn) as processes of their own; seeds connections through the broker's own
 * code; drives load with autocannon from another process; prints one table and
 * writes it as JSON under bench/results/. `--smoke` runs a tiny version (CI).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { pino } from 'pino'
import { createBroker } from '../src/broker.js'
import { loadConfig } from '../src/config/config.js'
import { sha256hex } from '../src/crypto/random.js'
import { redisKeys } from '../src/store/keys.js'
import { createRedisClient } from '../src/store/redis.js'
import { connectOverHttp, throughOneUp } from '../test/helpers/oneup-browser.js'
import { freePort, runTool, startProcess, type Running } from './processes.js'
import { mb, median, pick, ratio, roundsRow, type Load, type Row } from './rows.js'

const smoke = process.argv.includes('--smoke')
const root = fileURLToPath(new URL('../../', import.meta.url))
const tool = (name: string) => fileURLToPath(new URL(`./${name}.js`, import.meta.url))
const DURATION = smoke ? 1 : Number(process.env.BENCH_DURATION ?? 10)
const WARMUP = smoke ? 1 : 3
const CONNECTIONS = smoke ? 10 : 50
const USERS = smoke ? 200 : 10_000
const STORM_USERS = smoke ? 10 : 100
const STORM_CALLERS = 10
const ROUNDS = smoke ? 1 : Number(process.env.BENCH_ROUNDS ?? 3)
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `bench:${randomBytes(4).toString('hex')}:`
/** `BENCH_ONLY=connect,storm`: run only these of connect, storm, scale (the references and the hand-out always run). */
const only = process.env.BENCH_ONLY?.split(',')
const wants = (step: string) => only === undefined || only.includes(step)

const rows: Row[] = []
const running: Running[] = []
const log = (line: string) => process.stderr.write(`bench: ${line}\n`)

async function load(server: Running, path: string, spec: Record<string, unknown>, redis: Redis): Promise<Load> {
  const url = `${server.url}${path}`
  // A short warm-up first (JIT, connection pools, the broker's open-token cache), not measured.
  await runTool<Load>(tool('load'), { url, method: 'POST', connections: CONNECTIONS, ...spec, duration: WARMUP })
  const [serverBefore, redisBefore] = [server.cpuSeconds(), await redisCpuSeconds(redis)]
  const result = await runTool<Load>(tool('load'), { url, method: 'POST', connections: CONNECTIONS, ...spec, duration: DURATION })
  const [serverAfter, redisAfter] = [server.cpuSeconds(), await redisCpuSeconds(redis)]
  const perRequest = (seconds: number) => (result.total === 0 ? 0 : Math.round((seconds * 1e6) / result.total))
  return { ...result, cpuPerRequest: { server: perRequest(serverAfter - serverBefore), redis: perRequest(redisAfter - redisBefore), loader: perRequest(result.cpuSeconds) } }
}

async function main(): Promise<void> {
  const ports = { sandbox: await freePort(), broker: await freePort(), refA: await freePort(), refB: await freePort(), refC: await freePort(), refD: await freePort(), cluster: await freePort() }
  const publicUrl = `http://127.0.0.1:${ports.broker}`
  const sandboxBase = `http://127.0.0.1:${ports.sandbox}/sandbox`
  const adminKey = randomBytes(32).toString('base64url')
  const env: Record<string, string> = {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    PORT: String(ports.broker),
    PUBLIC_URL: publicUrl,
    REDIS_URL,
    REDIS_KEY_PREFIX: prefix,
    ONEUP_CLIENT_ID: 'sandbox-client',
    ONEUP_CLIENT_SECRET: 'sandbox-secret',
    ONEUP_AUTHORIZATION_URL: `${sandboxBase}/oauth2/auth`,
    ONEUP_TOKEN_URL: `${sandboxBase}/oauth2/token`,
    ONEUP_API_URL: `${sandboxBase}/v1`,
    TOKEN_ENCRYPTION_KEYS: `b1:${randomBytes(32).toString('base64url')}`,
    COOKIE_SECRET: randomBytes(32).toString('base64url'),
    BROKER_ADMIN_KEY: adminKey,
    // Every simulated browser comes from 127.0.0.1: the per-IP limits would stop the load, not measure it.
    IP_RATE_LIMIT: '1000000',
    ...(process.env.BENCH_NODE_OPTIONS === undefined ? {} : { NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS }),
  }
  const redis = new Redis(REDIS_URL)

  // 1. Seed through the broker's own code, and measure what a connection costs Redis.
  const { config } = loadConfig(env)
  const client = createRedisClient(config.redis)
  const broker = createBroker({ config, redis: client, log: pino({ level: 'warn' }) })
  const app = await broker.appService.create({ name: 'bench', tenants: ['*'], returnOrigins: [], rateLimit: 1_000_000_000 })
  const memoryBefore = await usedMemory(redis)
  const now = Date.now()
  for (let start = 0; start < USERS; start += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, USERS - start) }, async (_, i) => {
        const userId = `u${start + i}`
        const tokens = {
          accessToken: `ory_at_${randomBytes(32).toString('base64url')}`,
          refreshToken: `ory_rt_${randomBytes(32).toString('base64url')}`,
          accessExpiresAt: now + 2 * 3600_000,
          scope: 'offline_access',
        }
        const sealed = await broker.opener.seal('bench', userId, tokens)
        await broker.connections.write('bench', userId, 'any', { status: 'active', sealed, kid: broker.opener.primaryKid, scope: tokens.scope, appId: app.id, refreshedAt: now, accessExpiresAt: tokens.accessExpiresAt }, now)
      }),
    )
  }
  const memoryAfter = await usedMemory(redis)
  // A connect link that stays valid: it is only spent by a finished callback.
  const session = await broker.connect.createSession({ id: app.id, keyId: app.key_id, name: 'bench', tenants: ['*'], returnOrigins: [], rateLimit: 1 }, { tenantId: 'bench', userId: 'connect-user', returnTo: undefined })
  const bytesPerConnection = Math.round((memoryAfter - memoryBefore) / USERS)
  await client.quit()
  log(`seeded ${USERS} connections (${bytesPerConnection} bytes of Redis memory each)`)

  // 2. The processes: sandbox, broker, the four yardsticks.
  const sandbox = await startProcess(`${root}dist/sandbox/main.js`, { SANDBOX_PORT: String(ports.sandbox), SANDBOX_REDIRECT_URIS: `${publicUrl}/oauth/callback` }, ports.sandbox, '/sandbox/_control/counters')
  running.push(sandbox)
  // BENCH_PROFILE=1: V8 CPU profiles of the broker and of reference A for the whole run, under bench/results/.
  const profile = process.env.BENCH_PROFILE === '1' ? ['--cpu-prof', `--cpu-prof-dir=${root}bench/results`] : []
  const brokerProcess = await startProcess(`${root}dist/server.js`, env, ports.broker, '/healthz', profile)
  running.push(brokerProcess)
  const sealedSample = await redis.hget(`${prefix}{t:bench}:c:u0`, 'sealed')
  await redis.set(`${prefix}reference`, sealedSample ?? 'x'.repeat(700))
  const refA = await startProcess(tool('reference-server'), { BENCH_MODE: 'redis', PORT: String(ports.refA), REDIS_URL, BENCH_KEY: `${prefix}reference` }, ports.refA, '/v1/token', profile)
  const refB = await startProcess(tool('reference-server'), { BENCH_MODE: 'plain', PORT: String(ports.refB) }, ports.refB, '/v1/token')
  const refC = await startProcess(tool('reference-server'), { BENCH_MODE: 'script', PORT: String(ports.refC), REDIS_URL, REDIS_KEY_PREFIX: prefix, BENCH_APP_ID: app.id, BENCH_KEY_ID: app.key_id }, ports.refC, '/v1/token')
  running.push(refA, refB, refC)
  // Reference D copies a real connect redirect: its Location, and the size of the flow it stored.
  const sample = await fetch(session.url, { redirect: 'manual' })
  const location = sample.headers.get('location') ?? ''
  if (sample.status !== 302 || !URL.canParse(location)) throw new Error(`the sample connect redirect failed (${sample.status})`)
  const sampleState = new URL(location).searchParams.get('state') ?? ''
  const flowBytes = (await redis.get(redisKeys(prefix).flow(sha256hex(sampleState))))?.length
  if (flowBytes === undefined) throw new Error('the sample connect redirect stored no flow')
  const refD = await startProcess(
    tool('reference-server'),
    { BENCH_MODE: 'connect', PORT: String(ports.refD), REDIS_URL, REDIS_KEY_PREFIX: prefix, BENCH_SESSION_KEY: redisKeys(prefix).connectSession(sha256hex(session.token)), BENCH_FLOW_BYTES: String(flowBytes), BENCH_LOCATION: location },
    ports.refD,
  )
  running.push(refD)

  // 3. Throughput, side by side. The yardsticks get the same requests as the hand-out (a
  // random user each), so the load generator's own cost is the same; references A and C,
  // the hand-out, reference D and connect alternate for ROUNDS rounds and the median of each is kept, so a burst of
  // background load on the machine skews one round, not the result.
  const sameRequests = { bearer: app.key, users: USERS, tenant: 'bench' }
  log('reference B (framework only)')
  const b = await load(refB, '/v1/token', sameRequests, redis)
  rows.push({ name: 'reference B: bare route', ...pick(b), peakRssMb: mb(refB.peakRss()) })
  const aRounds: Load[] = []
  const cRounds: Load[] = []
  const handoutRounds: Load[] = []
  const connectRounds: Load[] = []
  const dRounds: Load[] = []
  for (let round = 1; round <= ROUNDS; round += 1) {
    log(`reference A (one Redis GET), round ${round}/${ROUNDS}`)
    aRounds.push(await load(refA, '/v1/token', sameRequests, redis))
    log(`reference C (the hand-out's script), round ${round}/${ROUNDS}`)
    cRounds.push(await load(refC, '/v1/token', sameRequests, redis))
    log(`hand-out, round ${round}/${ROUNDS}`)
    handoutRounds.push(await load(brokerProcess, '/v1/token', sameRequests, redis))
    if (wants('connect')) {
      log(`reference D (the connect link's Redis work), round ${round}/${ROUNDS}`)
      dRounds.push(await load(refD, new URL(session.url).pathname, { method: 'GET' }, redis))
      log(`connect, round ${round}/${ROUNDS}`)
      connectRounds.push(await load(brokerProcess, new URL(session.url).pathname, { method: 'GET' }, redis))
    }
  }
  const a = median(aRounds)
  const c = median(cRounds)
  const handout = median(handoutRounds)
  rows.push(roundsRow('reference A: one Redis GET', aRounds, refA))
  rows.push(roundsRow("reference C: the hand-out's script", cRounds, refC, a))
  rows.push(roundsRow(`hand-out (${USERS} connections)`, handoutRounds, brokerProcess, a))
  if (connectRounds.length > 0) {
    rows.push(roundsRow("reference D: connect's Redis work", dRounds, refD, a, 'redirects'))
    rows.push(roundsRow('connect: GET /connect/:token', connectRounds, brokerProcess, a, 'redirects'))
  }

  // 4. The storm: expired tokens, many callers each, exactly one refresh per connection.
  let stormResult: { grants: number; reuse: number; consistent: boolean; p99: number; oneupP99: number; bareBurstP99: number } | undefined
  if (wants('storm')) stormResult = await runStorm()
  async function runStorm() {
    log('storm')
    const control = (path: string, body: unknown) => fetch(`${sandboxBase}/_control${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
    await control('/settings', { access_token_ttl: 1 })
    const stormUsers = Array.from({ length: STORM_USERS }, (_, i) => `storm${i}`)
    for (const userId of stormUsers) {
      const res = await connectOverHttp({ brokerUrl: brokerProcess.url, appKey: app.key, tenantId: 'storm', userId })
      if (res.status !== 200) throw new Error(`storm connect failed: ${res.status}`)
  }
  const directTokens = await directRefreshTokens(sandboxBase, publicUrl, STORM_USERS)
  await control('/settings', { access_token_ttl: 3600 })
  await new Promise((resolve) => setTimeout(resolve, 1100)) // expired now
  const before = await counters(sandboxBase)
  const storm = await runTool<{ ok: number; failed: number; p50: number; p99: number; consistent: boolean }>(tool('storm'), {
    urls: [brokerProcess.url],
    bearer: app.key,
    tenant: 'storm',
    users: stormUsers,
    callers: STORM_CALLERS,
  })
  const after = await counters(sandboxBase)
  const ownLatency = await runTool<{ p50: number; p99: number; failed: number }>(tool('storm'), {
    urls: [],
    bearer: '',
    tenant: '',
    users: [],
    callers: 0,
    direct: { tokenUrl: `${sandboxBase}/oauth2/token`, clientId: 'sandbox-client', clientSecret: 'sandbox-secret', refreshTokens: directTokens },
  })
  // The same burst of calls on the bare route: what a thousand simultaneous callers cost
  // this machine and this client before the broker does anything.
  const bareBurst = await runTool<{ p50: number; p99: number; failed: number }>(tool('storm'), {
    urls: [refB.url],
    bearer: app.key,
    tenant: 'storm',
    users: stormUsers,
    callers: STORM_CALLERS,
  })
  const grants = after.refresh_grants - before.refresh_grants
  rows.push({
    name: `storm: ${STORM_USERS} expired × ${STORM_CALLERS} callers`,
    p50: round(storm.p50),
    p99: round(storm.p99),
    errors: storm.failed,
    non2xx: 0,
    peakRssMb: mb(brokerProcess.peakRss()),
    note: `refresh grants ${grants} (want ${STORM_USERS}), reuse ${after.reuse_detections}, same token per user: ${storm.consistent}; OneUp's own p99 under its ${STORM_USERS} refreshes ${round(ownLatency.p99)} ms; the same ${STORM_USERS * STORM_CALLERS} calls on reference B: p50 ${round(bareBurst.p50)}, p99 ${round(bareBurst.p99)} ms`,
  })
  return { grants, reuse: after.reuse_detections, consistent: storm.consistent, p99: storm.p99, oneupP99: ownLatency.p99, bareBurstP99: bareBurst.p99 }
  }

  // 5. Scale: the same hand-out on two worker processes behind one port.
  await brokerProcess.stop()
  if (wants('scale')) {
    log('scale (2 workers)')
    const clustered = await startProcess(tool('cluster-broker'), { ...env, PORT: String(ports.cluster), BENCH_WORKERS: '2', BENCH_SERVER_JS: `${root}dist/server.js` }, ports.cluster)
    running.push(clustered)
    const two = await load(clustered, '/v1/token', sameRequests, redis)
    // Memory per broker process (the largest worker), as for one process above; the note has all of them together.
    rows.push({
      name: 'scale: hand-out on 2 workers',
      ...pick(two),
      peakRssMb: mb(clustered.peakProcessRss()),
      vsReferenceA: ratio(two.rps, a.rps),
      note: `× ${ratio(two.rps, handout.rps)} of one process; peak RSS of the primary and both workers together ${mb(clustered.peakRss())} MB`,
    })
  }

  const report = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    settings: { duration_s: DURATION, rounds: ROUNDS, connections: CONNECTIONS, users: USERS, smoke },
    redis_bytes_per_connection: bytesPerConnection,
    rows,
    targets: {
      handout_throughput_vs_reference_a: ratio(handout.rps, a.rps),
      handout_p99_vs_reference_a: ratio(handout.p99, a.p99),
      reference_c_vs_reference_a: ratio(c.rps, a.rps),
      handout_vs_reference_c: ratio(handout.rps, c.rps),
      connect_vs_reference_a: connectRounds.length === 0 ? null : ratio(median(connectRounds).rps, a.rps),
      reference_d_vs_reference_a: dRounds.length === 0 ? null : ratio(median(dRounds).rps, a.rps),
      storm: stormResult ?? null,
      broker_peak_rss_mb: Math.max(mb(brokerProcess.peakRss()), ...rows.filter((r) => !r.name.startsWith('reference')).map((r) => r.peakRssMb ?? 0)),
    },
  }
  printTable(report)
  mkdirSync(`${root}bench/results`, { recursive: true })
  const file = `${root}bench/results/${report.date.replace(/[:.]/g, '-')}${smoke ? '-smoke' : ''}.json`
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`)
  log(`written ${file}`)

  const failures = rows.filter((r) => (r.errors ?? 0) > 0 || (r.non2xx ?? 0) > 0).map((r) => r.name)
  if (stormResult !== undefined && (stormResult.grants !== STORM_USERS || stormResult.reuse !== 0 || !stormResult.consistent)) failures.push('storm')
  await redis.quit()
  if (failures.length > 0) {
    log(`FAILED: ${failures.join(', ')}`)
    process.exitCode = 1
  }
}

/** Refresh tokens obtained straight from the sandbox (not through the broker), for its own latency. */
async function directRefreshTokens(sandboxBase: string, publicUrl: string, count: number): Promise<string[]> {
  const tokens: string[] = []
  for (let i = 0; i < count; i += 1) {
    const verifier = randomBytes(32).toString('base64url')
    const query = new URLSearchParams({ response_type: 'code', client_id: 'sandbox-client', redirect_uri: `${publicUrl}/oauth/callback`, scope: 'offline_access', state: `bench-state-${i}`, code_challenge: verifier })
    const back = await throughOneUp(`${sandboxBase}/oauth2/auth?${query}`)
    const form = new URLSearchParams({ grant_type: 'authorization_code', code: back.searchParams.get('code') ?? '', redirect_uri: `${publicUrl}/oauth/callback`, code_verifier: verifier, client_id: 'sandbox-client', client_secret: 'sandbox-secret' })
    const answer = (await (await fetch(`${sandboxBase}/oauth2/token`, { method: 'POST', body: form })).json()) as { refresh_token: string }
    tokens.push(answer.refresh_token)
  }
  return tokens
}

async function counters(sandboxBase: string): Promise<{ refresh_grants: number; reuse_detections: number }> {
  return (await (await fetch(`${sandboxBase}/_control/counters`)).json()) as { refresh_grants: number; reuse_detections: number }
}

/** CPU seconds the Redis server has used (its main process, from `INFO cpu`). */
async function redisCpuSeconds(redis: Redis): Promise<number> {
  const info = await redis.info('cpu')
  const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? 0)
  return field('used_cpu_user') + field('used_cpu_sys')
}

async function usedMemory(redis: Redis): Promise<number> {
  const info = await redis.info('memory')
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)
}

const round = (x: number) => Math.round(x * 10) / 10

function printTable(report: { date: string; machine: string; redis_bytes_per_connection: number; rows: Row[] }): void {
  const header = ['', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'peak RSS MB', '× ref A']
  const lines = report.rows.map((r) => [r.name, r.rps ?? '', r.p50 ?? '', r.p99 ?? '', r.errors ?? '', r.non2xx ?? '', r.peakRssMb ?? '', r.vsReferenceA ?? ''].map(String))
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] ?? '').length)))
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join(' | ')} |`
  console.log(`\n${report.date} · ${report.machine}`)
  console.log(fmt(header))
  console.log(`|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`)
  for (const line of lines) console.log(fmt(line))
  for (const r of report.rows) if (r.note !== undefined) console.log(`- ${r.name}: ${r.note}`)
  console.log('- CPU per request (µs; server / Redis / load generator), where the shared cores went:')
  for (const r of report.rows) {
    const cpu = r.cpuPerRequest
    if (cpu !== undefined) console.log(`  - ${r.name}: ${cpu.server} / ${cpu.redis} / ${cpu.loader}`)
  }
  console.log(`- Redis memory per stored connection: ${report.redis_bytes_per_connection} bytes`)
}

try {
  await main()
} finally {
  await Promise.all(running.map((r) => r.stop()))
  // Leave nothing behind in the shared Redis.
  const redis = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) await redis.unlink(...keys)
  } while (cursor !== '0')
  await redis.quit()
}
