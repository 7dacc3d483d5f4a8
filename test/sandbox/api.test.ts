import t from 'tap'
import { bodyOf, control, me, obtainTokens, startSandbox } from './helpers.js'

const NOT_ACTIVE = { error: { status: 401, code: '1', message: 'Unauthorized: the provided token is not active' } }

t.test('/v1/me answers 401 with exactly the seed body for a missing, unknown or malformed token', async (t) => {
  const sandbox = await startSandbox(t)
  const attempts: Array<[string, Record<string, string>]> = [
    ['no header', {}],
    ['an unknown token', { authorization: 'Bearer ory_at_unknown' }],
    ['another scheme', { authorization: 'Basic YTpi' }],
    ['an empty bearer', { authorization: 'Bearer ' }],
  ]
  for (const [name, headers] of attempts) {
    const res = await fetch(sandbox.url('/v1/me'), { headers })
    t.equal(res.status, 401, name)
    t.same(await bodyOf(res), NOT_ACTIVE, name)
    t.ok(res.headers.get('x-ratelimit-limit'), `${name}: rate-limit headers too`)
  }
})

t.test('an access token stops working when it expires', async (t) => {
  const sandbox = await startSandbox(t, { accessTokenTtl: 60 })
  const tokens = await obtainTokens(t, sandbox)
  t.equal(tokens.expires_in, 60)
  sandbox.clock.advance(59)
  t.equal((await me(sandbox, tokens.access_token)).status, 200)
  sandbox.clock.advance(1)
  const expired = await me(sandbox, tokens.access_token)
  t.equal(expired.status, 401)
  t.same(await bodyOf(expired), NOT_ACTIVE)
})

t.test('the bearer scheme is case-insensitive', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  const res = await fetch(sandbox.url('/v1/me'), { headers: { authorization: `bearer ${tokens.access_token}` } })
  t.equal(res.status, 200)
})

t.test('every answer carries the rate-limit headers and the limit answers 429 with an HTTP-date', async (t) => {
  const sandbox = await startSandbox(t, { rateLimit: 3 })
  const tokens = await obtainTokens(t, sandbox)
  for (let call = 1; call <= 3; call += 1) {
    const res = await me(sandbox, tokens.access_token)
    t.equal(res.status, 200)
    t.equal(res.headers.get('x-ratelimit-limit'), '3')
    t.equal(res.headers.get('x-ratelimit-used'), String(call))
    t.equal(res.headers.get('x-ratelimit-remaining'), String(3 - call))
  }
  const limited = await me(sandbox, tokens.access_token)
  t.equal(limited.status, 429)
  t.same(await bodyOf(limited), { error: { status: 429, code: '4', message: 'Rate limited.' } })
  t.equal(limited.headers.get('x-ratelimit-remaining'), '0')
  t.equal(limited.headers.get('x-ratelimit-used'), '3')
  // The clock is at 12:00:00, the start of a window: it resets at 12:15:00.
  t.equal(limited.headers.get('retry-after'), new Date(Date.UTC(2030, 0, 1, 12, 15, 0)).toUTCString())
  t.match(limited.headers.get('retry-after'), /^\w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} GMT$/)

  sandbox.clock.advance(15 * 60)
  const next = await me(sandbox, tokens.access_token)
  t.equal(next.status, 200, 'a new window opens')
  t.equal(next.headers.get('x-ratelimit-used'), '1')
})

t.test('the rate limit is per user', async (t) => {
  const sandbox = await startSandbox(t, { rateLimit: 1 })
  const alice = await obtainTokens(t, sandbox, 'alice')
  const bob = await obtainTokens(t, sandbox, 'bob')
  t.equal((await me(sandbox, alice.access_token)).status, 200)
  t.equal((await me(sandbox, alice.access_token)).status, 429)
  t.equal((await me(sandbox, bob.access_token)).status, 200)
})

t.test('the rate limit can change at run time', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'PUT', '/settings', { rate_limit: 1 })
  t.equal((await me(sandbox, tokens.access_token)).status, 200)
  t.equal((await me(sandbox, tokens.access_token)).status, 429)
})

t.test('unknown paths and methods, and URLs that do not parse, answer in the seed\'s error format', async (t) => {
  const sandbox = await startSandbox(t)
  for (const [method, path] of [['GET', '/v1/customers'], ['DELETE', '/v1/me'], ['GET', '/nothing']] as const) {
    const res = await fetch(sandbox.url(path), { method })
    t.equal(res.status, 404, `${method} ${path}`)
    t.same(await res.json(), { error: { status: 404, code: '2', message: 'The resource was not found.' } })
  }
  const mangled = await fetch(sandbox.url('/v1/me%zz'))
  t.equal(mangled.status, 400)
  t.same(await mangled.json(), { error: { status: 400, code: '5', message: 'The request was not parsed. Please double-check the content of the request.' } })
})
