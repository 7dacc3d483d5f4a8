/**
 * The benchmark's yardsticks, each a bare Fastify route in a process of its own
 * (like the broker's): `BENCH_MODE=redis` does one Redis GET of a value the size
 * of a sealed token set and answers the same JSON as a hand-out (reference A);
 * `BENCH_MODE=plain` answers that JSON with no Redis (reference B).
 */
import Fastify from 'fastify'
import { Redis } from 'ioredis'

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
if (mode === 'redis') {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { enableAutoPipelining: true })
  app.post('/v1/token', async () => {
    const value = await redis.get(key)
    if (value === null) throw new Error('seed the reference value first')
    return answer
  })
  app.addHook('onClose', async () => void redis.disconnect())
} else {
  app.post('/v1/token', async () => answer)
}
await app.listen({ port, host: '127.0.0.1' })
process.on('SIGTERM', () => void app.close().then(() => process.exit(0)))
console.log(`reference ${mode} listening on ${(app.server.address() as { port: number }).port}`)
