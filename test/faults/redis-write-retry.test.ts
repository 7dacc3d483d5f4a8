import { pino } from 'pino'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { createSealer } from '../../src/crypto/sealer.js'
import { BrokerEvents } from '../../src/events.js'
import type { OneUpClient } from '../../src/oneup/client.js'
import { ConnectionStore } from '../../src/store/connections.js'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisClient, isRedisUnavailable } from '../../src/store/redis.js'
import { defaultRefreshPolicy, RefreshCoordinator } from '../../src/tokens/refresh.js'
import { TokenOpener } from '../../src/tokens/token-set.js'
import { brokerEnv } from '../helpers/harness.js'
import { deletePrefix, testPrefix } from '../helpers/redis.js'

/**
 * OneUp rotated the refresh token, then Redis failed the write: the new token set is the
 * only copy of the new refresh token, so the refresher must keep trying to store it.
 */
async function setUp(t: Test, failures: number, budgetMs = 5_000) {
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const { config } = loadConfig(brokerEnv('http://127.0.0.1:9/sandbox', prefix))
  const redis = createRedisClient(config.redis)
  t.teardown(() => redis.quit())
  const store = new ConnectionStore(redis, redisKeys(prefix))
  const opener = new TokenOpener(createSealer(config.encryptionKeys))
  const now = Date.now()
  const sealed = await opener.seal('acme', 'alice', { accessToken: 'at-1', refreshToken: 'rt-1', accessExpiresAt: now + 1000, scope: 'offline_access' })
  await store.write('acme', 'alice', 'any', { status: 'active', sealed, kid: opener.primaryKid, scope: 'offline_access', appId: 'app_x', refreshedAt: now, accessExpiresAt: now + 1000 }, now)
  const seen = await store.read('acme', 'alice')
  if (seen === undefined) throw new Error('not stored')

  // The store as the refresher sees it: its writes fail as a Redis connection lost would.
  const writes = { tried: 0, left: failures }
  const flaky = Object.create(store) as ConnectionStore
  flaky.write = async (...args) => {
    writes.tried += 1
    if (writes.left-- > 0) throw new Error('Connection is closed.')
    return store.write(...args)
  }
  const presented: string[] = []
  const oneup: OneUpClient = {
    authorizationUrl: () => '',
    exchangeCode: () => Promise.reject(new Error('not used')),
    refresh: async (refreshToken) => {
      presented.push(refreshToken)
      return { accessToken: 'at-2', refreshToken: 'rt-2', expiresIn: 3600, scope: 'offline_access' }
    },
  }
  const refresher = new RefreshCoordinator({
    store: flaky,
    opener,
    oneup,
    policy: { ...defaultRefreshPolicy(1000), budgetMs },
    log: pino({ level: 'silent' }),
    events: new BrokerEvents(),
  })
  const stored = async () => {
    const record = await store.read('acme', 'alice')
    return record === undefined ? undefined : { version: record.version, tokens: await opener.open('acme', 'alice', record.sealed) }
  }
  return { refresher, seen, writes, presented, stored }
}

t.test('a rotated token set whose write meets a Redis blip is stored once Redis answers, and OneUp is asked once', async (t) => {
  const { refresher, seen, writes, presented, stored } = await setUp(t, 2)
  const result = await refresher.refresh('acme', 'alice', seen)
  t.equal(result.tokens.refreshToken, 'rt-2')
  t.equal(writes.tried, 3, 'two failed writes, then one that landed')
  t.same(presented, ['rt-1'], 'one refresh grant')
  t.equal((await stored())?.tokens.refreshToken, 'rt-2', 'the new refresh token is in Redis')
})

t.test('a write Redis never takes within the refresh budget fails as Redis unavailable and leaves the record as it was', async (t) => {
  const { refresher, seen, writes, stored } = await setUp(t, 1_000, 1_000)
  const error = await refresher.refresh('acme', 'alice', seen).catch((e: unknown) => e)
  t.ok(isRedisUnavailable(error), 'a Redis error (503, code 9)')
  t.ok(writes.tried > 1 && writes.tried < 10, `retried within the budget (${writes.tried} writes)`)
  t.same(await stored(), { version: seen.version, tokens: { accessToken: 'at-1', refreshToken: 'rt-1', accessExpiresAt: seen.accessExpiresAt, scope: 'offline_access' } })
})
