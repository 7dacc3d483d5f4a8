import t from 'tap'
import { startHarness } from '../helpers/harness.js'

t.test('a hung OneUp token endpoint holds no caller past ONEUP_TIMEOUT_MS + 5 s: each attempt times out, retries stay in budget, then 503 code 8', async (t) => {
  // A token of 1 s, expired once asked for: it must be refreshed and cannot be served meanwhile
  // (the clock stays real: the bound is wall time).
  const h = await startHarness(t, { env: { ONEUP_TIMEOUT_MS: '1000' }, sandbox: { accessTokenTtl: 1 } })
  const { key } = await h.createApp()
  t.equal((await h.connect(key, 'acme', 'alice')).callback.statusCode, 200)
  await new Promise((resolve) => setTimeout(resolve, 1100))
  // Every token call from now on is processed, then answered only after 30 s.
  await h.sandbox.control('/faults', 'POST', { mode: 'hang', ms: 30_000, count: 50 })
  const started = Date.now()
  const answers = await Promise.all(
    Array.from({ length: 5 }, () => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })),
  )
  const took = Date.now() - started
  for (const answer of answers) {
    t.equal(answer.statusCode, 503)
    t.equal(answer.json().error.code, '8')
    t.ok(Number(answer.headers['retry-after']) >= 1)
  }
  // The documented bound is 6 s here; 2 s more is room for a loaded machine, not a speed claim.
  t.ok(took < 8_000, `answered within the bound (${took} ms)`)
  const calls = (await h.sandbox.counters()).token_requests
  t.ok(calls >= 2 && calls <= 4, `one refresh for all five callers, retried a bounded number of times (${calls} token calls incl. the code exchange)`)
})
