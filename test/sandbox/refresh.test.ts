import t from 'tap'
import {
  bodyOf,
  control,
  me,
  obtainTokens,
  OTHER_CLIENT_ID,
  OTHER_CLIENT_SECRET,
  postToken,
  refresh,
  startSandbox,
  type TokenBody,
} from './helpers.js'

async function counters(sandbox: Parameters<typeof control>[0]): Promise<Record<string, number>> {
  return (await control(sandbox, 'GET', '/counters')).json() as Promise<Record<string, number>>
}

t.test('every refresh rotates the refresh token and answers the seed JSON', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const res = await refresh(sandbox, first.refresh_token)
  t.equal(res.status, 200)
  t.equal(res.headers.get('cache-control'), 'no-store')
  const second = (await res.json()) as TokenBody
  t.same(Object.keys(second), ['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type'])
  t.not(second.refresh_token, first.refresh_token)
  t.not(second.access_token, first.access_token)
  t.equal((await me(sandbox, second.access_token)).status, 200)
  t.match(await counters(sandbox), { code_exchanges: 1, refresh_grants: 1, reuse_detections: 0 })
})

t.test('a refresh ends the earlier access tokens of the chain, as Hydra does', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const second = (await (await refresh(sandbox, first.refresh_token)).json()) as TokenBody
  t.equal((await me(sandbox, first.access_token)).status, 401)
  t.equal((await me(sandbox, second.access_token)).status, 200)
})

t.test('a spent refresh token revokes the whole chain', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const second = (await (await refresh(sandbox, first.refresh_token)).json()) as TokenBody
  const third = (await (await refresh(sandbox, second.refresh_token)).json()) as TokenBody
  t.equal((await me(sandbox, third.access_token)).status, 200)

  const reuse = await refresh(sandbox, first.refresh_token)
  t.equal(reuse.status, 400)
  const body = await bodyOf(reuse)
  t.equal(body.error, 'invalid_grant')
  t.match(body.error_hint, /already been used/)

  const newest = await me(sandbox, third.access_token)
  t.equal(newest.status, 401, 'the newest access token is revoked')
  t.same(await bodyOf(newest), { error: { status: 401, code: '1', message: 'Unauthorized: the provided token is not active' } })
  t.equal((await refresh(sandbox, third.refresh_token)).status, 400, 'the newest refresh token is revoked')
  t.match(await counters(sandbox), { refresh_grants: 2, reuse_detections: 1 })
})

t.test('a reuse revokes only its own chain', async (t) => {
  const sandbox = await startSandbox(t)
  const alice = await obtainTokens(t, sandbox, 'alice')
  const aliceAgain = await obtainTokens(t, sandbox, 'alice')
  await refresh(sandbox, alice.refresh_token)
  await refresh(sandbox, alice.refresh_token)
  t.equal((await me(sandbox, aliceAgain.access_token)).status, 200)
  t.equal((await refresh(sandbox, aliceAgain.refresh_token)).status, 200)
})

t.test('two concurrent refreshes with one token are a reuse', async (t) => {
  const sandbox = await startSandbox(t, { tokenLatencyMs: 100 })
  const first = await obtainTokens(t, sandbox)
  const [a, b] = await Promise.all([refresh(sandbox, first.refresh_token), refresh(sandbox, first.refresh_token)])
  const statuses = [a.status, b.status].sort()
  t.same(statuses, [200, 400])
  const winner = (await (a.status === 200 ? a : b).json()) as TokenBody
  const loser = await bodyOf(a.status === 200 ? b : a)
  t.equal(loser.error, 'invalid_grant')
  t.equal((await me(sandbox, winner.access_token)).status, 401, 'even the winner’s tokens are revoked')
  t.match(await counters(sandbox), { reuse_detections: 1 })
})

t.test('within the grace period a spent refresh token gets a fresh pair and keeps the chain', async (t) => {
  const sandbox = await startSandbox(t, { refreshGraceSeconds: 30 })
  const first = await obtainTokens(t, sandbox)
  const second = (await (await refresh(sandbox, first.refresh_token)).json()) as TokenBody
  sandbox.clock.advance(20)
  const again = await refresh(sandbox, first.refresh_token)
  t.equal(again.status, 200)
  const graced = (await again.json()) as TokenBody
  t.not(graced.refresh_token, second.refresh_token)
  t.equal((await me(sandbox, graced.access_token)).status, 200)
  t.equal((await refresh(sandbox, second.refresh_token)).status, 200, 'the chain is alive')
  t.match(await counters(sandbox), { refresh_grants: 3, reuse_detections: 0, grace_reuses: 1 })
})

t.test('after the grace period a spent refresh token is a reuse', async (t) => {
  const sandbox = await startSandbox(t, { refreshGraceSeconds: 30 })
  const first = await obtainTokens(t, sandbox)
  const second = (await (await refresh(sandbox, first.refresh_token)).json()) as TokenBody
  sandbox.clock.advance(31)
  const late = await refresh(sandbox, first.refresh_token)
  t.equal(late.status, 400)
  t.equal((await bodyOf(late)).error, 'invalid_grant')
  t.equal((await me(sandbox, second.access_token)).status, 401)
  t.match(await counters(sandbox), { reuse_detections: 1 })
})

t.test('with a grace period, concurrent refreshes both succeed', async (t) => {
  const sandbox = await startSandbox(t, { refreshGraceSeconds: 10, tokenLatencyMs: 50 })
  const first = await obtainTokens(t, sandbox)
  const [a, b] = await Promise.all([refresh(sandbox, first.refresh_token), refresh(sandbox, first.refresh_token)])
  t.same([a.status, b.status], [200, 200])
})

t.test('a refresh token is bound to its client', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const res = await postToken(sandbox, {
    grant_type: 'refresh_token',
    client_id: OTHER_CLIENT_ID,
    client_secret: OTHER_CLIENT_SECRET,
    refresh_token: first.refresh_token,
  })
  t.equal(res.status, 400)
  t.equal((await bodyOf(res)).error, 'invalid_grant')
  t.equal((await refresh(sandbox, first.refresh_token)).status, 200, 'and is not spent by the refusal')
})

t.test('a refresh may repeat the offline_access scope', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const res = await postToken(sandbox, {
    grant_type: 'refresh_token',
    client_id: 'client-a',
    client_secret: 'secret-a',
    refresh_token: first.refresh_token,
    scope: 'offline_access',
  })
  t.equal(res.status, 200)
})

t.test('a refresh with an empty scope asks for nothing narrower: the granted scope, as Hydra does; another scope is invalid_scope', async (t) => {
  const sandbox = await startSandbox(t)
  const first = await obtainTokens(t, sandbox)
  const refresh = (refreshToken: string, scope: string) =>
    postToken(sandbox, { grant_type: 'refresh_token', client_id: 'client-a', client_secret: 'secret-a', refresh_token: refreshToken, scope })
  const res = await refresh(first.refresh_token, '')
  t.equal(res.status, 200)
  const body = (await bodyOf(res)) as { scope: string; refresh_token: string }
  t.equal(body.scope, 'offline_access')
  const other = await refresh(body.refresh_token, 'profile')
  t.equal(other.status, 400)
  t.equal(((await bodyOf(other)) as { error: string }).error, 'invalid_scope')
})
