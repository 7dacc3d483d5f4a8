import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { redisKeys } from '../../src/store/keys.js'
import { Lease } from '../../src/store/locks.js'
import { startHarness, type Harness } from '../helpers/harness.js'
import { admin, newKey, reencryptionDone, replicaOf } from '../helpers/ops.js'

const get = async (app: FastifyInstance, url: string) => (await app.inject({ method: 'GET', url, headers: admin })).json()
const reencrypt = (app: FastifyInstance) => app.inject({ method: 'POST', url: '/v1/admin/encryption/reencrypt', headers: admin })

/** `count` idle connections sealed by `app` (with its first key). */
async function seedRecords(h: Harness, app: FastifyInstance, count: number): Promise<void> {
  const { connections, opener } = app.broker
  for (let i = 0; i < count; i += 1) {
    const tokens = { accessToken: `at-${i}`, refreshToken: `rt-${i}`, accessExpiresAt: Date.now() + 3_600_000, scope: 'offline_access' }
    const sealed = await opener.seal('idle', `user-${i}`, tokens)
    await connections.write('idle', `user-${i}`, 'any', { status: 'active', sealed, kid: opener.primaryKid, scope: 'offline_access', appId: 'app_x', refreshedAt: Date.now(), accessExpiresAt: tokens.accessExpiresAt }, Date.now())
  }
}

const auditActions = async (app: FastifyInstance) =>
  ((await get(app, '/v1/admin/audit')).items as Array<{ action: string } & Record<string, string>>).filter((e) => e.action.startsWith('encryption.'))

// A job started by a replica that still sealed with the old key (a rollout under way, or one
// restarted with the new key first while its job ran) targets a key no replica seals with once
// the rollout ends: every replica refuses to run it. Starting again must replace it, not show it.
t.test('a running job to a key nobody seals with any more is replaced by one to the primary key, and audited as such', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` } })
  await seedRecords(h, h.app, 300)
  const old = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K1},${K2}` })
  const started = await reencrypt(old)
  t.equal(started.json().job.target_kid, 'k1', 'the old replica starts a job to its own first key')
  await old.close() // rolled: it stops its run and leaves the job running, lease released
  const stale = await get(h.app, '/v1/admin/encryption')
  t.match(stale.job, { state: 'running', target_kid: 'k1' })

  const again = await reencrypt(h.app)
  t.equal(again.statusCode, 202)
  t.match(again.json().job, { state: 'running', target_kid: 'k2' }, 'a new job to the primary key, not the stale one')
  t.not(again.json().job.id, started.json().job.id)
  const done = await reencryptionDone(h.app)
  t.same(done.records, { k2: 300 }, 'every record back on k2')
  t.equal(done.job.id, again.json().job.id)
  const [replacing] = await auditActions(h.app)
  t.match(replacing, { action: 'encryption.reencrypt_started', job_id: again.json().job.id, target_kid: 'k2', replaced_job_id: started.json().job.id, replaced_target_kid: 'k1' })
  t.match(h.logs.join('\n'), /"replaced_target_kid":"k1".*was replaced/, 'and logged')
})

t.test('a job to another key that a replica is running now is not replaced: 409 says why', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` } })
  const old = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K1},${K2}` })
  await old.broker.reencryption.stop()
  const started = (await reencrypt(old)).json().job
  t.equal(started.target_kid, 'k1')
  // An old replica in the middle of its run holds the job's lease.
  const lease = new Lease(h.app.broker.redis, redisKeys(h.prefix).reencryptLock(), 60_000)
  t.ok(await lease.acquire())

  const refused = await reencrypt(h.app)
  t.equal(refused.statusCode, 409)
  t.match(refused.json().error, { code: '12', reason: /job_\w+ to key k1 is being run .* this replica seals with k2: finish rolling out TOKEN_ENCRYPTION_KEYS/ })
  t.match((await get(h.app, '/v1/admin/encryption')).job, { id: started.id, target_kid: 'k1', state: 'running' }, 'left as it is')

  await lease.release() // the old replica left
  const replaced = await reencrypt(h.app)
  t.equal(replaced.statusCode, 202)
  t.equal(replaced.json().job.target_kid, 'k2')
})

t.test('starting while the job runs only shows it: the audit log does not say a job was started', async (t) => {
  const h = await startHarness(t)
  await seedRecords(h, h.app, 3)
  await h.app.broker.reencryption.stop() // nobody runs it: it stays running
  const first = await reencrypt(h.app)
  const second = await reencrypt(h.app)
  t.equal(second.statusCode, 202)
  t.equal(second.json().job.id, first.json().job.id, 'the running job')
  const entries = await auditActions(h.app)
  t.equal(entries.length, 1, `one start recorded (got ${JSON.stringify(entries)})`)
  t.match(entries[0], { action: 'encryption.reencrypt_started', job_id: first.json().job.id, target_kid: 'k1' })
})
