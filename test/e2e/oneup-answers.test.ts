import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { aliceConnected, RETURN_ORIGIN, startHarness, walkToCallback } from '../helpers/harness.js'
import { redisKeys } from '../../src/store/keys.js'
import { dumpPrefix, testRedis } from '../helpers/redis.js'

/** Values a hostile or broken OneUp answer carries: none may reach Redis, a log line or an answer. */
const PLANTED = {
  access: `planted_at_${randomBytes(8).toString('hex')}`,
  refresh: `planted_rt_${randomBytes(8).toString('hex')}`,
  words: `planted_words_${randomBytes(8).toString('hex')}`,
}

const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json', ...headers } })

/** Token-endpoint answers that must be refused, each a fresh Response per call. */
const BAD_ANSWERS: Array<[string, () => Response]> = [
  ['a body that is not JSON', () => new Response(`<html>${PLANTED.words} ${PLANTED.refresh}</html>`, { status: 200, headers: { 'content-type': 'text/html' } })],
  ['JSON that is not an object', () => json([PLANTED.access, PLANTED.refresh])],
  ['no access_token', () => json({ token_type: 'bearer', refresh_token: PLANTED.refresh, expires_in: 3600 })],
  ['an access_token that is not a string', () => json({ access_token: 42, token_type: 'bearer', refresh_token: PLANTED.refresh })],
  ['a refresh_token that is not a string', () => json({ access_token: PLANTED.access, token_type: 'bearer', refresh_token: { value: PLANTED.refresh } })],
  ['a token_type other than bearer', () => json({ access_token: PLANTED.access, token_type: 'mac', refresh_token: PLANTED.refresh })],
  ['an access_token over 4 KiB', () => json({ access_token: `${PLANTED.access}${'a'.repeat(5000)}`, token_type: 'bearer', refresh_token: PLANTED.refresh })],
  ['a body over 64 KiB', () => json({ access_token: PLANTED.access, token_type: 'bearer', refresh_token: PLANTED.refresh, pad: 'x'.repeat(100_000) })],
  [
    'a body over 64 KiB sent without a length',
    () => {
      const chunk = new TextEncoder().encode(`{"access_token":"${PLANTED.access}","token_type":"bearer","refresh_token":"${PLANTED.refresh}","pad":"${'x'.repeat(80_000)}"}`)
      return new Response(new ReadableStream({ start: (controller) => (controller.enqueue(chunk), controller.close()) }), { status: 200 })
    },
  ],
  ['a 500 with words of its own', () => json({ error: 'server_error', error_description: PLANTED.words, refresh_token: PLANTED.refresh }, 500)],
]

/**
 * The bad answers that still carry a usable refresh token: to a refresh they mean OneUp
 * rotated, so the broker keeps that token (tested below against the sandbox's own rotation).
 */
const CARRY_A_ROTATED_REFRESH_TOKEN = new Set(['no access_token', 'an access_token that is not a string', 'a token_type other than bearer', 'an access_token over 4 KiB'])

/** A fetch to OneUp that answers from `bad` while it is set: a broken or hostile OneUp. */
function tamperingFetch(): { fetch: typeof fetch; answer: { bad: (() => Response) | undefined; served: number } } {
  const answer: { bad: (() => Response) | undefined; served: number } = { bad: undefined, served: 0 }
  return {
    answer,
    fetch: async (input, init) => {
      const url = input instanceof Request ? input.url : String(input)
      if (answer.bad !== undefined && url.endsWith('/oauth2/token')) {
        answer.served += 1
        return answer.bad()
      }
      return fetch(input, init)
    },
  }
}

async function assertNoPlantedValue(t: Test, h: { prefix: string; logs: string[] }, answers: string[]): Promise<void> {
  const stored = (await dumpPrefix(h.prefix)).map((d) => `${d.key} ${d.text}`).join('\n')
  const logs = h.logs.join('\n')
  for (const [name, value] of Object.entries(PLANTED)) {
    t.notOk(stored.includes(value), `planted ${name} not in Redis`)
    t.notOk(logs.includes(value), `planted ${name} not in the logs`)
    t.notOk(answers.some((a) => a.includes(value)), `planted ${name} not in any answer`)
  }
}

t.test('a broken or hostile token answer to the code exchange stores nothing and names no secret', async (t) => {
  const { fetch, answer } = tamperingFetch()
  const h = await startHarness(t, { app: { fetch } })
  const { key } = await h.createApp()
  const answers: string[] = []
  for (const [index, [what, bad]] of BAD_ANSWERS.entries()) {
    const userId = `user${index}`
    const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: userId })).json()
    const flow = await walkToCallback(h.app, session.url)
    answer.bad = bad
    const callback = await h.app.inject({ method: 'GET', url: flow.callbackUrl.pathname + flow.callbackUrl.search, cookies: flow.cookies })
    answer.bad = undefined
    t.equal(answer.served, index + 1, `${what}: the broker did read the bad answer`)
    t.equal(callback.statusCode, 503, `${what}: OneUp is taken as unavailable`)
    t.match(callback.body, /OneUp could not be reached/, `${what}: the user is told so`)
    const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: userId })
    t.equal(token.statusCode, 404, `${what}: no connection was stored`)
    answers.push(callback.body, JSON.stringify(callback.headers), token.body)
  }
  await assertNoPlantedValue(t, h, answers)
})

t.test('a broken or hostile token answer to a refresh without a usable refresh token keeps the stored one and names no secret', async (t) => {
  const { fetch, answer } = tamperingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch, refreshPolicy: { cooldownMs: 1, maxAttempts: 1 } } })
  const before = (await token()).json().access_token as string

  const answers: string[] = []
  let tampered = 0
  let held = before
  for (const [what, bad] of BAD_ANSWERS.filter(([what]) => !CARRY_A_ROTATED_REFRESH_TOKEN.has(what))) {
    clock.ms += 60_000
    answer.bad = bad
    const refused = await token({ force_refresh: true })
    answer.bad = undefined
    t.equal(refused.statusCode, 503, `${what}: 503`)
    t.equal(refused.json().error.code, '8', `${what}: OneUp unavailable`)
    t.equal(answer.served, ++tampered, `${what}: the broker did read the bad answer`)
    answers.push(refused.body)
    // The cooldown is 1 ms of real time (Redis keeps it): let it lapse before the next one.
    await new Promise((resolve) => setTimeout(resolve, 5))
    const served = await token()
    if (bad().status === 200) {
      // A 200 means OneUp did refresh, revoking the access token: the broker refreshes again
      // (here OneUp did not in fact rotate, so the kept refresh token works).
      t.equal(served.statusCode, 200, `${what}: the next hand-out refreshes with the refresh token kept`)
      t.not(served.json().access_token, held, `${what}: not the access token a 200 revoked`)
    } else {
      t.equal(served.json().access_token, held, `${what}: the stored token set is unchanged`)
    }
    held = served.json().access_token
  }

  clock.ms += 60_000
  const healthy = await token({ force_refresh: true })
  t.equal(healthy.statusCode, 200, 'with OneUp healthy again the kept refresh token works')
  t.not(healthy.json().access_token, before)
  t.equal((await h.sandbox.counters()).reuse_detections, 0, 'no refresh token was spent on a bad answer')
  await assertNoPlantedValue(t, h, answers)
})

t.test('an OAuth error that also carries WWW-Authenticate is read all the same: invalid_grant is a 409, not an outage', async (t) => {
  const { fetch, answer } = tamperingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch } })
  clock.ms += 60_000
  answer.bad = () =>
    new Response(JSON.stringify({ error: 'invalid_grant', error_description: 'The refresh token was revoked.' }), {
      status: 400,
      headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_grant"' },
    })
  const refused = await token({ force_refresh: true })
  t.equal(refused.statusCode, 409)
  t.equal(refused.json().error.code, '7')
  t.equal(answer.served, 1, 'asked once: a refusal is not retried')
})

t.test('an error id from the code exchange that is not a plain OAuth word is not repeated to the app', async (t) => {
  const { fetch, answer } = tamperingFetch()
  const h = await startHarness(t, { app: { fetch } })
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice', return_to: `${RETURN_ORIGIN}/back` })).json().url
  const flow = await walkToCallback(h.app, link)
  answer.bad = () => json({ error: 'Evil.ID-x' }, 400)
  const callback = await h.app.inject({ method: 'GET', url: flow.callbackUrl.pathname + flow.callbackUrl.search, cookies: flow.cookies })
  t.equal(callback.headers.location, `${RETURN_ORIGIN}/back?status=error&error=oneup_error`)
})

t.test('an error id from a refresh that is not a plain OAuth word is not repeated in the refresh event', async (t) => {
  const { fetch, answer } = tamperingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch, refreshPolicy: { cooldownMs: 1, maxAttempts: 1 } } })
  const reported: Array<string | undefined> = []
  h.app.broker.events.on('refresh', ({ oneupError }) => void reported.push(oneupError))
  clock.ms += 60_000
  answer.bad = () => json({ error: 'Evil.ID-x' }, 400)
  t.equal((await token({ force_refresh: true })).statusCode, 503)
  answer.bad = () => json({ error: 'slow_down' }, 400)
  clock.ms += 60_000
  // The cooldown is 1 ms of real time (Redis keeps it): let it lapse.
  await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal((await token({ force_refresh: true })).statusCode, 503)
  t.same(reported, ['oneup_error', 'slow_down'], 'a plain OAuth word is passed on, anything else is replaced')
})

/** A fetch that lets the sandbox answer, then hands the broker `rewrite(body)` of its next 200 token answer instead. */
function rewritingFetch(): { fetch: typeof fetch; next: { rewrite: ((body: Record<string, unknown>) => Response) | undefined }; seen: string[] } {
  const next: { rewrite: ((body: Record<string, unknown>) => Response) | undefined } = { rewrite: undefined }
  const seen: string[] = []
  return {
    next,
    seen,
    fetch: async (input, init) => {
      const response = await fetch(input, init)
      const url = input instanceof Request ? input.url : String(input)
      const rewrite = next.rewrite
      if (rewrite === undefined || !url.endsWith('/oauth2/token') || response.status !== 200) return response
      next.rewrite = undefined
      const body = (await response.json()) as Record<string, unknown>
      seen.push(String(body.access_token), String(body.refresh_token))
      return rewrite(body)
    },
  }
}

t.test('a 200 refresh answer with odd fields the broker can do without is used, not refused: the rotated refresh token is not lost', async (t) => {
  const { fetch, next } = rewritingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch } })
  const grants = async () => (await h.sandbox.counters()).refresh_grants

  const odd: Array<[string, (body: Record<string, unknown>) => Record<string, unknown>]> = [
    ['expires_in -1', (body) => ({ ...body, expires_in: -1 })],
    ['expires_in null', (body) => ({ ...body, expires_in: null })],
    ['expires_in "soon"', (body) => ({ ...body, expires_in: 'soon' })],
    ['scope not a string', (body) => ({ ...body, scope: 42 })],
    ['no token_type', ({ token_type: _, ...body }) => body],
    ['an id_token OneUp never issues', (body) => ({ ...body, id_token: 'not.a.jwt' })],
  ]
  for (const [what, edit] of odd) {
    const before = await grants()
    clock.ms += 60_000
    next.rewrite = (body) => json(edit(body))
    const refreshed = await token({ force_refresh: true })
    t.equal(refreshed.statusCode, 200, `${what}: served (${refreshed.body})`)
    t.equal(await grants(), before + 1, `${what}: one refresh grant, no retry`)
    if (what.startsWith('expires_in')) t.equal(refreshed.json().expires_in, 3600, `${what}: OneUp's documented default lifetime`)
    if (what === 'scope not a string') t.equal(refreshed.json().scope, 'offline_access', `${what}: the scope held is kept`)
  }
  t.equal((await h.sandbox.counters()).reuse_detections, 0, 'no spent refresh token was presented again')
  clock.ms += 60_000
  t.equal((await token({ force_refresh: true })).statusCode, 200, 'the connection still refreshes')
})

t.test('a 200 refresh answer the broker cannot use is not retried with the spent refresh token; a rotated refresh token in it is kept', async (t) => {
  const { fetch, next, seen } = rewritingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch, refreshPolicy: { cooldownMs: 1 } } })
  const counters = () => h.sandbox.counters()

  // OneUp rotated, but its answer has no access token: the broker keeps the new refresh token.
  clock.ms += 60_000
  next.rewrite = ({ access_token: _, ...body }) => json(body)
  const refused = await token({ force_refresh: true })
  t.equal(refused.statusCode, 503, 'no access token to serve: 503')
  t.equal(refused.json().error.code, '8')
  t.equal((await counters()).refresh_grants, 1, 'OneUp answered: not retried')
  await new Promise((resolve) => setTimeout(resolve, 5)) // the 1 ms cooldown
  const served = await token()
  t.equal(served.statusCode, 200, 'the next hand-out refreshes with the rotated refresh token')
  const me = await globalThis.fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${served.json().access_token}` } })
  t.equal(me.status, 200, 'and serves a token OneUp accepts')
  t.equal((await counters()).reuse_detections, 0, 'the spent refresh token was never presented again')

  // OneUp rotated, and its answer is not even JSON: the rotated token is lost, but no retry spends the chain.
  clock.ms += 60_000
  next.rewrite = () => new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } })
  const garbled = await token({ force_refresh: true })
  t.equal(garbled.statusCode, 503, 'an answer that is not JSON: 503')
  const after = await counters()
  t.equal(after.refresh_grants, 3, 'not retried')
  t.equal(after.reuse_detections, 0, 'no reuse detection now')

  const logs = h.logs.join('\n')
  t.match(logs, /cannot use: \\"response\\" body \\"access_token\\" property must be a string/, 'the log says what was wrong with the answer')
  t.match(logs, /cannot use: its body is not JSON/)
  for (const value of seen) t.notOk(logs.includes(value), 'no token OneUp sent is in the logs')
})

t.test('after a 200 refresh answer the broker cannot use, the access token OneUp revoked with it is never served again', async (t) => {
  const { fetch, next } = rewritingFetch()
  const { h, clock, token } = await aliceConnected(t, { app: { fetch } })
  const first = (await token()).json()
  clock.ms += 40 * 60_000 // 20 minutes left: min_ttl 1800 makes a refresh due, not yet a plain hand-out
  next.rewrite = () => new Response('<html>oops</html>', { status: 200, headers: { 'content-type': 'text/html' } })
  const answered = await token({ min_ttl: 1800 })
  t.equal((await h.sandbox.counters()).refresh_grants, 1, 'OneUp did refresh, revoking the access token')
  t.equal((await globalThis.fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${first.access_token}` } })).status, 401)
  t.equal(answered.statusCode, 503, 'not the revoked token, though it had 20 minutes left')
  const plain = await token()
  t.not(plain.json().access_token, first.access_token, `nor to a plain hand-out afterwards (${plain.statusCode})`)
})

t.test("OneUp's Retry-After to a refresh holds the connection's refreshes back, and is passed on, up to a minute", async (t) => {
  const oneup = { limited: false, asked: 0 }
  const limited: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    if (!oneup.limited || !url.endsWith('/oauth2/token')) return globalThis.fetch(input, init)
    oneup.asked += 1
    return json({ error: { status: 429, code: '4', message: 'Rate limited.' } }, 429, { 'retry-after': '120' })
  }
  const { h, clock, token } = await aliceConnected(t, { app: { fetch: limited } })
  clock.ms += 3_600_000 // expired: a refresh is due
  oneup.limited = true
  const first = await token()
  t.equal(first.statusCode, 503)
  t.equal(first.headers['retry-after'], '60', "OneUp's 120 s, capped at a minute (not the 5 s cooldown)")
  t.equal(oneup.asked, 1, 'asked once: 120 s did not fit the budget')
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const left = await redis.pttl(redisKeys(h.prefix).refreshCooldown('acme', 'alice'))
  t.ok(left > 55_000, `no replica asks OneUp again for a minute (${left} ms left)`)
})

t.test('a 429 or another 4xx without an OAuth error to a refresh: OneUp answered, so no retry at once; a short Retry-After is honoured', async (t) => {
  // OneUp's token endpoint behind a rate limiter that refuses (in the seed's format) until
  // the moment its Retry-After names, or behind whatever `bad` answers.
  const oneup = { limitedFor: 0, limitedUntil: 0, bad: undefined as (() => Response) | undefined, served: 0 }
  const limited: typeof fetch = async (input, init) => {
    const url = input instanceof Request ? input.url : String(input)
    if (!url.endsWith('/oauth2/token')) return fetch(input, init)
    if (oneup.bad !== undefined) {
      oneup.served += 1
      return oneup.bad()
    }
    if (oneup.limitedFor > 0) {
      oneup.limitedUntil = Date.now() + oneup.limitedFor * 1000
      oneup.limitedFor = 0
    }
    if (Date.now() < oneup.limitedUntil) {
      oneup.served += 1
      return seedRateLimited(String(Math.ceil((oneup.limitedUntil - Date.now()) / 1000)))
    }
    return fetch(input, init)
  }
  const seedRateLimited = (retryAfter: string) =>
    new Response(JSON.stringify({ error: { status: 429, code: '4', message: 'Rate limited.' } }), { status: 429, headers: { 'content-type': 'application/json', 'retry-after': retryAfter } })
  const { h, clock, token: handout } = await aliceConnected(t, { app: { fetch: limited, refreshPolicy: { cooldownMs: 1 } } })
  const token = () => handout({ force_refresh: true })

  clock.ms += 60_000
  oneup.limitedFor = 1
  const honoured = await token()
  t.equal(honoured.statusCode, 200, `a 429 with Retry-After 1 is tried again after that second (${honoured.body})`)
  t.equal(oneup.served, 1, 'refused once: the next try came when OneUp said')
  t.equal((await h.sandbox.counters()).refresh_grants, 1, 'and OneUp did the refresh')

  // A 429's Retry-After lengthens the cooldown (kept in Redis, in real time): lifted between the cases.
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const liftCooldown = () => redis.del(redisKeys(h.prefix).refreshCooldown('acme', 'alice'))
  for (const [what, bad] of [
    ['a 429 asking for a minute', () => seedRateLimited('60')],
    ['a 429 that does not say when', () => new Response('slow down', { status: 429 })],
    ['a 403 page from something in front of OneUp', () => new Response('<html>Forbidden</html>', { status: 403, headers: { 'content-type': 'text/html' } })],
  ] as const) {
    await new Promise((resolve) => setTimeout(resolve, 5)) // the 1 ms cooldown
    await liftCooldown()
    const before = oneup.served
    oneup.bad = bad
    clock.ms += 60_000
    const refused = await token()
    oneup.bad = undefined
    t.equal(refused.statusCode, 503, `${what}: 503`)
    t.equal(refused.json().error.code, '8')
    t.equal(oneup.served - before, 1, `${what}: asked once, not again at once`)
  }
  // A 5xx page may come from a gateway that lost OneUp's answer: transient, retried as before.
  await new Promise((resolve) => setTimeout(resolve, 5))
  await liftCooldown()
  const before = oneup.served
  oneup.bad = () => new Response('<html>Bad gateway</html>', { status: 502, headers: { 'content-type': 'text/html' } })
  clock.ms += 60_000
  t.equal((await token()).statusCode, 503, 'a 502 page: 503')
  oneup.bad = undefined
  t.equal(oneup.served - before, 3, 'a 502 page is retried (3 attempts): not taken for an unusable 200')

  const logs = h.logs.join('\n')
  t.match(logs, /OneUp answered 429 without an OAuth error/, 'the log says what OneUp answered')
  t.match(logs, /OneUp answered 403 without an OAuth error/)
  t.equal((await h.sandbox.counters()).reuse_detections, 0)
})
