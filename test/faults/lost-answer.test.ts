import t, { type Test } from 'tap'
import { startHarness } from '../helpers/harness.js'

/**
 * The answer to a refresh is lost: OneUp rotated the refresh token, then the
 * connection died before the broker read the new one (the sandbox's `drop`).
 * The broker retries at once with the token it has (the only one it has).
 */
async function lostAnswer(t: Test, graceSeconds: number) {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { sandbox: { refreshGraceSeconds: graceSeconds }, app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  t.equal((await h.connect(key, 'acme', 'alice')).callback.statusCode, 200)
  const token = (body: Record<string, unknown> = {}) => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice', ...body })
  const first = (await token()).json().access_token as string
  clock.ms += 60_000
  await h.sandbox.control('/faults', 'POST', { mode: 'drop', count: 1 })
  const answer = await token({ force_refresh: true })
  return { h, token, clock, first, answer }
}

t.test('a lost refresh answer without a OneUp grace period: the retry meets reuse detection, the connection needs its user again (409), and the log says why', async (t) => {
  const { h, token, answer } = await lostAnswer(t, 0)
  t.equal(answer.statusCode, 409)
  t.equal(answer.json().error.code, '7')
  const counters = await h.sandbox.counters()
  t.equal(counters.refresh_grants, 1, 'OneUp performed the lost refresh')
  t.equal(counters.reuse_detections, 1, 'and revoked the chain on the retry')
  t.equal((await token()).statusCode, 409, 'later calls get 409 at once')
  const lines = h.logs.filter((line) => line.includes('grace period'))
  t.equal(lines.length, 1, 'one warning names the lost answer and the fix')
  t.notMatch(h.logs.join('\n'), /ory_(at|rt)_/, 'no token in the logs')
})

t.test('a lost refresh answer within a OneUp grace period: the retry gets fresh tokens, the caller never notices, and the chain goes on', async (t) => {
  const { h, token, clock, first, answer } = await lostAnswer(t, 5)
  t.equal(answer.statusCode, 200)
  t.not(answer.json().access_token, first)
  let counters = await h.sandbox.counters()
  t.equal(counters.refresh_grants, 2, 'the lost refresh and its retry')
  t.equal(counters.grace_reuses, 1, 'the retry presented the spent token within the grace period')
  t.equal(counters.reuse_detections, 0)
  // The token kept is the retry's: the next refresh uses it, past the grace period, with no reuse.
  clock.ms += 3600_000
  const later = await token()
  t.equal(later.statusCode, 200)
  counters = await h.sandbox.counters()
  t.equal(counters.refresh_grants, 3)
  t.equal(counters.reuse_detections, 0)
})
