import t from 'tap'
import {
  authorize,
  authorizeQuery,
  bodyOf,
  CLIENT_ID,
  CLIENT_SECRET,
  exchange,
  me,
  openLogin,
  parseForms,
  pkcePair,
  postToken,
  REDIRECT_URI,
  startSandbox,
  submit,
} from './helpers.js'

t.test('the full code flow with S256 ends with tokens that open /v1/me', async (t) => {
  const sandbox = await startSandbox(t)
  const { verifier, challenge } = pkcePair()
  const back = await authorize(t, sandbox, authorizeQuery({ code_challenge: challenge, code_challenge_method: 'S256' }))
  t.equal(`${back.origin}${back.pathname}`, REDIRECT_URI)
  t.equal(back.searchParams.get('state'), 'state-0123456789')
  t.equal(back.searchParams.get('scope'), 'offline_access', 'the granted scope, as Hydra sends it')
  const code = back.searchParams.get('code') ?? ''
  t.match(code, /^ory_ac_[A-Za-z0-9_-]{43}$/)

  const res = await exchange(sandbox, code, verifier)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  t.equal(res.headers.get('pragma'), 'no-cache')
  const text = await res.text()
  const body = JSON.parse(text)
  t.same(Object.keys(body), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.match(body, { expires_in: 3600, scope: 'offline_access', token_type: 'bearer' })
  t.match(body.access_token, /^ory_at_[A-Za-z0-9_-]{43}$/)
  t.match(body.refresh_token, /^ory_rt_[A-Za-z0-9_-]{43}$/)

  const profile = await me(sandbox, body.access_token)
  t.equal(profile.status, 200)
  t.same(await bodyOf(profile), { id: 1, username: 'alice', name: 'Alice Martin', email: 'alice@sandbox.example' })
})

t.test('a challenge without a method is plain, as the seed says', async (t) => {
  const sandbox = await startSandbox(t)
  const verifier = 'plain-verifier-0123456789-0123456789-0123456789'
  const back = await authorize(t, sandbox, authorizeQuery({ code_challenge: verifier }))
  const code = back.searchParams.get('code') ?? ''
  const wrong = await exchange(sandbox, code, `${verifier}x`)
  t.equal(wrong.status, 400)
  t.equal((await bodyOf(wrong)).error, 'invalid_grant')
  const right = await exchange(sandbox, code, verifier)
  t.equal(right.status, 200)
})

t.test('a flow without PKCE exchanges its code without a verifier', async (t) => {
  const sandbox = await startSandbox(t)
  const back = await authorize(t, sandbox, authorizeQuery(), { username: 'bob' })
  const res = await postToken(sandbox, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    code: back.searchParams.get('code') ?? '',
    redirect_uri: REDIRECT_URI,
  })
  t.equal(res.status, 200)
  const profile = await me(sandbox, (await bodyOf(res)).access_token)
  t.equal((await bodyOf(profile)).username, 'bob')
})

t.test('a typed username signs in as that user', async (t) => {
  const sandbox = await startSandbox(t)
  const back = await authorize(t, sandbox, authorizeQuery(), { username: 'dave.o-k_1' })
  const res = await postToken(sandbox, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    code: back.searchParams.get('code') ?? '',
    redirect_uri: REDIRECT_URI,
  })
  const user = await bodyOf(await me(sandbox, (await bodyOf(res)).access_token))
  t.match(user, { username: 'dave.o-k_1', name: 'dave.o-k_1', email: 'dave.o-k_1@sandbox.example' })
  t.type(user.id, 'number')
})

t.test('a malformed username shows the login page again, and the challenge still works', async (t) => {
  const sandbox = await startSandbox(t)
  const { forms } = await openLogin(t, sandbox, authorizeQuery())
  const typed = forms[forms.length - 1]
  if (!typed) throw new Error('no form')
  const again = await submit(sandbox.base, typed, { username: 'Not Valid!' })
  t.equal(again.status, 400)
  const page = await again.text()
  t.match(page, /role="alert"/)
  t.match(page, /Sign in to OneUp/)
  const retry = await submit(sandbox.base, typed, { username: 'carol' })
  t.equal(retry.status, 200)
  t.match(await retry.text(), /Carol Diaz/)
})

t.test('deny redirects with access_denied and the seed description', async (t) => {
  const sandbox = await startSandbox(t)
  const back = await authorize(t, sandbox, authorizeQuery(), { decision: 'deny' })
  t.match(back.search, /^\?error=access_denied&error_description=the\+resource\+owner\+denied\+the\+request&error_hint=[^&]+&state=state-0123456789$/)
  t.equal(back.searchParams.get('code'), null)
})

t.test('a redirect_uri with its own query keeps it', async (t) => {
  const sandbox = await startSandbox(t)
  const back = await authorize(
    t,
    sandbox,
    authorizeQuery({ client_id: 'client-b', redirect_uri: 'https://app.example/cb?tenant=t1' }),
  )
  t.equal(back.searchParams.get('tenant'), 't1')
  t.ok(back.searchParams.get('code'))
})

t.test('login and consent challenges are single-use', async (t) => {
  const sandbox = await startSandbox(t)
  const { forms } = await openLogin(t, sandbox, authorizeQuery())
  const alice = forms[0]
  if (!alice) throw new Error('no form')
  const consentRes = await submit(sandbox.base, alice)
  const consent = parseForms(await consentRes.text())[0]
  if (!consent) throw new Error('no consent form')

  const replayedLogin = await submit(sandbox.base, alice)
  t.equal(replayedLogin.status, 400)
  t.match(await replayedLogin.text(), /no longer valid/)

  t.equal((await submit(sandbox.base, consent, { decision: 'allow' })).status, 303)
  const replayedConsent = await submit(sandbox.base, consent, { decision: 'allow' })
  t.equal(replayedConsent.status, 400)
  t.equal(replayedConsent.headers.get('location'), null)
})

t.test('a pending authorization expires with the code TTL', async (t) => {
  const sandbox = await startSandbox(t, { codeTtl: 60 })
  const { forms } = await openLogin(t, sandbox, authorizeQuery())
  const alice = forms[0]
  if (!alice) throw new Error('no form')
  sandbox.clock.advance(61)
  const res = await submit(sandbox.base, alice)
  t.equal(res.status, 400)
  t.match(await res.text(), /no longer valid/)
})

t.test('an unknown challenge on the consent form is an error page', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await submit(sandbox.base, {
    action: '/sandbox/oauth2/auth/consent',
    fields: { challenge: 'made-up', decision: 'allow' },
    buttons: [],
  })
  t.equal(res.status, 400)
  t.match(res.headers.get('content-type'), /^text\/html/)
})

t.test('a malformed consent form is an error page, not a crash', async (t) => {
  const sandbox = await startSandbox(t)
  const res = await submit(sandbox.base, {
    action: '/sandbox/oauth2/auth/consent',
    fields: { challenge: 'made-up', decision: 'maybe' },
    buttons: [],
  })
  t.equal(res.status, 400)
  t.match(await res.text(), /Bad request/)
  const json = await fetch(sandbox.url('/oauth2/auth/login'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"challenge":"x","username":"alice"}',
  })
  t.equal(json.status, 400)
  t.match(json.headers.get('content-type'), /^text\/html/)
})
