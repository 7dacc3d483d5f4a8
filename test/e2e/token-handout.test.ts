import t, { type Test } from 'tap'
import { aliceConnected, startHarness, type Harness } from '../helpers/harness.js'
import { dumpPrefix } from '../helpers/redis.js'

const me = (h: Harness, accessToken: string) => fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${accessToken}` } })

t.test('a token with less than 60 seconds left is refreshed first, and the rotated refresh token is kept', async (t) => {
  const { h, clock, token } = await aliceConnected(t)
  const first = (await token()).json()
  clock.ms += (3600 - 59) * 1000
  const second = await token()
  t.equal(second.statusCode, 200)
  t.not(second.json().access_token, first.access_token, 'a new access token')
  t.ok(second.json().expires_in > 3500, 'with a fresh hour')
  t.equal((await me(h, second.json().access_token)).status, 200, 'OneUp accepts it')

  clock.ms += 3600 * 1000
  const third = await token()
  t.equal(third.statusCode, 200)
  const counters = await h.sandbox.counters()
  t.equal(counters.refresh_grants, 2, 'the second refresh used the rotated token')
  t.equal(counters.reuse_detections, 0)
})

t.test('min_ttl asks for more time left; 60 seconds is the floor', async (t) => {
  const { h, clock, token } = await aliceConnected(t)
  const first = (await token()).json()
  clock.ms += 2000 * 1000 // 1600 s left
  t.equal((await token({ min_ttl: 600 })).json().access_token, first.access_token, '1600 s left is enough for 600')
  t.equal((await token({ min_ttl: 0 })).json().access_token, first.access_token)
  t.equal((await h.sandbox.counters()).refresh_grants, 0)
  const fresh = (await token({ min_ttl: 1800 })).json()
  t.not(fresh.access_token, first.access_token, '1600 s left is not enough for 1800')
  t.equal((await h.sandbox.counters()).refresh_grants, 1)
})

t.test('OneUp tokens living less than twice min_ttl (or the 60 s floor): refreshed once half their lifetime has passed, not at every hand-out', async (t) => {
  for (const [what, ttl, minTtl] of [
    ['min_ttl 900 over a 600 s token', 600, 900],
    ['a 45 s token under the 60 s floor', 45, 0],
    ['min_ttl 1800 on an 1800 s token', 1800, 1800],
    ['a 61 s token, just over the 60 s floor', 61, 0],
  ] as const) {
    const { h, clock, token } = await aliceConnected(t, { sandbox: { accessTokenTtl: ttl } })
    const grants = async () => (await h.sandbox.counters()).refresh_grants
    const first = (await token({ min_ttl: minTtl })).json()
    t.equal(first.expires_in, ttl, `${what}: the connect's token is served whole`)
    // Five calls two seconds apart: still the same token (not a refresh per call, each revoking the last).
    for (let i = 0; i < 5; i += 1) {
      clock.ms += 2000
      t.equal((await token({ min_ttl: minTtl })).json().access_token, first.access_token, `${what}: the same token`)
    }
    t.equal(await grants(), 0, `${what}: no refresh while more than half its lifetime is left`)
    t.equal((await me(h, first.access_token)).status, 200, `${what}: the token handed out is still accepted by OneUp`)

    clock.ms += (ttl / 2 + 1) * 1000 // less than half left
    const second = (await token({ min_ttl: minTtl })).json()
    t.not(second.access_token, first.access_token, `${what}: refreshed once under half its lifetime`)
    t.equal(second.expires_in, ttl)
    for (let i = 0; i < 5; i += 1) {
      clock.ms += 2000
      t.equal((await token({ min_ttl: minTtl })).json().access_token, second.access_token, `${what}: then kept`)
    }
    t.equal(await grants(), 1, `${what}: one refresh`)
  }
})

t.test('force_refresh replaces a token OneUp says is not active', async (t) => {
  const { h, clock, token } = await aliceConnected(t)
  const first = (await token()).json()
  clock.ms += 60_000
  await h.sandbox.control('/expire', 'POST', { username: 'alice' })
  t.equal((await me(h, first.access_token)).status, 401, 'OneUp: the provided token is not active')
  t.equal((await token()).json().access_token, first.access_token, 'the broker cannot know by itself')
  const forced = await token({ force_refresh: true })
  t.equal(forced.statusCode, 200)
  t.not(forced.json().access_token, first.access_token)
  t.equal((await me(h, forced.json().access_token)).status, 200)

  // OneUp revoked the previous access token with that refresh: every app still holding it
  // now gets a 401 and forces a refresh. They must all get this fresh token, not start a loop.
  t.equal((await me(h, first.access_token)).status, 401)
  const late = await Promise.all(Array.from({ length: 5 }, () => token({ force_refresh: true })))
  t.same(new Set(late.map((r) => r.json().access_token)), new Set([forced.json().access_token]))
  t.equal((await h.sandbox.counters()).refresh_grants, 1, 'no second refresh within 5 seconds')
  clock.ms += 5_000
  t.not((await token({ force_refresh: true })).json().access_token, forced.json().access_token, 'after 5 seconds it refreshes again')
})

t.test('concurrent callers in one process share one refresh', async (t) => {
  const { h, clock, token } = await aliceConnected(t, { sandbox: { tokenLatencyMs: 50 } })
  clock.ms += 60_000
  const answers = await Promise.all(Array.from({ length: 25 }, () => token({ force_refresh: true })))
  t.same(new Set(answers.map((a) => a.statusCode)), new Set([200]))
  t.equal(new Set(answers.map((a) => a.json().access_token)).size, 1, 'everyone got the same new token')
  const counters = await h.sandbox.counters()
  t.equal(counters.refresh_grants, 1)
  t.equal(counters.reuse_detections, 0)
})

t.test('invalid_grant: the connection needs its user again, answers 409 at once and OneUp is not asked again', async (t) => {
  const { h, key, clock, token } = await aliceConnected(t)
  clock.ms += 60_000
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  const refused = await token({ force_refresh: true })
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().error.code, '7')
  const before = (await h.sandbox.counters()).token_requests
  const again = await token()
  t.equal(again.statusCode, 409)
  t.equal((await h.sandbox.counters()).token_requests, before, 'no call to OneUp')

  // Connecting again brings the connection back.
  const { callback } = await h.connect(key, 'acme', 'alice')
  t.equal(callback.statusCode, 200)
  t.equal((await token()).statusCode, 200)
})

t.test('OneUp down: 503 with Retry-After, the refresh token is kept, a cooldown spares OneUp, and it works once OneUp is back', async (t) => {
  const { h, clock, token } = await aliceConnected(t, { app: { refreshPolicy: { cooldownMs: 300 } } })
  clock.ms += 60_000
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 503, count: 100 })
  const down = await token({ force_refresh: true })
  t.equal(down.statusCode, 503)
  t.equal(down.json().error.code, '8')
  t.ok(Number(down.headers['retry-after']) >= 1)
  const tried = (await h.sandbox.counters()).token_requests
  t.ok(tried >= 2 && tried <= 4, `retried a bounded number of times (${tried} calls)`)

  const cooling = await token({ force_refresh: true })
  t.equal(cooling.statusCode, 503)
  t.equal((await h.sandbox.counters()).token_requests, tried, 'no call to OneUp during the cooldown')

  const stillValid = await token()
  t.equal(stillValid.statusCode, 200, 'a still-valid token is served while OneUp is down')

  await h.sandbox.control('/faults', 'DELETE')
  await new Promise((resolve) => setTimeout(resolve, 350))
  clock.ms += 60_000
  const back = await token({ force_refresh: true })
  t.equal(back.statusCode, 200, 'the kept refresh token still works')
  t.not(back.json().access_token, stillValid.json().access_token)
  t.equal((await h.sandbox.counters()).reuse_detections, 0)
})

t.test('OneUp down: a token still valid but due for a refresh is served with what it has left; an expired one, or force_refresh, gets 503', async (t) => {
  const { h, clock, token } = await aliceConnected(t, { app: { refreshPolicy: { cooldownMs: 1, maxAttempts: 1 } } })
  const first = (await token()).json()
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 503, count: 100 })

  clock.ms += 40 * 60_000 // 20 minutes left
  const longJob = await token({ min_ttl: 1800 })
  t.equal(longJob.statusCode, 200, 'min_ttl 1800 with 20 minutes left: served')
  t.equal(longJob.json().access_token, first.access_token)
  t.equal(longJob.json().expires_in, 20 * 60, 'with the time it really has left')

  clock.ms += 19 * 60_000 + 10_000 // 50 s left
  await new Promise((resolve) => setTimeout(resolve, 5)) // the 1 ms cooldown
  const plain = await token()
  t.equal(plain.statusCode, 200, '50 s left, under the 60 s floor: served')
  t.equal(plain.json().expires_in, 50)
  t.ok((await h.sandbox.counters()).token_requests >= 2, 'a refresh was tried each time')

  const forced = await token({ force_refresh: true })
  t.equal(forced.statusCode, 503, 'force_refresh: the app knows the token does not work, so 503')
  t.equal(forced.json().error.code, '8')

  clock.ms += 60_000 // expired
  await new Promise((resolve) => setTimeout(resolve, 5))
  const expired = await token()
  t.equal(expired.statusCode, 503, 'an expired token is never served')
  t.equal(expired.json().error.code, '8')
})

t.test('Hydra\'s "concurrent requests" answer is retried as transient', async (t) => {
  const { h, clock, token } = await aliceConnected(t)
  clock.ms += 60_000
  await h.sandbox.control('/faults', 'POST', { mode: 'status', status: 400, error: 'invalid_request', count: 1 })
  const res = await token({ force_refresh: true })
  t.equal(res.statusCode, 200)
  t.equal((await h.sandbox.counters()).refresh_grants, 1)
})

t.test('an app only reaches its own tenants', async (t) => {
  const h = await startHarness(t)
  const acmeApp = await h.createApp({ tenants: ['acme'] })
  const otherApp = await h.createApp({ tenants: ['globex'] })
  t.equal((await h.connect(acmeApp.key, 'acme', 'alice')).callback.statusCode, 200)

  const stolen = await h.asApp(otherApp.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(stolen.statusCode, 403)
  t.equal(stolen.json().error.code, '6')
  t.notMatch(stolen.body, /access_token/)
  const session = await h.asApp(otherApp.key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(session.statusCode, 403)
  t.equal((await h.asApp(acmeApp.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })).statusCode, 200)
  t.equal((await h.asApp(acmeApp.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'bob' })).statusCode, 404)
})

t.test('rate limits: headers on every answer, 429 code 4 with Retry-After past the app\'s limit', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp({ rate_limit: 3 })
  const calls = []
  for (let i = 0; i < 4; i += 1) calls.push(await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: `u${i}` }))
  t.same(
    calls.map((c) => [c.statusCode, c.headers['x-ratelimit-limit'], c.headers['x-ratelimit-used'], c.headers['x-ratelimit-remaining']]),
    [
      [404, '3', '1', '2'],
      [404, '3', '2', '1'],
      [404, '3', '3', '0'],
      [429, '3', '4', '0'],
    ],
  )
  const limited = calls[3]
  t.equal(limited?.json().error.code, '4')
  const retryAfter = Number(limited?.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 900, 'Retry-After is within the 15-minute window')
  const session = await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'x' })
  t.equal(session.statusCode, 429, 'the limit covers every /v1 call of the app')
})

t.test('calls refused for their input are counted too, with the rate headers, and 429 once over the limit', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp({ rate_limit: 6 })
  const send = (method: string, url: string, payload?: string, contentType = 'application/json') =>
    h.app.inject({ method: method as 'POST', url, headers: { authorization: `Bearer ${key}`, 'content-type': contentType }, ...(payload === undefined ? {} : { payload }) })
  const refused = [
    await send('POST', '/v1/token', '{"tenant_id": '),
    await send('POST', '/v1/token', JSON.stringify({ tenant_id: 'acme' })),
    await send('POST', '/v1/token', JSON.stringify({ tenant_id: 'acme', user_id: 'alice', pad: 'x'.repeat(20_000) })),
    await send('POST', '/v1/token', 'tenant_id=acme', 'text/plain'),
    await send('GET', '/v1/connections/a%20b/alice'),
    await send('DELETE', '/v1/connections?ids=acme:alice&limit=x&ids=acme'),
  ]
  t.same(
    refused.map((r) => [r.statusCode, r.json().error.code, r.headers['x-ratelimit-used'], r.headers['x-ratelimit-remaining']]),
    [
      [400, '5', '1', '5'],
      [422, '3', '2', '4'],
      [413, '10', '3', '3'],
      [400, '5', '4', '2'],
      [422, '3', '5', '1'],
      [400, '5', '6', '0'],
    ],
  )
  const over = await send('POST', '/v1/token', JSON.stringify({ tenant_id: 'acme' }))
  t.equal(over.statusCode, 429, 'over the limit, even a malformed call gets 429')
  t.equal(over.json().error.code, '4')
  t.ok(Number(over.headers['retry-after']) >= 1)

  const stranger = await h.app.inject({ method: 'GET', url: '/v1/connections/a%20b/alice' })
  t.equal(stranger.statusCode, 401, 'the key is checked before the path is')
})

t.test('app keys: missing, malformed, unknown and revoked keys all get the same 401', async (t) => {
  const h = await startHarness(t)
  const app = await h.createApp()
  const body = { tenant_id: 'acme', user_id: 'alice' }
  const missing = await h.app.inject({ method: 'POST', url: '/v1/token', payload: body })
  t.equal(missing.statusCode, 401)
  t.equal(missing.json().error.code, '1')
  t.equal(missing.headers['www-authenticate'], 'Bearer')
  const wrongSecret = app.key.slice(0, -4) + (app.key.endsWith('AAAA') ? 'BBBB' : 'AAAA')
  const unknownApp = `obk_app_0000000000000000_${app.key.slice(-43)}`
  const answers = await Promise.all([wrongSecret, unknownApp, 'garbage', `${app.key}x`].map((k) => h.asApp(k, 'POST', '/v1/token', body)))
  for (const a of answers) {
    t.equal(a.statusCode, 401)
    t.same(a.json(), answers[0]?.json(), 'the same answer whatever was wrong')
  }

  t.equal((await h.asApp(app.key, 'POST', '/v1/token', body)).statusCode, 404, 'the right key works')
  const revoke = await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${app.id}/keys/${app.key_id}`, headers: { authorization: `Bearer ${h.config.adminKey}` } })
  t.equal(revoke.statusCode, 204)
  t.equal((await h.asApp(app.key, 'POST', '/v1/token', body)).statusCode, 401, 'revoked at once, even though this replica had it cached')
})

t.test("a revoked key's calls do not spend the connection's budget (on Redis Cluster too, where the two counts run in parallel)", async (t) => {
  const h = await startHarness(t)
  const owner = await h.createApp()
  t.equal((await h.connect(owner.key, 'acme', 'alice')).callback.statusCode, 200)
  const leaked = await h.createApp()
  const body = { tenant_id: 'acme', user_id: 'alice' }
  t.equal((await h.asApp(leaked.key, 'POST', '/v1/token', body)).statusCode, 200, 'known and counted once')
  await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${leaked.id}/keys/${leaked.key_id}`, headers: { authorization: `Bearer ${h.config.adminKey}` } })
  for (let i = 0; i < 5; i += 1) t.equal((await h.asApp(leaked.key, 'POST', '/v1/token', body)).statusCode, 401)
  const answer = await h.asApp(owner.key, 'POST', '/v1/token', body)
  t.equal(answer.headers['x-ratelimit-limit'], '3600', "the connection's bucket is the tighter one")
  t.equal(answer.headers['x-ratelimit-used'], '2', 'the first call and this one; the revoked calls gave theirs back')
})

t.test('calls an app\'s own rate_limit refuses do not spend the user\'s budget, which every app shares (on Redis Cluster too)', async (t) => {
  const h = await startHarness(t)
  const main = await h.createApp()
  const throttled = await h.createApp({ rate_limit: 1 })
  t.equal((await h.connect(main.key, 'acme', 'alice')).callback.statusCode, 200)
  const body = { tenant_id: 'acme', user_id: 'alice' }
  t.equal((await h.asApp(main.key, 'POST', '/v1/token', body)).headers['x-ratelimit-used'], '1')
  t.equal((await h.asApp(throttled.key, 'POST', '/v1/token', body)).statusCode, 200, "the throttled app's one call")
  for (let i = 0; i < 20; i += 1) {
    const refused = await h.asApp(throttled.key, 'POST', '/v1/token', body)
    t.equal(refused.statusCode, 429)
    t.equal(refused.json().error.code, '4')
  }
  const after = await h.asApp(main.key, 'POST', '/v1/token', body)
  t.equal(after.statusCode, 200)
  t.equal(after.headers['x-ratelimit-used'], '3', "main's two calls and the throttled app's one: none of its 20 refused calls")
})

t.test('hand-outs for users with no connection leave no counter behind', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  for (let i = 0; i < 20; i += 1) t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: `nobody${i}` })).statusCode, 404)
  const counters = (await dumpPrefix(h.prefix)).filter(({ key }) => key.includes('{t:acme}:rl:'))
  t.same(counters, [], 'no per-user counter for a user who is not connected')
  const last = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'nobody' })
  t.match(last.headers, { 'x-ratelimit-limit': '1000000', 'x-ratelimit-used': '21', 'x-ratelimit-remaining': '999979' }, "the headers tell the app's own count, the one these calls were counted in")
})

t.test('bad input gets the seed\'s error shape with a stable code, and changes nothing', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const post = (payload: string, contentType = 'application/json') =>
    h.app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${key}`, 'content-type': contentType }, payload })

  const unparsable = await post('{"tenant_id": ')
  t.equal(unparsable.statusCode, 400)
  t.equal(unparsable.json().error.code, '5')

  const badChars = await post(JSON.stringify({ tenant_id: 'acme}:x', user_id: 'alice' }))
  t.equal(badChars.statusCode, 422)
  t.equal(badChars.json().error.code, '3')
  t.match(badChars.json().error.reason, /tenant_id/)

  const wrongType = await post(JSON.stringify({ tenant_id: 'acme', user_id: 'alice', min_ttl: '120' }))
  t.equal(wrongType.statusCode, 422)
  t.match(wrongType.json().error.reason, /min_ttl/)

  const missing = await post(JSON.stringify({ tenant_id: 'acme' }))
  t.equal(missing.statusCode, 422)
  t.match(missing.json().error.reason, /user_id/)

  const tooLong = await post(JSON.stringify({ tenant_id: 'a'.repeat(129), user_id: 'alice' }))
  t.equal(tooLong.statusCode, 422)

  const huge = await post(JSON.stringify({ tenant_id: 'acme', user_id: 'alice', pad: 'x'.repeat(20_000) }))
  t.equal(huge.statusCode, 413)
  t.equal(huge.json().error.code, '10')

  const form = await post('tenant_id=acme', 'application/x-www-form-urlencoded')
  t.equal(form.statusCode, 400)
  t.equal(form.json().error.code, '5')

  const unknownAndDuplicate = await post('{"tenant_id":"nope","tenant_id":"acme","user_id":"alice","extra":1}')
  t.equal(unknownAndDuplicate.statusCode, 404, 'unknown fields ignored, the last duplicate wins (seed)')

  const notFound = await h.app.inject({ method: 'GET', url: '/v1/nothing-here' })
  t.equal(notFound.statusCode, 404)
  t.equal(notFound.json().error.code, '2')

  const badReturn = await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'a', return_to: 'https://evil.example.com/' })
  t.equal(badReturn.statusCode, 422)
  t.equal(badReturn.json().error.code, '3')
  t.match(badReturn.json().error.reason, /return_to/)
})
