import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import type { Redis } from 'ioredis'
import { redisKeys } from '../src/store/keys.js'
import { WINDOW_MS } from '../src/store/window.js'

/**
 * Reference D's route: a connect link's Redis work and no other (the per-IP
 * limit with `@fastify/rate-limit` as the broker sets it up, the link's read,
 * the write of a flow the size of a sealed one, in sequence), answered with a
 * redirect to `location`.
 */
export async function connectReference(
  app: FastifyInstance,
  redis: Redis,
  options: { prefix: string; sessionKey: string; flowBytes: number; location: string },
): Promise<void> {
  const keys = redisKeys(options.prefix)
  const flow = 'x'.repeat(options.flowBytes)
  await app.register(rateLimit, { global: false, redis, nameSpace: `${options.prefix}ip:`, timeWindow: WINDOW_MS })
  app.get('/healthz', async () => 'ok')
  let flows = 0
  // Counted on every call (the same script as the broker's), but never reached: the bench sends
  // reference D about a million calls in one window at its usual rate, and a 429 is no yardstick.
  app.get('/connect/:token', { config: { rateLimit: { max: Number.MAX_SAFE_INTEGER, timeWindow: WINDOW_MS } } }, async (_request, reply) => {
    if ((await redis.get(options.sessionKey)) === null) throw new Error('seed the connect link first')
    // A new flow key each time, as the broker writes one per redirect (a counter: no crypto here).
    // Kept a minute, not the broker's ten: the same write, but a run's million of them must not
    // hold half a gigabyte of the shared Redis until the bench cleans up.
    await redis.set(keys.flow(`reference-d-${process.pid}-${++flows}`), flow, 'PX', 60_000)
    return reply.redirect(options.location, 302)
  })
}
