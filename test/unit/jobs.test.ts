import t from 'tap'
import { JobStore } from '../../src/store/jobs.js'
import { scriptedRedis } from '../helpers/redis.js'

t.test("a runner whose job was replaced (it had lost its lease) cannot write its progress into the new job", async (t) => {
  const { redis, prefix } = await scriptedRedis(t)
  const jobs = new JobStore(redis, `${prefix}{reenc}:job`, `${prefix}{reenc}:lock`)
  const fresh = { total: '100', done: '0', moved: '0', failed: '0' }
  t.equal(await jobs.start({ id: 'job_A', target_kid: 'k1', ...fresh, started_at: '1' }), 'started')
  t.equal(await jobs.update('job_A', { done: '20', cursor_tenant: 'acme', cursor_score: '5', cursor_user: 'bob' }), true, 'its own job: saved')
  // A's runner stalls past its lease; a replica sealing with k2 replaces the job.
  t.equal(await jobs.start({ id: 'job_B', target_kid: 'k2', ...fresh, started_at: '2' }), 'replaced')
  t.equal(await jobs.update('job_A', { done: '60', cursor_tenant: 'acme', cursor_score: '999', cursor_user: 'zed' }), false, "A's next save is refused")
  t.equal(await jobs.update('job_A', { state: 'done' }), false, 'and so is its end')
  t.match(await jobs.read(), { id: 'job_B', target_kid: 'k2', state: 'running', done: '0' })
  t.equal((await jobs.read())?.cursor_tenant, undefined, "B starts from the beginning, not from A's cursor")
})
