import Fastify from 'fastify'
import type { Redis } from 'ioredis'
import t from 'tap'
import { connectReference } from '../../bench/reference-connect.js'
import { redisKeys } from '../../src/store/keys.js'
import { scanKeys } from '../../src/store/scan.js'
import { scriptedRedis } from '../helpers/redis.js'

// The bench runs reference D for ROUNDS × (warm-up + BENCH_DURATION) seconds in one 15-minute
// window: at its usual 20,000+ req/s that is close to a million calls, more on a faster machine
// or with longer runs. It must do the per-IP limit's Redis work on every call, never answer 429.
t.test("reference D counts every call against the per-IP limit, as the broker does, but is never stopped by it", async (t) => {
  const { redis, prefix } = await scriptedRedis(t)
  const sessionKey = redisKeys(prefix).connectSession('bench-session')
  await redis.set(sessionKey, '{}')
  const app = Fastify({ logger: false })
  t.teardown(() => app.close())
  await connectReference(app, redis as Redis, { prefix, sessionKey, flowBytes: 100, location: 'http://oneup.test/oauth2/auth?state=x' })

  const first = await app.inject({ method: 'GET', url: '/connect/cs_x' })
  t.equal(first.statusCode, 302)
  t.equal(first.headers.location, 'http://oneup.test/oauth2/auth?state=x')
  const counter = `${prefix}ip:GET/connect/:token-127.0.0.1`
  t.equal(await redis.get(counter), '1', 'the call was counted in Redis')
  const flows: string[] = []
  for await (const keys of scanKeys(redis, `${prefix}{fl:*`)) flows.push(...keys)
  t.equal(flows.length, 1, 'and a flow written')

  // A long bench run later (the count is what it would be after a million calls).
  await redis.set(counter, '1000000', 'KEEPTTL')
  const later = await app.inject({ method: 'GET', url: '/connect/cs_x' })
  t.equal(later.statusCode, 302, 'still a redirect, not a 429')
  t.equal(await redis.get(counter), '1000001', 'still counted')
})
