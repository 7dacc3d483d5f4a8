import t, { type Test } from 'tap'
import type { Cluster } from 'ioredis'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { createRedisClient } from '../../src/store/redis.js'

const base = {
  REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7000',
  TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64url')}`,
  COOKIE_SECRET: 'c'.repeat(32),
}

/** The options every node of the cluster is reached with (no connection made: lazyConnect). */
function nodeOptions(t: Test, env: Record<string, string>) {
  const cluster = createRedisClient(loadConfig({ ...base, ...env }).config.redis) as Cluster
  t.teardown(() => cluster.disconnect())
  return cluster.options.redisOptions ?? {}
}

// SECURITY.md asks for AUTH and TLS; with REDIS_CLUSTER_NODES set, REDIS_URL was ignored entirely:
// a cluster with requirepass could not be used, and without it the broker talked to it in clear.
t.test('with REDIS_CLUSTER_NODES, every node gets REDIS_URL\'s user, password and TLS', async (t) => {
  const options = nodeOptions(t, { REDIS_URL: 'rediss://broker:s3cr%40t@redis.internal:6380' })
  t.equal(options.password, 's3cr@t', 'authenticated (percent-decoded)')
  t.equal(options.username, 'broker', 'as the ACL user')
  t.ok(options.tls !== undefined, 'over TLS')
  t.equal(options.commandTimeout, 2_000, 'with the broker\'s usual options')

  const plain = nodeOptions(t, { REDIS_URL: 'redis://:only-a-password@ignored:6379' })
  t.equal(plain.password, 'only-a-password')
  t.equal(plain.username, undefined)
  t.equal(plain.tls, undefined, 'redis:// is not TLS')
  t.equal(nodeOptions(t, { REDIS_URL: 'redis://:100%zz@ignored:6379' }).password, '100%zz', 'a password with a stray % is kept as written')
  const none = nodeOptions(t, {})
  t.same([none.username, none.password, none.tls], [undefined, undefined, undefined], 'the default REDIS_URL: no auth, no TLS, as before')
})

t.test('a db index in REDIS_URL, which a cluster cannot honour, is refused without echoing the URL', async (t) => {
  for (const url of ['redis://:s3cret@redis.internal:6379/2', 'rediss://:s3cret@redis.internal:6379/15']) {
    try {
      loadConfig({ ...base, REDIS_URL: url })
      t.fail(`${url.replace('s3cret', '…')} accepted`)
    } catch (error) {
      t.ok(error instanceof ConfigError)
      t.match((error as Error).message, /REDIS_URL names a db index, but Redis Cluster has only db 0/)
      t.notMatch((error as Error).message, /s3cret|redis\.internal/, 'the URL is not printed')
    }
  }
  t.doesNotThrow(() => loadConfig({ ...base, REDIS_URL: 'redis://redis.internal:6379/0' }), 'db 0 is what a cluster has')
})
