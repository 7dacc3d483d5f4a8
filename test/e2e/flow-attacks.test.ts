import t from 'tap'
import { sha256hex } from '../../src/crypto/random.js'
import { redisKeys } from '../../src/store/keys.js'
import { CLIENT_ID, CLIENT_SECRET, PUBLIC_URL, RETURN_ORIGIN, oneupUserOf, startHarness, throughOneUp, walkToCallback } from '../helpers/harness.js'
import { admin } from '../helpers/ops.js'
import { testRedis } from '../helpers/redis.js'

const callbackOf = (flow: { callbackUrl: URL }) => flow.callbackUrl.pathname + flow.callbackUrl.search

t.test('a link opened in two browsers connects one OneUp account: the later callback is refused and the first account stays', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice', return_to: `${RETURN_ORIGIN}/done` })).json().url
  // The user opens the link; so does someone it was forwarded or leaked to, with their own OneUp account.
  const user = await walkToCallback(h.app, link, { username: 'alice' })
  const other = await walkToCallback(h.app, link, { username: 'mallory' })

  const first = await h.app.inject({ method: 'GET', url: callbackOf(user), cookies: user.cookies })
  t.equal(first.headers.location, `${RETURN_ORIGIN}/done?status=connected`)
  const second = await h.app.inject({ method: 'GET', url: callbackOf(other), cookies: other.cookies })
  t.equal(second.statusCode, 303)
  t.equal(second.headers.location, `${RETURN_ORIGIN}/done?status=error&error=link_used`)
  t.equal(await oneupUserOf(h, key, 'acme', 'alice'), 'alice', 'the account connected first is the one kept')
  t.equal((await h.sandbox.counters()).code_exchanges, 1, 'the second code was not even exchanged')
  t.equal((await h.app.inject({ method: 'GET', url: new URL(link).pathname })).statusCode, 404, 'the used link is gone')
})

t.test('a link made with a key revoked since connects no account: OneUp is not even asked for the tokens', async (t) => {
  const h = await startHarness(t)
  const { id, key_id: leakedKeyId, key: leaked } = await h.createApp()
  const { key } = (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/keys`, headers: admin })).json<{ key: string }>()
  // Someone holding a leaked key makes a link for the tenant's CEO, to finish it with their own OneUp account.
  const link = (await h.asApp(leaked, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'ceo', return_to: `${RETURN_ORIGIN}/done` })).json().url
  const kept = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'cfo', return_to: `${RETURN_ORIGIN}/done` })).json().url
  t.equal((await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${id}/keys/${leakedKeyId}`, headers: admin })).statusCode, 204)

  const attacker = await walkToCallback(h.app, link, { username: 'mallory' })
  const refused = await h.app.inject({ method: 'GET', url: callbackOf(attacker), cookies: attacker.cookies })
  t.equal(refused.headers.location, `${RETURN_ORIGIN}/done?status=error&error=link_revoked`)
  t.equal((await h.asApp(key, 'GET', '/v1/connections/acme/ceo')).statusCode, 404, 'nothing connected for the CEO')
  t.equal((await h.sandbox.counters()).code_exchanges, 0, 'the code was not exchanged')

  const user = await walkToCallback(h.app, kept, { username: 'cfo' })
  const connected = await h.app.inject({ method: 'GET', url: callbackOf(user), cookies: user.cookies })
  t.equal(connected.headers.location, `${RETURN_ORIGIN}/done?status=connected`, "the other key's links still work")
})

t.test('two browsers finishing one link at the same moment: exactly one account is connected, and it is the winner\'s', async (t) => {
  const h = await startHarness(t, { sandbox: { tokenLatencyMs: 30 } })
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'bob' })).json().url
  const flows = [await walkToCallback(h.app, link, { username: 'bob' }), await walkToCallback(h.app, link, { username: 'mallory' })]
  const answers = await Promise.all(flows.map((flow) => h.app.inject({ method: 'GET', url: callbackOf(flow), cookies: flow.cookies })))
  const connected = answers.map((a) => /OneUp is connected/.test(a.body))
  t.same(connected.filter(Boolean).length, 1, 'one connected')
  t.match(answers[connected.indexOf(false)]?.body, /already used or has expired/, 'the other was told the link was used')
  t.equal(await oneupUserOf(h, key, 'acme', 'bob'), connected[0] ? 'bob' : 'mallory', 'what is stored is the winner\'s account')
})

t.test('two tabs of one browser connecting two users of two tenants each store only their own tokens; crossed states and codes store nothing', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const linkFor = async (tenantId: string, userId: string) =>
    (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: tenantId, user_id: userId })).json().url as string

  const tabA = await walkToCallback(h.app, await linkFor('acme', 'alice'), { username: 'alice' })
  const tabB = await walkToCallback(h.app, await linkFor('globex', 'bob'), { username: 'bob' }, tabA.cookies)
  const crossed = new URLSearchParams({ state: tabA.callbackUrl.searchParams.get('state') ?? '', code: tabB.callbackUrl.searchParams.get('code') ?? '' })
  const mixed = await h.app.inject({ method: 'GET', url: `/oauth/callback?${crossed}`, cookies: tabA.cookies })
  t.equal(mixed.statusCode, 400, 'tab A\'s state with tab B\'s code: OneUp refuses it (PKCE)')
  t.equal(await oneupUserOf(h, key, 'acme', 'alice'), 404, 'nothing stored for tab A\'s user')
  t.equal(await oneupUserOf(h, key, 'globex', 'bob'), 404, 'nor for tab B\'s')

  // The same browser, two tabs finishing in the opposite order to how they started.
  const tabC = await walkToCallback(h.app, await linkFor('acme', 'carol'), { username: 'carol' }, tabA.cookies)
  const tabD = await walkToCallback(h.app, await linkFor('globex', 'dave'), { username: 'dave' }, tabA.cookies)
  t.equal((await h.app.inject({ method: 'GET', url: callbackOf(tabD), cookies: tabD.cookies })).statusCode, 200)
  t.equal((await h.app.inject({ method: 'GET', url: callbackOf(tabC), cookies: tabC.cookies })).statusCode, 200)
  t.equal(await oneupUserOf(h, key, 'acme', 'carol'), 'carol')
  t.equal(await oneupUserOf(h, key, 'globex', 'dave'), 'dave')
  t.equal(await oneupUserOf(h, key, 'globex', 'carol'), 404, 'no tenant got the other\'s user')
  t.equal(await oneupUserOf(h, key, 'acme', 'dave'), 404)
})

t.test('the callback\'s own query cannot choose the tenant, the user or where the browser goes back', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'erin', return_to: `${RETURN_ORIGIN}/back` })).json().url
  const flow = await walkToCallback(h.app, link, { username: 'erin' })
  const url = new URL(flow.callbackUrl)
  url.searchParams.set('tenant_id', 'evil')
  url.searchParams.set('user_id', 'mallory')
  url.searchParams.set('return_to', 'https://evil.example.com/')
  const res = await h.app.inject({ method: 'GET', url: url.pathname + url.search, cookies: flow.cookies })
  t.equal(res.headers.location, `${RETURN_ORIGIN}/back?status=connected`)
  t.equal(await oneupUserOf(h, key, 'acme', 'erin'), 'erin')
  t.equal(await oneupUserOf(h, key, 'evil', 'mallory'), 404)
})

t.test('an expired connect link gets the 404 page; an expired flow gets the 400 page and exchanges nothing', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const keys = redisKeys(h.prefix)
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  // Redis' TTL is what expires them: make it run out now.
  const expire = async (name: string) => {
    t.equal(await redis.pexpire(name, 1), 1, 'the key existed')
    while ((await redis.exists(name)) === 1) await new Promise((resolve) => setTimeout(resolve, 5))
  }

  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'frank' })).json()
  await expire(keys.connectSession(sha256hex(session.token)))
  const gone = await h.app.inject({ method: 'GET', url: new URL(session.url).pathname })
  t.equal(gone.statusCode, 404)
  t.match(gone.body, /This link has expired/)

  const live = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'frank' })).json()
  const flow = await walkToCallback(h.app, live.url)
  await expire(keys.flow(sha256hex(flow.callbackUrl.searchParams.get('state') ?? '')))
  const late = await h.app.inject({ method: 'GET', url: callbackOf(flow), cookies: flow.cookies })
  t.equal(late.statusCode, 400)
  t.match(late.body, /expired or was already used/)
  t.equal((await h.sandbox.counters()).code_exchanges, 0)
  t.equal(await oneupUserOf(h, key, 'acme', 'frank'), 404)
})

t.test('a sealed record copied under another user or tenant never hands out the first user\'s token', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  t.equal((await h.connect(key, 'acme', 'alice')).callback.statusCode, 200)
  const keys = redisKeys(h.prefix)
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const record = await redis.hgetall(keys.connection('acme', 'alice'))
  t.ok(record.sealed, 'the record holds a sealed token set')
  for (const [tenantId, userId] of [['acme', 'mallory'], ['evil', 'alice']] as const) {
    await redis.hset(keys.connection(tenantId, userId), record)
    const res = await h.asApp(key, 'POST', '/v1/token', { tenant_id: tenantId, user_id: userId })
    t.equal(res.statusCode, 500, `${tenantId}/${userId}: no token`)
    t.equal(res.json().error.code, '11', 'the record cannot be opened here')
    t.notMatch(res.body, /access_token|ory_/, 'nothing of the token set in the answer')
  }
  t.equal(await oneupUserOf(h, key, 'acme', 'alice'), 'alice', 'the original still works')
})

t.test('a code OneUp issued to another client is refused, and nothing is stored', async (t) => {
  const h = await startHarness(t, {
    sandbox: {
      clients: [
        { id: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [`${PUBLIC_URL}/oauth/callback`] },
        { id: 'other-client', secrets: ['other-secret'], redirectUris: ['https://other.example.com/callback'] },
      ],
    },
  })
  const { key } = await h.createApp()
  // The attacker runs a flow of another OneUp client (its own app) and keeps the code...
  const authorize = new URL(`${h.sandbox.base}/oauth2/auth`)
  for (const [name, value] of Object.entries({ response_type: 'code', client_id: 'other-client', redirect_uri: 'https://other.example.com/callback', scope: 'offline_access', state: 'attacker-state-0000000000' })) {
    authorize.searchParams.set(name, value)
  }
  const stolen = (await throughOneUp(authorize.href, { username: 'mallory' })).searchParams.get('code') ?? ''
  t.ok(stolen.length > 0, 'the other client got a code')
  // ...and injects it into a victim's flow, with the victim's own state and cookie.
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'victim' })).json().url
  const victim = await walkToCallback(h.app, link)
  const injected = new URLSearchParams({ code: stolen, state: victim.callbackUrl.searchParams.get('state') ?? '' })
  const res = await h.app.inject({ method: 'GET', url: `/oauth/callback?${injected}`, cookies: victim.cookies })
  t.equal(res.statusCode, 400)
  t.match(res.body, /took too long or was already used/, 'OneUp answers invalid_grant')
  t.equal(await oneupUserOf(h, key, 'acme', 'victim'), 404)
})

t.test('an error id from the callback that is not a plain OAuth word is not repeated to the app', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  for (const error of ['<script>alert(1)</script>', 'access_denied&status=connected', 'x'.repeat(100)]) {
    const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'ivy', return_to: `${RETURN_ORIGIN}/back` })).json().url
    const flow = await walkToCallback(h.app, link)
    const query = new URLSearchParams({ error, state: flow.callbackUrl.searchParams.get('state') ?? '' })
    const res = await h.app.inject({ method: 'GET', url: `/oauth/callback?${query}`, cookies: flow.cookies })
    t.equal(res.headers.location, `${RETURN_ORIGIN}/back?status=error&error=oneup_error`, JSON.stringify(error))
  }
})

t.test('HEAD neither starts nor finishes a flow; mangled links get the 404 page; a big cookie jar does not lock a browser out', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const link = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'grace' })).json().url as string

  const headStart = await h.app.inject({ method: 'HEAD', url: new URL(link).pathname })
  t.equal(headStart.statusCode, 404, 'HEAD on a connect link is no route')
  t.equal(headStart.headers['set-cookie'], undefined, 'and starts no flow')

  // A parent domain's cookies (analytics, SSO) can add kilobytes to every request.
  const jar = { _ga0: 'x'.repeat(3000), _ga1: 'x'.repeat(3000), _ga2: 'x'.repeat(3000), _sso: 'y'.repeat(3000) }
  const flow = await walkToCallback(h.app, link, { username: 'grace' }, jar)
  const headFinish = await h.app.inject({ method: 'HEAD', url: callbackOf(flow), cookies: flow.cookies })
  t.equal(headFinish.statusCode, 404, 'HEAD on the callback is no route')
  t.equal((await h.sandbox.counters()).code_exchanges, 0, 'and exchanges nothing')
  const finish = await h.app.inject({ method: 'GET', url: callbackOf(flow), cookies: flow.cookies })
  t.equal(finish.statusCode, 200, 'the GET still finishes the flow, with 12 KB of other cookies')
  t.equal(await oneupUserOf(h, key, 'acme', 'grace'), 'grace')

  for (const path of [`/connect/${'a'.repeat(300)}`, `/connect/${'a'.repeat(2000)}`, '/connect/cs_%E0%A4%A', '/connect/%00']) {
    const answer = await h.app.inject({ method: 'GET', url: path })
    t.equal(answer.statusCode, 404, path.slice(0, 40))
    t.match(answer.headers['content-type'], /text\/html/)
    t.match(answer.body, /This link has expired/)
  }
})
