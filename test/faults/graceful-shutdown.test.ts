import t, { type Test } from 'tap'
import { connectVia, createAppVia, startFleetBase, tokenVia } from '../helpers/fleet.js'
import { startReplica } from '../helpers/replica.js'

/**
 * A replica with alice connected, her refresh started and waiting at OneUp, which answers
 * after `latencyMs` with an hour-long token. Her 1-second token is waited out first: an
 * expired token is always refreshed, never served.
 */
async function refreshWaitingAtOneUp(t: Test, oneupTimeoutMs: number, settings: { token_latency_ms: number; refresh_grace_seconds?: number }) {
  const { sandbox, env } = await startFleetBase(t, { accessTokenTtl: 1 }, { ONEUP_TIMEOUT_MS: String(oneupTimeoutMs), LOG_LEVEL: 'info' })
  const replica = await startReplica(t, env)
  const key = await createAppVia(replica.url)
  t.equal((await connectVia(replica.url, replica.url, key, 'acme', 'alice')).status, 200)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  await sandbox.control('/settings', 'PUT', { access_token_ttl: 3600, ...settings })
  const before = (await sandbox.counters()).token_requests
  const inflight = tokenVia(replica.url, key, { tenant_id: 'acme', user_id: 'alice' })
  while ((await sandbox.counters()).token_requests === before) await new Promise((r) => setTimeout(r, 20))
  return { sandbox, env, replica, key, inflight }
}

t.test('SIGTERM mid-refresh: the replica stops taking requests, finishes the refresh and its write, answers its caller, and exits 0', async (t) => {
  // OneUp takes 3 s to answer, so SIGTERM lands mid-refresh.
  const { sandbox, env, replica, key, inflight } = await refreshWaitingAtOneUp(t, 8000, { token_latency_ms: 3000 })
  replica.process.kill('SIGTERM')

  // New requests are turned away (refused, or 503 on a kept-alive connection) while the refresh runs.
  let turnedAway = false
  for (const deadline = Date.now() + 2_500; Date.now() < deadline && !turnedAway; await new Promise((r) => setTimeout(r, 50))) {
    turnedAway = await fetch(`${replica.url}/healthz`).then((r) => r.status === 503, () => true)
  }
  t.ok(turnedAway, 'a closing replica takes no new work')

  const answer = await inflight
  t.equal(answer.status, 200, 'the in-flight caller got its token')
  const { access_token: fresh, expires_in: expiresIn } = (await answer.json()) as { access_token: string; expires_in: number }
  t.ok(expiresIn > 3500, 'a freshly refreshed one')
  t.equal(await replica.exited, 0, 'exited 0')
  t.ok(replica.output.some((line) => line.includes('closing')), 'said it was closing')

  // The refresh's write landed before Redis was closed: another replica serves that token without refreshing.
  await sandbox.control('/settings', 'PUT', { token_latency_ms: 0 })
  const next = await startReplica(t, env)
  const again = await tokenVia(next.url, key, { tenant_id: 'acme', user_id: 'alice', min_ttl: 1800 })
  t.equal(((await again.json()) as { access_token: string }).access_token, fresh)
  const counters = await sandbox.counters()
  t.equal(counters.refresh_grants, 1)
  t.equal(counters.reuse_detections, 0)
})

// The grace delay was a fixed 10 s while a refresh may run for ONEUP_TIMEOUT_MS + 5 s: past it the
// process exited 1 with OneUp's rotated token set unwritten, and the stored refresh token was spent.
t.test('SIGTERM during a refresh that OneUp answers after 13 s, within ONEUP_TIMEOUT_MS: the answer is written, nothing is lost', async (t) => {
  const { sandbox, env, replica, key, inflight } = await refreshWaitingAtOneUp(t, 20_000, { token_latency_ms: 13_000, refresh_grace_seconds: 0 })
  const status = inflight.then((r) => r.status, () => 'reset')
  replica.process.kill('SIGTERM')

  t.equal(await status, 200, 'the in-flight caller got its token')
  t.equal(await replica.exited, 0, 'exited 0, within the grace delay')
  t.ok(replica.output.some((line) => line.includes('"grace_ms":30000')), 'the delay follows ONEUP_TIMEOUT_MS')

  await sandbox.control('/settings', 'PUT', { token_latency_ms: 0 })
  const next = await startReplica(t, env)
  const again = await tokenVia(next.url, key, { tenant_id: 'acme', user_id: 'alice', min_ttl: 1800 })
  t.equal(again.status, 200, `the connection survived the rolling restart (got ${again.status})`)
  t.equal((await sandbox.counters()).reuse_detections, 0, 'no refresh token presented twice')
})
