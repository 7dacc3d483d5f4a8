import t from 'tap'
import { ADMIN_KEY, RETURN_ORIGIN, startHarness, throughOneUp, walkToCallback } from '../helpers/harness.js'
import { FLOW_COOKIE } from '../../src/http/routes/browser.js'

t.test('a user connects through login and consent; the app then gets a token OneUp accepts', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const { callback } = await h.connect(key, 'acme', 'alice@acme', { returnTo: `${RETURN_ORIGIN}/settings?tab=oneup` })
  t.equal(callback.statusCode, 303)
  t.equal(callback.headers.location, `${RETURN_ORIGIN}/settings?tab=oneup&status=connected`)

  const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice@acme' })
  t.equal(token.statusCode, 200)
  t.equal(token.headers['cache-control'], 'no-store')
  const body = token.json()
  t.match(body, { token_type: 'Bearer', scope: 'offline_access' })
  t.ok(body.expires_in > 3500 && body.expires_in <= 3600, 'a fresh OneUp token lasts an hour')
  t.same(Object.keys(body).sort(), ['access_token', 'expires_at', 'expires_in', 'scope', 'token_type'], 'no refresh token ever leaves')

  const me = await fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${body.access_token}` } })
  t.equal(me.status, 200)
  t.equal(((await me.json()) as { username: string }).username, 'alice')

  const again = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice@acme' })
  t.equal(again.json().access_token, body.access_token, 'a still-valid token is handed out again, not refreshed')
  t.same(await h.sandbox.counters(), { code_exchanges: 1, refresh_grants: 0, reuse_detections: 0, grace_reuses: 0, token_requests: 1, token_errors: 0 })

  const metadata = await h.asApp(key, 'GET', '/v1/connections/acme/alice@acme')
  t.equal(metadata.statusCode, 200)
  t.match(metadata.json(), { tenant_id: 'acme', user_id: 'alice@acme', status: 'active', scope: 'offline_access', key_id: 'k1' }, 'its metadata, never a token')
  t.notMatch(metadata.body, /ory_(at|rt)_/)
})

t.test('the connect redirect carries state, PKCE S256 and the flow cookie', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'bob' })).json()
  t.match(session.url, /^http:\/\/broker\.test\/connect\/cs_[A-Za-z0-9_-]{43}$/)
  const res = await h.app.inject({ method: 'GET', url: new URL(session.url).pathname })
  t.equal(res.statusCode, 302)
  const location = new URL(res.headers.location as string)
  t.equal(location.origin + location.pathname, `${h.sandbox.base}/oauth2/auth`)
  t.equal(location.searchParams.get('response_type'), 'code')
  t.equal(location.searchParams.get('client_id'), 'broker-under-test')
  t.equal(location.searchParams.get('redirect_uri'), 'http://broker.test/oauth/callback')
  t.equal(location.searchParams.get('scope'), 'offline_access')
  t.equal(location.searchParams.get('code_challenge_method'), 'S256')
  t.match(location.searchParams.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/)
  t.ok((location.searchParams.get('state') ?? '').length >= 22, 'state has at least 128 bits')
  const cookie = res.cookies.find((c) => c.name === FLOW_COOKIE)
  t.ok(cookie, 'flow cookie set')
  t.match(cookie, { httpOnly: true, sameSite: 'Lax', path: '/' })
  t.equal(res.headers['cache-control'], 'no-store')
})

t.test('deny: the user is sent back with status=error&error=access_denied and nothing is stored', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const { callback } = await h.connect(key, 'acme', 'carol', { returnTo: `${RETURN_ORIGIN}/done`, deny: true })
  t.equal(callback.statusCode, 303)
  t.equal(callback.headers.location, `${RETURN_ORIGIN}/done?status=error&error=access_denied`)
  const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'carol' })
  t.equal(token.statusCode, 404)
  t.equal(token.json().error.code, '2')
})

t.test('without return_to the callback answers a small page, and OneUp\'s words are escaped', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const ok = await h.connect(key, 'acme', 'dave')
  t.equal(ok.callback.statusCode, 200)
  t.match(ok.callback.headers['content-type'], /text\/html/)
  t.match(ok.callback.body, /OneUp is connected/)
  t.match(ok.callback.headers['content-security-policy'], /default-src 'none'/)
  t.equal(ok.callback.headers['referrer-policy'], 'no-referrer')

  // A hostile error description from "OneUp" is shown as text, never as HTML.
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'erin' })).json()
  const start = await h.app.inject({ method: 'GET', url: new URL(session.url).pathname })
  const state = new URL(start.headers.location as string).searchParams.get('state') ?? ''
  const cookies = Object.fromEntries(start.cookies.map((c) => [c.name, c.value]))
  const query = new URLSearchParams({ error: 'server_error', error_description: '<script>alert(1)</script>', state })
  const page = await h.app.inject({ method: 'GET', url: `/oauth/callback?${query}`, cookies })
  t.equal(page.statusCode, 400)
  t.notMatch(page.body, /<script>/)
  t.match(page.body, /&lt;script&gt;alert\(1\)&lt;\/script&gt;/)
})

t.test('replayed, forged, expired and cookie-less callbacks get a 400 page and exchange nothing', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const first = await h.connect(key, 'acme', 'frank', { returnTo: `${RETURN_ORIGIN}/x` })
  t.equal(first.callback.statusCode, 303)
  const exchangesAfterFirst = (await h.sandbox.counters()).code_exchanges

  const replay = await h.app.inject({ method: 'GET', url: first.callbackUrl.pathname + first.callbackUrl.search, cookies: first.cookies })
  t.equal(replay.statusCode, 400, 'replayed state')
  t.match(replay.body, /expired or was already used/)

  const forged = new URL(first.callbackUrl)
  forged.searchParams.set('state', 'forged-state-value-000000000000000')
  t.equal((await h.app.inject({ method: 'GET', url: forged.pathname + forged.search, cookies: first.cookies })).statusCode, 400, 'forged state')
  t.equal((await h.app.inject({ method: 'GET', url: '/oauth/callback?code=abc' })).statusCode, 400, 'no state at all')
  const realState = first.callbackUrl.searchParams.get('state') ?? ''
  for (const [what, query] of [
    ['a state sent twice', `state=${realState}&state=${realState}&code=abc`],
    ['an over-long state', `state=${'s'.repeat(600)}&code=abc`],
  ] as const) {
    const odd = await h.app.inject({ method: 'GET', url: `/oauth/callback?${query}`, cookies: first.cookies })
    t.equal(odd.statusCode, 400, what)
    t.match(odd.body, /This sign-in link cannot be used/, `${what}: the same page as a forged state`)
  }

  // Login CSRF: the victim's browser (no cookie, or another browser's cookie) lands on the attacker's callback.
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'grace' })).json()
  const attacker = await walkToCallback(h.app, session.url)
  const noCookie = await h.app.inject({ method: 'GET', url: attacker.callbackUrl.pathname + attacker.callbackUrl.search })
  t.equal(noCookie.statusCode, 400, 'cookie-less callback')
  t.match(noCookie.body, /another browser/)

  const session2 = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'heidi' })).json()
  const victim = await walkToCallback(h.app, session2.url)
  const attackerFlow = await walkToCallback(h.app, (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'heidi' })).json().url)
  const crossed = await h.app.inject({ method: 'GET', url: attackerFlow.callbackUrl.pathname + attackerFlow.callbackUrl.search, cookies: victim.cookies })
  t.equal(crossed.statusCode, 400, 'a callback with another browser\'s cookie')

  const tampered = await h.app.inject({
    method: 'GET',
    url: victim.callbackUrl.pathname + victim.callbackUrl.search,
    cookies: { oneup_broker_flow: `${Object.values(victim.cookies)[0]?.split('.')[0]}x.bad` },
  })
  t.equal(tampered.statusCode, 400, 'a cookie whose signature does not verify')

  t.equal((await h.sandbox.counters()).code_exchanges, exchangesAfterFirst, 'no code was exchanged for any of them')
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'grace' })).statusCode, 404)
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'heidi' })).statusCode, 404)
})

t.test('two concurrent callbacks with one state: exactly one exchanges', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'ivan' })).json()
  const { callbackUrl, cookies } = await walkToCallback(h.app, session.url)
  const url = callbackUrl.pathname + callbackUrl.search
  const answers = await Promise.all(Array.from({ length: 5 }, () => h.app.inject({ method: 'GET', url, cookies })))
  t.same(answers.map((a) => a.statusCode).sort(), [200, 400, 400, 400, 400])
  t.equal((await h.sandbox.counters()).code_exchanges, 1)
})

t.test('a connect link works once: after success it is gone, and unknown links get a 404 page', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const { connectUrl, callback } = await h.connect(key, 'acme', 'judy')
  t.equal(callback.statusCode, 200)
  const reused = await h.app.inject({ method: 'GET', url: new URL(connectUrl).pathname })
  t.equal(reused.statusCode, 404)
  t.match(reused.headers['content-type'], /text\/html/)
  t.match(reused.body, /This link has expired/)
  const guessed = await h.app.inject({ method: 'GET', url: '/connect/cs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
  t.equal(guessed.statusCode, 404)
  const junk = await h.app.inject({ method: 'GET', url: '/connect/%3Cscript%3E' })
  t.equal(junk.statusCode, 404)
  t.notMatch(junk.body, /<script>/)
})

t.test('a link restarted before finishing still works, and a second tab of the same browser too', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'kim' })).json()
  const tab1 = await walkToCallback(h.app, session.url)
  const tab2 = await walkToCallback(h.app, session.url, {}, tab1.cookies)
  t.same(tab2.cookies, tab1.cookies, 'the browser keeps one binding cookie for its flows')
  const second = await h.app.inject({ method: 'GET', url: tab2.callbackUrl.pathname + tab2.callbackUrl.search, cookies: tab2.cookies })
  t.equal(second.statusCode, 200)
})

t.test('the sandbox refuses a code replayed with another verifier (code injection)', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  // An attacker's own flow yields a code bound to the attacker's PKCE challenge...
  const attackerSession = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'mallory' })).json()
  const attacker = await walkToCallback(h.app, attackerSession.url)
  // ...injected into the victim's flow (the victim's own state and cookie).
  const victimSession = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'victim' })).json()
  const start = await h.app.inject({ method: 'GET', url: new URL(victimSession.url).pathname })
  const victimState = new URL(start.headers.location as string).searchParams.get('state') ?? ''
  const cookies = Object.fromEntries(start.cookies.map((c) => [c.name, c.value]))
  const injected = new URLSearchParams({ code: attacker.callbackUrl.searchParams.get('code') ?? '', state: victimState })
  const res = await h.app.inject({ method: 'GET', url: `/oauth/callback?${injected}`, cookies })
  t.equal(res.statusCode, 400)
  t.match(res.body, /took too long or was already used/, 'OneUp says invalid_grant: the verifier does not match')
  t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'victim' })).statusCode, 404)
  void throughOneUp
  void ADMIN_KEY
})
