import t from 'tap'
import { brokerEnv, startSandbox } from '../helpers/harness.js'
import { connectVia, createAppVia, tokenVia } from '../helpers/fleet.js'
import { deletePrefix, testPrefix } from '../helpers/redis.js'
import { freePort, startReplica } from '../helpers/replica.js'

t.test('two replicas, one Redis: 200 concurrent calls on an expired token make exactly one refresh, and all get the same token', async (t) => {
  const publicPort = await freePort()
  const publicUrl = `http://127.0.0.1:${publicPort}`
  // OneUp slow enough that the storm overlaps the refresh on both replicas.
  const sandbox = await startSandbox(t, { tokenLatencyMs: 150 }, `${publicUrl}/oauth/callback`)
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  // Both replicas stand behind one public URL (as behind a load balancer): same secrets, same redirect URI.
  const env = { ...brokerEnv(sandbox.base, prefix), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn' }
  const [a, b] = await Promise.all([startReplica(t, env), startReplica(t, env)])
  if (a === undefined || b === undefined) throw new Error('replicas did not start')

  const key = await createAppVia(a.url, 'storm')
  const asApp = (replica: string, body: object) => tokenVia(replica, key, { tenant_id: 'acme', user_id: 'alice', ...body })
  /** Connects a user through replica A's connect link and replica B's callback (any replica may get it). */
  const connect = (userId: string) => connectVia(a.url, b.url, key, 'acme', userId)

  for (let round = 1; round <= 4; round += 1) {
    const userId = `user-${round}`
    // A token that will be expired a second from now; its refresh will last an hour.
    await sandbox.control('/settings', 'PUT', { access_token_ttl: 1 })
    t.equal((await connect(userId)).status, 200, `round ${round}: connected`)
    await sandbox.control('/settings', 'PUT', { access_token_ttl: 3600 })
    await new Promise((resolve) => setTimeout(resolve, 1100))
    const before = await sandbox.counters()

    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => asApp(i % 2 === 0 ? a.url : b.url, { user_id: userId })))
    const bodies = (await Promise.all(answers.map((r) => r.json()))) as Array<{ access_token?: string; expires_in?: number }>
    const after = await sandbox.counters()
    t.same(new Set(answers.map((r) => r.status)), new Set([200]), `round ${round}: every caller got a token`)
    t.equal(new Set(bodies.map((body) => body.access_token)).size, 1, `round ${round}: all got the same new token`)
    t.ok((bodies[0]?.expires_in ?? 0) > 3500, `round ${round}: a fresh one`)
    t.equal(after.refresh_grants - before.refresh_grants, 1, `round ${round}: exactly one refresh grant`)
    t.equal(after.reuse_detections, 0, `round ${round}: no reuse`)
  }
  t.same(await a.stop(), 0, 'replica A exits cleanly on SIGTERM')
  t.same(await b.stop(), 0)
})
