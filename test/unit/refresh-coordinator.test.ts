import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { pino } from 'pino'
import { createSealer } from '../../src/crypto/sealer.js'
import { BrokerError } from '../../src/errors.js'
import { BrokerEvents } from '../../src/events.js'
import type { OneUpClient, OneUpTokens } from '../../src/oneup/client.js'
import { OneUpError } from '../../src/oneup/errors.js'
import { ConnectionStore } from '../../src/store/connections.js'
import { redisKeys } from '../../src/store/keys.js'
import { createRedisClient } from '../../src/store/redis.js'
import { defaultRefreshPolicy, RefreshCoordinator, type RefreshPolicy } from '../../src/tokens/refresh.js'
import { TokenOpener } from '../../src/tokens/token-set.js'
import { deletePrefix, REDIS_URL, testPrefix } from '../helpers/redis.js'

/** A scripted OneUp: each refresh call runs the next step (or the default). */
class ScriptedOneUp implements OneUpClient {
  calls: string[] = []
  steps: Array<(refreshToken: string) => Promise<OneUpTokens>> = []
  authorizationUrl(): string {
    throw new Error('not used')
  }
  exchangeCode(): Promise<OneUpTokens> {
    throw new Error('not used')
  }
  async refresh(refreshToken: string): Promise<OneUpTokens> {
    this.calls.push(refreshToken)
    const step = this.steps.shift()
    if (step !== undefined) return step(refreshToken)
    return { accessToken: `at-${this.calls.length}`, refreshToken: `rt-${this.calls.length}`, expiresIn: 3600, scope: 'offline_access' }
  }
}

async function setup(t: Test, policy: Partial<RefreshPolicy> = {}) {
  const prefix = testPrefix()
  const redis = createRedisClient({ url: REDIS_URL, clusterNodes: undefined, keyPrefix: prefix })
  t.teardown(async () => {
    redis.disconnect()
    await deletePrefix(prefix)
  })
  const store = new ConnectionStore(redis, redisKeys(prefix))
  const opener = new TokenOpener(createSealer([{ kid: 'k1', key: new Uint8Array(randomBytes(32)) }]))
  const oneup = new ScriptedOneUp()
  const events = new BrokerEvents()
  const log = pino({ level: 'silent' })
  const fullPolicy = { ...defaultRefreshPolicy(2000), pollMs: 10, ...policy }
  // Two coordinators on one Redis: two replicas.
  const replica = () => new RefreshCoordinator({ store, opener, oneup, policy: fullPolicy, log, events })
  const now = Date.now()
  const tokens = { accessToken: 'at-0', refreshToken: 'rt-0', accessExpiresAt: now + 10_000, scope: 'offline_access' }
  await store.write('acme', 'alice', 'any', { status: 'active', sealed: await opener.seal('acme', 'alice', tokens), kid: 'k1', scope: 'offline_access', appId: 'app_x', refreshedAt: now, accessExpiresAt: tokens.accessExpiresAt }, now)
  const seen = async () => {
    const record = await store.read('acme', 'alice')
    if (record === undefined) throw new Error('no record')
    return record
  }
  return { store, opener, oneup, events, replica, seen, redis, prefix }
}

const codeOf = async (promise: Promise<unknown>) => promise.then(() => 'ok', (error: unknown) => (error instanceof BrokerError ? error.code : String(error)))

t.test('two replicas refreshing one connection at once call OneUp once and get the same tokens', async (t) => {
  const { oneup, replica, seen } = await setup(t)
  oneup.steps.push(async () => {
    await new Promise((resolve) => setTimeout(resolve, 100))
    return { accessToken: 'at-new', refreshToken: 'rt-new', expiresIn: 3600, scope: 'offline_access' }
  })
  const [a, b] = [replica(), replica()]
  const record = await seen()
  const results = await Promise.all([a.refresh('acme', 'alice', record), b.refresh('acme', 'alice', record), a.refresh('acme', 'alice', record)])
  t.same(oneup.calls, ['rt-0'], 'one call, with the stored refresh token')
  t.same(new Set(results.map((r) => r.tokens.accessToken)), new Set(['at-new']))
  t.equal((await seen()).version, record.version + 1)
})

t.test('the lock holder re-reads first: a refresh finished elsewhere is not repeated', async (t) => {
  const { oneup, replica, seen } = await setup(t)
  const stale = await seen()
  await replica().refresh('acme', 'alice', stale)
  t.equal(oneup.calls.length, 1)
  const again = await replica().refresh('acme', 'alice', stale)
  t.equal(oneup.calls.length, 1, 'the caller with the old version gets the new record')
  t.equal(again.tokens.accessToken, 'at-1')
})

t.test('the lock is released after a refresh, so the next expiry can refresh at once', async (t) => {
  const { oneup, replica, seen, redis, prefix } = await setup(t)
  const lock = `${prefix}{t:acme}:lock:alice`
  await replica().refresh('acme', 'alice', await seen())
  // The release is sent without making the callers wait for it: give it its round trip.
  for (let i = 0; i < 100 && (await redis.exists(lock)) === 1; i += 1) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal(await redis.exists(lock), 0, 'no lock left behind')
  const next = await replica().refresh('acme', 'alice', await seen())
  t.equal(next.tokens.accessToken, 'at-2', 'a second refresh runs without waiting out a lock')
  t.same(oneup.calls, ['rt-0', 'rt-1'])
})

t.test('a lock left by a dead replica is waited out, then taken over', async (t) => {
  const { oneup, replica, seen, redis, prefix } = await setup(t, { lockTtlMs: 300 })
  await redis.set(`${prefix}{t:acme}:lock:alice`, 'dead-owner', 'PX', 300)
  const result = await replica().refresh('acme', 'alice', await seen())
  t.equal(result.tokens.accessToken, 'at-1')
  t.same(oneup.calls, ['rt-0'], 'one refresh, after the lock lapsed')
})

t.test('a lock that outlives the caller\'s budget ends in a clean 503, never a hang', async (t) => {
  const { oneup, replica, seen, redis, prefix } = await setup(t, { budgetMs: 200 })
  await redis.set(`${prefix}{t:acme}:lock:alice`, 'dead-owner', 'PX', 10_000)
  t.equal(await codeOf(replica().refresh('acme', 'alice', await seen())), '8')
  t.same(oneup.calls, [])
})

t.test('invalid_grant: reauth_required, the tokens are dropped, and other replicas learn it', async (t) => {
  const { oneup, replica, seen, events } = await setup(t)
  const reauth: unknown[] = []
  events.on('connection.reauth_required', (ref) => reauth.push(ref))
  oneup.steps.push(async () => {
    throw new OneUpError('oauth', 'refused', { oauthError: 'invalid_grant', httpStatus: 400 })
  })
  const record = await seen()
  t.equal(await codeOf(replica().refresh('acme', 'alice', record)), '7')
  const after = await seen()
  t.equal(after.status, 'reauth_required')
  t.equal(after.sealed, '', 'no token kept')
  t.same(reauth, [{ tenantId: 'acme', userId: 'alice', appId: 'app_x' }])
  t.equal(await codeOf(replica().refresh('acme', 'alice', record)), '7', 'a caller holding the old version gets 409 too')
  t.equal(oneup.calls.length, 1)
})

t.test('transient failures are retried, then a cooldown answers 503 without calling OneUp', async (t) => {
  const { oneup, replica, seen } = await setup(t, { cooldownMs: 500 })
  const down = async () => {
    throw new OneUpError('unavailable', 'the call to OneUp failed (ECONNREFUSED)')
  }
  oneup.steps.push(down, down, down, down)
  const record = await seen()
  t.equal(await codeOf(replica().refresh('acme', 'alice', record)), '8')
  t.equal(oneup.calls.length, 3, 'maxAttempts calls')
  t.equal(await codeOf(replica().refresh('acme', 'alice', record)), '8', 'cooling down')
  t.equal(oneup.calls.length, 3)
  t.same((await seen()).version, record.version, 'the stored refresh token is kept')
  await new Promise((resolve) => setTimeout(resolve, 550))
  oneup.steps.length = 0
  t.equal((await replica().refresh('acme', 'alice', record)).tokens.refreshToken, 'rt-4')
  t.same(oneup.calls, ['rt-0', 'rt-0', 'rt-0', 'rt-0'], 'the kept token was used again')
})

t.test('a connection deleted during a refresh stays deleted', async (t) => {
  const { oneup, replica, seen, store } = await setup(t)
  oneup.steps.push(async () => {
    await store.delete('acme', 'alice')
    return { accessToken: 'at-x', refreshToken: 'rt-x', expiresIn: 3600, scope: 'offline_access' }
  })
  t.equal(await codeOf(replica().refresh('acme', 'alice', await seen())), '2')
  t.equal(await store.read('acme', 'alice'), undefined, 'the refresh did not bring it back')
})

t.test('a connection reconnected during a refresh keeps the reconnection, not the refresh', async (t) => {
  const { oneup, replica, seen, store, opener } = await setup(t)
  oneup.steps.push(async () => {
    const now = Date.now()
    const fresh = { accessToken: 'at-reconnected', refreshToken: 'rt-reconnected', accessExpiresAt: now + 3_600_000, scope: 'offline_access' }
    await store.write('acme', 'alice', 'any', { status: 'active', sealed: await opener.seal('acme', 'alice', fresh), kid: 'k1', scope: 'offline_access', appId: 'app_x', refreshedAt: now, accessExpiresAt: fresh.accessExpiresAt }, now)
    return { accessToken: 'at-late', refreshToken: 'rt-late', expiresIn: 3600, scope: 'offline_access' }
  })
  const result = await replica().refresh('acme', 'alice', await seen())
  t.equal(result.tokens.accessToken, 'at-reconnected')
  t.equal((await opener.open('acme', 'alice', (await seen()).sealed)).refreshToken, 'rt-reconnected')
})

t.test('an answer without a refresh token keeps the old one; without expires_in, OneUp\'s 3600 s', async (t) => {
  const { oneup, replica, seen } = await setup(t)
  oneup.steps.push(async () => ({ accessToken: 'at-n', refreshToken: undefined, expiresIn: undefined, scope: undefined }))
  const before = Date.now()
  const result = await replica().refresh('acme', 'alice', await seen())
  t.equal(result.tokens.refreshToken, 'rt-0')
  t.equal(result.tokens.scope, 'offline_access')
  t.ok(result.tokens.accessExpiresAt >= before + 3_600_000 && result.tokens.accessExpiresAt <= Date.now() + 3_600_000)
})
