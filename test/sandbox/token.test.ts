import t from 'tap'
import {
  authorize,
  authorizeQuery,
  bodyOf,
  CLIENT_ID,
  CLIENT_SECRET,
  control,
  exchange,
  me,
  obtainCode,
  OTHER_CLIENT_ID,
  OTHER_CLIENT_SECRET,
  pkcePair,
  postToken,
  REDIRECT_URI,
  startSandbox,
  type TokenBody,
} from './helpers.js'

async function errorOf(res: Response): Promise<{ status: number; error: string; body: Record<string, string> }> {
  const body = (await res.json()) as Record<string, string>
  return { status: res.status, error: body.error ?? '', body }
}

t.test('client_secret_basic authenticates, with id and secret form-urlencoded inside Basic', async (t) => {
  const sandbox = await startSandbox(t, {
    clients: [{ id: 'client a+b', secrets: ['s:e/c r%t'], redirectUris: [REDIRECT_URI] }],
  })
  const back = await authorize(t, sandbox, authorizeQuery({ client_id: 'client a+b' }))
  const res = await postToken(
    sandbox,
    { grant_type: 'authorization_code', code: back.searchParams.get('code') ?? '', redirect_uri: REDIRECT_URI },
    { basic: ['client a+b', 's:e/c r%t'] },
  )
  t.equal(res.status, 200)
})

t.test('the same client_id in the body and in Basic is accepted', async (t) => {
  const sandbox = await startSandbox(t)
  const { code, verifier } = await obtainCode(t, sandbox)
  const res = await postToken(
    sandbox,
    { grant_type: 'authorization_code', client_id: CLIENT_ID, code, code_verifier: verifier, redirect_uri: REDIRECT_URI },
    { basic: [CLIENT_ID, CLIENT_SECRET] },
  )
  t.equal(res.status, 200)
})

t.test('bad client authentication is 401 invalid_client', async (t) => {
  const sandbox = await startSandbox(t)
  const base = { grant_type: 'refresh_token', refresh_token: 'ory_rt_x' }
  const cases: Array<[string, Record<string, string>, [string, string] | undefined, boolean]> = [
    ['a wrong secret in the body', { ...base, client_id: CLIENT_ID, client_secret: 'nope' }, undefined, false],
    ['an unknown client', { ...base, client_id: 'nobody', client_secret: CLIENT_SECRET }, undefined, false],
    ['no secret at all', { ...base, client_id: CLIENT_ID }, undefined, false],
    ['a wrong secret in Basic', base, [CLIENT_ID, 'nope'], true],
    ['Basic and body naming different clients', { ...base, client_id: OTHER_CLIENT_ID }, [CLIENT_ID, CLIENT_SECRET], true],
    ['Basic and body with different secrets', { ...base, client_secret: 'other' }, [CLIENT_ID, CLIENT_SECRET], true],
  ]
  for (const [name, fields, basic, challenged] of cases) {
    const res = await postToken(sandbox, fields, basic ? { basic } : {})
    const { status, error, body } = await errorOf(res)
    t.equal(status, 401, `${name}: 401`)
    t.equal(error, 'invalid_client', `${name}: invalid_client`)
    t.ok(body.error_description && body.error_hint, `${name}: description and hint`)
    t.equal(res.headers.get('www-authenticate')?.startsWith('Basic') ?? false, challenged, `${name}: WWW-Authenticate`)
  }
})

t.test('malformed Basic credentials are invalid_client', async (t) => {
  const sandbox = await startSandbox(t)
  for (const header of ['Basic', 'Basic !!!', `Basic ${Buffer.from('no-colon').toString('base64')}`, `Basic ${Buffer.from('a%zz:b').toString('base64')}`]) {
    const res = await fetch(sandbox.url('/oauth2/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: header },
      body: 'grant_type=refresh_token&refresh_token=x',
    })
    t.equal(res.status, 401, header)
    t.equal((await bodyOf(res)).error, 'invalid_client')
    t.match(res.headers.get('www-authenticate'), /^Basic/)
  }
})

t.test('a second use of a code is invalid_grant and revokes the tokens of the first', async (t) => {
  const sandbox = await startSandbox(t)
  const { code, verifier } = await obtainCode(t, sandbox)
  const first = (await (await exchange(sandbox, code, verifier)).json()) as TokenBody
  t.equal((await me(sandbox, first.access_token)).status, 200)

  const second = await errorOf(await exchange(sandbox, code, verifier))
  t.same([second.status, second.error], [400, 'invalid_grant'])
  t.equal((await me(sandbox, first.access_token)).status, 401, 'the access token is revoked')
  const refreshed = await errorOf(
    await postToken(sandbox, {
      grant_type: 'refresh_token',
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      refresh_token: first.refresh_token,
    }),
  )
  t.equal(refreshed.error, 'invalid_grant', 'the refresh token is revoked')
})

t.test('the code exchange refuses what does not match the authorization', async (t) => {
  const sandbox = await startSandbox(t)
  const { code, verifier } = await obtainCode(t, sandbox)
  const fields = {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
  }
  const cases: Array<[string, Record<string, string>, string]> = [
    ['a wrong verifier', { ...fields, code_verifier: pkcePair().verifier }, 'invalid_grant'],
    ['a malformed verifier', { ...fields, code_verifier: 'short' }, 'invalid_grant'],
    ['no verifier for a challenged code', { ...fields, code_verifier: '' }, 'invalid_grant'],
    ['another redirect_uri', { ...fields, redirect_uri: `${REDIRECT_URI}/` }, 'invalid_grant'],
    ['no redirect_uri', { ...fields, redirect_uri: '' }, 'invalid_request'],
    ['no code', { ...fields, code: '' }, 'invalid_request'],
    ['an unknown code', { ...fields, code: 'ory_ac_nope' }, 'invalid_grant'],
    ['another client', { ...fields, client_id: OTHER_CLIENT_ID, client_secret: OTHER_CLIENT_SECRET }, 'invalid_grant'],
  ]
  for (const [name, body, error] of cases) {
    const form = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== ''))
    const res = await errorOf(await postToken(sandbox, form))
    t.same([res.status, res.error], [400, error], name)
  }
  t.equal((await exchange(sandbox, code, verifier)).status, 200, 'refusals do not spend the code')
})

t.test('a verifier for a code issued without a challenge is invalid_grant', async (t) => {
  const sandbox = await startSandbox(t)
  const back = await authorize(t, sandbox, authorizeQuery())
  const res = await errorOf(await exchange(sandbox, back.searchParams.get('code') ?? '', 'v'.repeat(43)))
  t.same([res.status, res.error], [400, 'invalid_grant'])
})

t.test('a code lives codeTtl seconds', async (t) => {
  const sandbox = await startSandbox(t, { codeTtl: 30 })
  const { code, verifier } = await obtainCode(t, sandbox)
  sandbox.clock.advance(31)
  const res = await errorOf(await exchange(sandbox, code, verifier))
  t.same([res.status, res.error], [400, 'invalid_grant'])
})

t.test('both /oauth2/token and /oauth2/token/ answer', async (t) => {
  const sandbox = await startSandbox(t)
  for (const path of ['/oauth2/token', '/oauth2/token/']) {
    const { code, verifier } = await obtainCode(t, sandbox)
    const res = await postToken(
      sandbox,
      { grant_type: 'authorization_code', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code, code_verifier: verifier, redirect_uri: REDIRECT_URI },
      { path },
    )
    t.equal(res.status, 200, path)
  }
})

t.test('grant types and parameters are checked with OAuth errors', async (t) => {
  const sandbox = await startSandbox(t)
  const auth = { client_id: CLIENT_ID, client_secret: CLIENT_SECRET }
  const cases: Array<[string, Record<string, string>, number, string]> = [
    ['no grant_type', auth, 400, 'invalid_request'],
    ['an unknown grant_type', { ...auth, grant_type: 'password' }, 400, 'unsupported_grant_type'],
    ['client_credentials', { ...auth, grant_type: 'client_credentials' }, 400, 'unsupported_grant_type'],
    ['a refresh without its token', { ...auth, grant_type: 'refresh_token' }, 400, 'invalid_request'],
    ['a refresh with another scope', { ...auth, grant_type: 'refresh_token', refresh_token: 'x', scope: 'openid' }, 400, 'invalid_scope'],
    ['an unknown refresh token', { ...auth, grant_type: 'refresh_token', refresh_token: 'ory_rt_nope' }, 400, 'invalid_grant'],
  ]
  for (const [name, fields, status, error] of cases) {
    const res = await postToken(sandbox, fields)
    const body = await errorOf(res)
    t.same([body.status, body.error], [status, error], name)
    t.same(Object.keys(body.body), ['error', 'error_description', 'error_hint'], `${name}: the seed's fields`)
    t.equal(res.headers.get('cache-control'), 'no-store', `${name}: no-store`)
  }
  const counters = await bodyOf(await control(sandbox, 'GET', '/counters'))
  t.match(counters, { token_requests: cases.length, token_errors: cases.length })
})

t.test('malformed token requests get OAuth errors, never a Fastify body or a 500', async (t) => {
  const sandbox = await startSandbox(t)
  const url = sandbox.url('/oauth2/token')
  const attempts: Array<[string, RequestInit]> = [
    ['JSON', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":"refresh_token"}' }],
    ['broken JSON', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' }],
    ['text', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'grant_type=refresh_token' }],
    ['no body', { method: 'POST' }],
    ['an empty form', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' }],
    ['a repeated parameter', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=refresh_token&grant_type=authorization_code' }],
    ['bad percent-encoding', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=%zz&client_id=%' }],
    ['a huge body', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `x=${'a'.repeat(200_000)}` }],
  ]
  for (const [name, init] of attempts) {
    const res = await fetch(url, init)
    t.equal(res.status < 500, true, `${name}: not a 5xx`)
    const body = await bodyOf(res)
    t.type(body.error, 'string', `${name}: an OAuth error id`)
    t.type(body.error_description, 'string', `${name}: a description`)
    t.notOk('statusCode' in body, `${name}: not Fastify's default body`)
  }
})
