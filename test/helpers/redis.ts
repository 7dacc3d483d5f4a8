import { randomBytes } from 'node:crypto'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

/** A key prefix of this test's own, so tests share a Redis without touching each other. */
export const testPrefix = (): string => `test:${randomBytes(5).toString('hex')}:`

/** Deletes every key under a prefix (never FLUSHALL: the server is shared). */
export async function deletePrefix(prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  try {
    await redis.connect()
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) await redis.unlink(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
}

/** Every key and value under a prefix, values read whatever their type (for at-rest scans). */
export async function dumpPrefix(prefix: string): Promise<Array<{ key: string; text: string }>> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  try {
    await redis.connect()
    const out: Array<{ key: string; text: string }> = []
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
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
    } while (cursor !== '0')
    return out
  } finally {
    redis.disconnect()
  }
}
