import { randomBytes } from 'node:crypto'
import { Cluster, Redis } from 'ioredis'
import { scanKeys } from '../../src/store/scan.js'
import { defineScripts } from '../../src/store/scripts.js'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/**
 * `host:port,…` of a Redis Cluster to run every test on instead of the
 * standalone `REDIS_URL` (CI runs the suite once on each).
 */
export const REDIS_CLUSTER_NODES = process.env.TEST_REDIS_CLUSTER_NODES?.trim() || undefined

/** The variables that point a broker at the tests' Redis (standalone or cluster). */
export function redisEnv(): Record<string, string> {
  return REDIS_CLUSTER_NODES === undefined ? { REDIS_URL } : { REDIS_URL, REDIS_CLUSTER_NODES }
}

/** A plain client of the tests' Redis (standalone or cluster), connected. */
export async function testRedis(): Promise<Redis | Cluster> {
  const redis =
    REDIS_CLUSTER_NODES === undefined
      ? new Redis(REDIS_URL, { lazyConnect: true })
      : new Cluster(
          REDIS_CLUSTER_NODES.split(',').map((node) => {
            const colon = node.lastIndexOf(':')
            return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) }
          }),
          { lazyConnect: true },
        )
  await redis.connect()
  return redis
}

/**
 * The tests' Redis with the broker's scripts defined, and a key prefix of this test's
 * own: its keys are deleted and the client closed when the test ends.
 */
export async function scriptedRedis(t: { teardown(fn: () => unknown): void }): Promise<{ redis: Redis | Cluster; prefix: string }> {
  const redis = await testRedis()
  defineScripts(redis)
  const prefix = testPrefix()
  t.teardown(async () => {
    await deletePrefix(prefix)
    redis.disconnect()
  })
  return { redis, prefix }
}

/** A key prefix of this test's own, so tests share a Redis without touching each other. */
export const testPrefix = (): string => `test:${randomBytes(5).toString('hex')}:`

/** Deletes every key under a prefix, on every master of a cluster (never the whole server: it is shared). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = await testRedis()
  try {
    // One key per UNLINK: in a cluster, keys of different slots cannot go in one command.
    for await (const keys of scanKeys(redis, `${prefix}*`)) await Promise.all(keys.map((key) => redis.unlink(key)))
  } finally {
    redis.disconnect()
  }
}

/** Every key and value under a prefix, values read whatever their type (for at-rest scans). */
export async function dumpPrefix(prefix: string): Promise<Array<{ key: string; text: string }>> {
  const redis = await testRedis()
  try {
    const out: Array<{ key: string; text: string }> = []
    for await (const keys of scanKeys(redis, `${prefix}*`)) {
      for (const key of keys) {
        const type = await redis.type(key)
        let value: unknown
        if (type === 'string') value = await redis.get(key)
        else if (type === 'hash') value = await redis.hgetall(key)
        else if (type === 'zset') value = await redis.zrange(key, '0', '-1', 'WITHSCORES')
        else if (type === 'set') value = await redis.smembers(key)
        else if (type === 'list') value = await redis.lrange(key, 0, -1)
        else if (type === 'stream') value = await redis.xrange(key, '-', '+')
        out.push({ key, text: JSON.stringify(value) })
      }
    }
    return out
  } finally {
    redis.disconnect()
  }
}
