/**
 * The benchmark's yardsticks, each a bare Fastify route in a process of its own
 * (like the broker's), answering the same JSON as a hand-out:
 * - `BENCH_MODE=plain` (reference B): no Redis, the framework's own limit;
 * - `BENCH_MODE=redis` (reference A): one Redis GET of a value the size of a
 *   sealed token set, the practical limit for anything that reads Redis;
 * - `BENCH_MODE=script` (reference C): the hand-out's own Redis round trip (the
 *   broker's `HandoutStore.read`: the key check, both rate counters and the
 *   record's read in one script) on the seeded app and connections, and nothing
 *   else: what the contract's per-call counting costs before any broker code;
 * - `BENCH_MODE=connect` (reference D): a connect link's Redis work and no
 *   other (the per-IP limit with `@fastify/rate-limit` as the broker sets it up,
 *   the link's read, the write of a flow the size of a sealed one, in sequence)
 *   answered with a redirect: what the browser route costs before any crypto.
 */
import Fastify from 'fastify'
import { Redis } from 'ioredis'
import { HandoutStore } from '../src/store/handout.js'
import { redisKeys } from '../src/store/keys.js'
import { defineScripts } from '../src/store/scripts.js'
import { rateWindow } from '../src/store/window.js'
import { connectReference } from './reference-connect.js'

const mode = process.env.BENCH_MODE ?? 'plain'
const port = Number(process.env.PORT ?? 0)
const key = process.env.BENCH_KEY ?? 'bench:reference'
const answer = {
  access_token: `ory_at_${'x'.repeat(43)}`,
  token_type: 'Bearer',
  expires_in: 3599,
  expires_at: new Date(Date.now() + 3_600_000).toISOString(),
  scope: 'offline_access',
}

const app = Fastify({ logger: false })
if (mode === 'plain') {
  app.post('/v1/token', async () => answer)
} else {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true })
  app.addHook('onClose', async () => void redis.disconnect())
  if (mode === 'redis') {
    app.post('/v1/token', async () => {
      const value = await redis.get(key)
      if (value === null) throw new Error('seed the reference value first')
      return answer
    })
  } else if (mode === 'connect') {
    await connectReference(app, redis, {
      prefix: process.env.REDIS_KEY_PREFIX ?? '',
      sessionKey: process.env.BENCH_SESSION_KEY ?? '',
      flowBytes: Number(process.env.BENCH_FLOW_BYTES ?? 700),
      location: process.env.BENCH_LOCATION ?? '',
    })
  } else {
    defineScripts(redis)
    const reads = new HandoutStore(redis, redisKeys(process.env.REDIS_KEY_PREFIX ?? ''))
    // It enforces no limit (it measures the read): every call counts against the connection, as the broker's common path does.
    const caller = { id: process.env.BENCH_APP_ID ?? '', keyId: process.env.BENCH_KEY_ID ?? '', rateLimit: Number.MAX_SAFE_INTEGER }
    app.post<{ Body: { tenant_id?: string; user_id?: string } | undefined }>('/v1/token', async (request, reply) => {
      // The readiness probe sends no body.
      if (request.body?.tenant_id === undefined || request.body.user_id === undefined) return reply.code(400).send()
      const read = await reads.read(caller, request.body.tenant_id, request.body.user_id, rateWindow(Date.now()))
      if (read.appUsed === -1 || read.connection === undefined) throw new Error('seed the app and its connections first')
      return answer
    })
  }
}
await app.listen({ port, host: '127.0.0.1' })
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
console.log(`reference ${mode} listening on ${(app.server.address() as { port: number }).port}`)
