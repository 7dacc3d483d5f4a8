import t from 'tap'
import { authorizeQuery, REDIRECT_URI, startSandbox } from './helpers.js'

const CHALLENGE_S256 = 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'

t.test('an untrusted client or redirect_uri gets an HTML error page and no redirect', async (t) => {
  const sandbox = await startSandbox(t)
  const cases: Array<[string, Record<string, string | undefined>]> = [
    ['missing client_id', { client_id: undefined }],
    ['unknown client_id', { client_id: 'nobody' }],
    ['missing redirect_uri', { redirect_uri: undefined }],
    ['unregistered redirect_uri', { redirect_uri: 'https://evil.example/cb' }],
    ['another client’s redirect_uri', { redirect_uri: 'https://app.example/cb?tenant=t1' }],
    ['a redirect_uri that differs by a trailing slash', { redirect_uri: `${REDIRECT_URI}/` }],
  ]
  for (const [name, overrides] of cases) {
    const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery(overrides)}`), { redirect: 'manual' })
    t.equal(res.status, 400, `${name}: 400`)
    t.equal(res.headers.get('location'), null, `${name}: no redirect`)
    t.match(res.headers.get('content-type'), /^text\/html/, `${name}: a page`)
    t.match(await res.text(), /OneUp sandbox/, `${name}: with the sandbox banner`)
  }
})

t.test('other bad authorization requests redirect with error, description, hint and state', async (t) => {
  const sandbox = await startSandbox(t)
  const cases: Array<[string, Record<string, string | undefined>, string]> = [
    ['response_type token', { response_type: 'token' }, 'unsupported_response_type'],
    ['no response_type', { response_type: undefined }, 'unsupported_response_type'],
    ['another scope', { scope: 'openid' }, 'invalid_scope'],
    ['two scopes', { scope: 'offline_access openid' }, 'invalid_scope'],
    ['no scope', { scope: undefined }, 'invalid_scope'],
    ['a short state', { state: 'short' }, 'invalid_state'],
    ['an unknown method', { code_challenge: CHALLENGE_S256, code_challenge_method: 'S512' }, 'invalid_request'],
    ['a method without a challenge', { code_challenge_method: 'S256' }, 'invalid_request'],
    ['a challenge too short', { code_challenge: 'abc', code_challenge_method: 'S256' }, 'invalid_request'],
    ['a challenge with bad characters', { code_challenge: `${'a'.repeat(42)}+`, code_challenge_method: 'plain' }, 'invalid_request'],
    ['a challenge too long', { code_challenge: 'a'.repeat(129) }, 'invalid_request'],
  ]
  for (const [name, overrides, error] of cases) {
    const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery(overrides)}`), { redirect: 'manual' })
    t.equal(res.status, 303, `${name}: redirects`)
    const location = new URL(res.headers.get('location') ?? '')
    t.equal(`${location.origin}${location.pathname}`, REDIRECT_URI, `${name}: to the redirect_uri`)
    t.equal(location.searchParams.get('error'), error, `${name}: ${error}`)
    t.ok(location.searchParams.get('error_description'), `${name}: a description`)
    t.ok(location.searchParams.get('error_hint'), `${name}: a hint`)
    t.equal(location.searchParams.get('state'), overrides.state ?? 'state-0123456789', `${name}: the state`)
  }
})

t.test("a missing state is Hydra's invalid_state with a hint, and no state comes back", async (t) => {
  const sandbox = await startSandbox(t)
  const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery({ state: undefined })}`), { redirect: 'manual' })
  const location = new URL(res.headers.get('location') ?? '')
  t.equal(location.searchParams.get('error'), 'invalid_state')
  t.match(location.searchParams.get('error_description'), /too weak/)
  t.match(location.searchParams.get('error_hint'), /state.*at least be 8 characters/)
  t.equal(location.searchParams.has('state'), false)
})

t.test('an over-long state is invalid_request (a bound of the sandbox), and is not sent back', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery({ state: 's'.repeat(1025) })}`), { redirect: 'manual' })
  const location = new URL(res.headers.get('location') ?? '')
  t.equal(location.searchParams.get('error'), 'invalid_request')
  t.match(location.searchParams.get('error_hint'), /at most 1024/)
  t.equal(location.searchParams.has('state'), false)
  const longest = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery({ state: 's'.repeat(1024) })}`), { redirect: 'manual' })
  t.equal(longest.status, 200, '1024 characters are fine: the login page')
})

t.test('a repeated parameter is refused with an error page', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery()}&client_id=client-a`), { redirect: 'manual' })
  t.equal(res.status, 400)
  t.equal(res.headers.get('location'), null)
})

t.test('the pages send a strict CSP naming the client origin, and no inline script or style', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery()}`))
  t.equal(
    res.headers.get('content-security-policy'),
    "default-src 'none'; style-src 'self'; form-action 'self' http://localhost:3000; frame-ancestors 'none'; base-uri 'none'",
  )
  t.equal(res.headers.get('referrer-policy'), 'no-referrer')
  t.equal(res.headers.get('cache-control'), 'no-store')
  const page = await res.text()
  t.notMatch(page, /<script|style=|<style/i)
  t.match(page, /<meta name="viewport"/)
  t.match(page, /href="\/sandbox\/assets\/sandbox\.css"/)
  t.match(page, /OneUp sandbox/)

  const css = await fetch(sandbox.url('/assets/sandbox.css'))
  t.equal(css.status, 200)
  t.match(css.headers.get('content-type'), /^text\/css/)
  t.match(await css.text(), /\.banner/)
})

t.test('a custom-scheme redirect_uri puts its scheme in form-action', async (t) => {
  const sandbox = await startSandbox(t, {
    clients: [{ id: 'mobile', secrets: ['s'], redirectUris: ['com.example.app:/oauth/cb'] }],
  })
  const res = await fetch(
    sandbox.url(`/oauth2/auth?${authorizeQuery({ client_id: 'mobile', redirect_uri: 'com.example.app:/oauth/cb' })}`),
  )
  t.equal(res.status, 200)
  t.match(res.headers.get('content-security-policy'), /form-action 'self' com\.example\.app:;/)
})

t.test('every value on the pages is escaped', async (t) => {
  const sandbox = await startSandbox(t, {
    clients: [{ id: '<b>"evil"&', secrets: ['s'], redirectUris: ['https://x.example/cb'] }],
  })
  const res = await fetch(
    sandbox.url(`/oauth2/auth?${authorizeQuery({ client_id: '<b>"evil"&', redirect_uri: 'https://x.example/cb' })}`),
  )
  const page = await res.text()
  t.notMatch(page, /<b>"evil"/)
  t.match(page, /&lt;b&gt;&quot;evil&quot;&amp;/)
})

t.test('a parameter sent twice is invalid_request, sent back to a trusted redirect_uri', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery()}&scope=offline_access`), { redirect: 'manual' })
  t.equal(res.status, 303)
  const location = new URL(res.headers.get('location') ?? '')
  t.equal(`${location.origin}${location.pathname}`, REDIRECT_URI)
  t.equal(location.searchParams.get('error'), 'invalid_request')
  t.match(location.searchParams.get('error_hint'), /scope parameter more than once/)
  t.equal(location.searchParams.get('state'), 'state-0123456789')
  const twoClients = await fetch(sandbox.url(`/oauth2/auth?${authorizeQuery()}&client_id=other`), { redirect: 'manual' })
  t.equal(twoClients.status, 400, 'two client ids: no client to trust, so a page')
  t.equal(twoClients.headers.get('location'), null)
})
