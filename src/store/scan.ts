import { Cluster } from 'ioredis'
import type { RedisClient } from './redis.js'

/**
 * Every key matching `pattern`, in batches, on a standalone Redis or on every
 * master of a Redis Cluster: SCAN walks one node only, and a cluster spreads
 * keys that share no hash tag (different tenants, apps) over all of them.
 * A key may come twice (SCAN's own guarantee); callers must not mind.
 */
export async function* scanKeys(client: RedisClient, pattern: string, count = 500): AsyncGenerator<string[]> {
  const nodes = client instanceof Cluster ? client.nodes('master') : [client]
  for (const node of nodes) {
    let cursor = '0'
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', count)
      cursor = next
      if (keys.length > 0) yield keys
    } while (cursor !== '0')
  }
}
