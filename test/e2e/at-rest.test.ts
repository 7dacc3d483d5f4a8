import t from 'tap'
import { ADMIN_KEY, CLIENT_SECRET, startHarness, walkToCallback } from '../helpers/harness.js'
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

t.test('after a full flow, refreshes, a failing refresh, a denied flow, a replay and wrong keys, no token, code, verifier, state, key or secret is in Redis in plaintext, nor in the logs', async (t) => {
  const secrets = new Set<string>()
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { fetch: recordingFetch(secrets), now: () => clock.ms } })
  const { key } = await h.createApp()
  secrets.add(key)
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })).json()
  secrets.add(session.token)
  const { callback, callbackUrl, cookies } = await h.connect(key, 'acme', 'alice')
  t.equal(callback.statusCode, 200)
  secrets.add(callbackUrl.searchParams.get('state') ?? '')
  secrets.add(callbackUrl.searchParams.get('code') ?? '')
  for (const value of Object.values(cookies)) {
    secrets.add(value)
    secrets.add(value.slice(0, value.lastIndexOf('.')))
  }
  // The broker's own secrets, and the words of a OneUp error (shown escaped to its user, never logged).
  for (const secret of [ADMIN_KEY, CLIENT_SECRET, h.config.cookieSecret, ...h.config.encryptionKeys.map((k) => Buffer.from(k.key).toString('base64url'))]) secrets.add(secret)
  const denied = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'bob' })).json()
  secrets.add(denied.token)
  const deniedFlow = await walkToCallback(h.app, denied.url, { deny: true })
  const words = `words-${Date.now().toString(36)}-of-oneup`
  const deniedUrl = new URL(deniedFlow.callbackUrl)
  deniedUrl.searchParams.set('error_description', words)
  secrets.add(words)
  secrets.add(deniedUrl.searchParams.get('state') ?? '')
  t.equal((await h.app.inject({ method: 'GET', url: deniedUrl.pathname + deniedUrl.search, cookies: deniedFlow.cookies })).statusCode, 400)
  // A replayed callback, and a wrong admin key.
  t.equal((await h.app.inject({ method: 'GET', url: callbackUrl.pathname + callbackUrl.search, cookies })).statusCode, 400)
  const wrongAdmin = `${ADMIN_KEY.slice(0, -2)}zz`
  secrets.add(wrongAdmin)
  t.equal((await h.app.inject({ method: 'GET', url: '/v1/admin/apps', headers: { authorization: `Bearer ${wrongAdmin}` } })).statusCode, 401)

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
  secrets.add(`${key}zz`)

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
