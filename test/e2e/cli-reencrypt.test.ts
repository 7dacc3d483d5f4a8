import { createServer, request } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { redisKeys } from '../../src/store/keys.js'
import { cli } from '../helpers/cli.js'
import { newKey } from '../helpers/ops.js'
import { startBrokerProcess } from '../helpers/processes.js'
import { testRedis } from '../helpers/redis.js'
import { startReplica } from '../helpers/replica.js'

/** Holds the re-encryption job's lease, as a replica in the middle of its run would: no other replica runs the job. */
async function holdJobLease(t: Test, env: Record<string, string>): Promise<void> {
  const redis = await testRedis()
  const lock = redisKeys(env.REDIS_KEY_PREFIX ?? '').reencryptLock()
  if ((await redis.set(lock, 'a-replica-running-the-job', 'PX', 120_000, 'NX')) !== 'OK') throw new Error('the lease is taken')
  t.teardown(async () => {
    await redis.del(lock)
    redis.disconnect()
  })
}

/** A load balancer that sends POSTs to one broker and everything else to another (a fleet mid-rollout). */
async function splitter(t: Test, posts: string, rest: string): Promise<string> {
  const server = createServer((incoming, outgoing) => {
    const target = new URL(incoming.url ?? '/', incoming.method === 'POST' ? posts : rest)
    const forwarded = request(target, { method: incoming.method, headers: incoming.headers }, (answer) => {
      outgoing.writeHead(answer.statusCode ?? 502, answer.headers)
      answer.pipe(outgoing)
    })
    incoming.pipe(forwarded)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

// `keys reencrypt` waited for the job to be done, for ever: a job that no replica runs (or runs
// towards another key) kept it polling with no word.
t.test('keys reencrypt gives up, saying why, when nothing moves for --give-up-after seconds', async (t) => {
  const { ops, env } = await startBrokerProcess(t)
  await holdJobLease(t, env)
  const run = await cli(['keys', 'reencrypt', '--give-up-after', '2'], ops, undefined, 30_000)
  t.equal(run.code, 1, `gave up (stderr: ${run.stderr})`)
  t.match(run.stderr, /job job_[0-9a-f]{12} has not moved for 2 s \(0\/0 records\): no replica seems to run it/)
})

t.test('keys reencrypt gives up when the job moves records to a key the broker does not seal with', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const { ops, env, replica } = await startBrokerProcess(t, { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  const old = await startReplica(t, { ...env, TOKEN_ENCRYPTION_KEYS: `${K1},${K2}` })
  await holdJobLease(t, env)
  // The POST reaches a k2-first replica, the polls a k1-first one still in the fleet.
  const run = await cli(['keys', 'reencrypt'], { ...ops, BROKER_URL: await splitter(t, replica.url, old.url) }, undefined, 30_000)
  t.equal(run.code, 1, `gave up (stderr: ${run.stderr})`)
  t.match(run.stderr, /moves records to key k2, but the broker seals with k1: its replicas disagree on TOKEN_ENCRYPTION_KEYS' first key/)
})

t.test('keys reencrypt on a new-key replica while an old one runs its job: a clear 409, not a stale job followed for ever', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const { ops, env } = await startBrokerProcess(t, { TOKEN_ENCRYPTION_KEYS: `${K1},${K2}` })
  await holdJobLease(t, env) // the k1 replica is running the job it starts below
  t.equal((await cli(['keys', 'reencrypt', '--no-wait'], ops)).code, 0)
  const next = await startReplica(t, { ...env, TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  const run = await cli(['keys', 'reencrypt'], { ...ops, BROKER_URL: next.url }, undefined, 30_000)
  t.equal(run.code, 1, `refused (stderr: ${run.stderr})`)
  t.match(run.stderr, /to key k1 is being run by a replica .* this replica seals with k2: finish rolling out TOKEN_ENCRYPTION_KEYS.* \(HTTP 409, code 12\)/)
})
