import t from 'tap'
import { startHarness } from '../helpers/harness.js'
import { dumpPrefix } from '../helpers/redis.js'

/** A fetch that remembers every secret OneUp and the broker exchange: the values to hunt for afterwards. */
function recordingFetch(secrets: Set<string>): typeof fetch {
  return async (input, init) => {
    const body = new URLSearchParams(typeof init?.body === 'string' ? init.body : init?.body?.toString() ?? '')
    for (const name of ['code', 'code_verifier', 'refresh_token', 'client_secret']) {
      const value = body.get(name)
      if (value) secrets.add(value)
    }
    const response = await fetch(input, init)
    const text = await response.clone().text()
    try {
      const json = JSON.parse(text) as Record<string, unknown>
      for (const name of ['access_token', 'refresh_token']) if (typeof json[name] === 'string') secrets.add(json[name] as string)
    } catch {
      // not JSON: nothing to record
    }
    return response
  }
}

t.test('after a full flow and refreshes, no token, code, verifier or state is in Redis in plaintext, nor in the logs', async (t) => {
  const secrets = new Set<string>()
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { fetch: recordingFetch(secrets), now: () => clock.ms } })
  const { key } = await h.createApp()
  secrets.add(key)
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })).json()
  secrets.add(session.token)
  const { callback, callbackUrl } = await h.connect(key, 'acme', 'alice')
  t.equal(callback.statusCode, 200)
  secrets.add(callbackUrl.searchParams.get('state') ?? '')
  secrets.add(callbackUrl.searchParams.get('code') ?? '')

  for (let i = 0; i < 2; i += 1) {
    clock.ms += 3600 * 1000
    const res = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
    t.equal(res.statusCode, 200)
  }
  // A failing refresh and a bad key belong in the logs too.
  clock.ms += 60_000
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 500, count: 5 })
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice', force_refresh: true })).statusCode, 503)
  t.equal((await h.asApp(`${key}zz`, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })).statusCode, 401)

  secrets.delete('')
  const refreshTokens = [...secrets].filter((s) => s.startsWith('ory_rt_'))
  t.ok(refreshTokens.length >= 3, 'the recording saw the original and rotated refresh tokens')
  t.ok([...secrets].some((s) => s.startsWith('ory_at_')), 'and access tokens')
  t.ok(secrets.size >= 10)

  const dump = await dumpPrefix(h.prefix)
  t.ok(dump.length > 0, 'the broker wrote to Redis')
  const everything = dump.map((d) => `${d.key} ${d.text}`).join('\n')
  const logs = h.logs.join('\n')
  t.ok(h.logs.length > 10, 'the broker logged')
  for (const secret of secrets) {
    t.notOk(everything.includes(secret), `not in Redis: ${secret.slice(0, 7)}…`)
    t.notOk(logs.includes(secret), `not in the logs: ${secret.slice(0, 7)}…`)
  }
})
