import t from 'tap'
import {
  CLIENT_ID,
  CLIENT_SECRET,
  control,
  exchange,
  me,
  obtainCode,
  obtainTokens,
  postToken,
  refresh,
  startSandbox,
  type TokenBody,
} from './helpers.js'

async function json(res: Response): Promise<Record<string, unknown>> {
  return (await res.json()) as Record<string, unknown>
}

t.test('counters count grants and errors, and reset leaves tokens alone', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await refresh(sandbox, tokens.refresh_token)
  await refresh(sandbox, 'ory_rt_nope')
  t.same(await json(await control(sandbox, 'GET', '/counters')), {
    code_exchanges: 1,
    refresh_grants: 1,
    reuse_detections: 0,
    grace_reuses: 0,
    token_requests: 3,
    token_errors: 1,
  })
  const reset = await control(sandbox, 'POST', '/reset')
  t.equal(reset.status, 200)
  t.same(await json(reset), { code_exchanges: 0, refresh_grants: 0, reuse_detections: 0, grace_reuses: 0, token_requests: 0, token_errors: 0 })
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 400, 'the spent token is still known as spent')
  t.match(await json(await control(sandbox, 'GET', '/counters')), { reuse_detections: 1 })
})

t.test('a status fault answers 503 temporarily_unavailable without processing the request', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  const queued = await control(sandbox, 'POST', '/faults', { mode: 'status', count: 2 })
  t.equal(queued.status, 200)
  t.match(await json(queued), { faults: [{ mode: 'status', status: 503, error: 'temporarily_unavailable', remaining: 2 }] })

  for (let call = 0; call < 2; call += 1) {
    const res = await refresh(sandbox, tokens.refresh_token)
    t.equal(res.status, 503)
    t.match(await json(res), { error: 'temporarily_unavailable', error_description: String })
  }
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 200, 'the refresh token was never spent')
  t.match(await json(await control(sandbox, 'GET', '/counters')), { token_errors: 2, refresh_grants: 1 })
})

t.test('a status fault with an OAuth error id answers that error, 400 by default', async (t) => {
  const sandbox = await startSandbox(t)
  await control(sandbox, 'POST', '/faults', { mode: 'status', error: 'invalid_request' })
  await control(sandbox, 'POST', '/faults', { mode: 'status', status: 500 })
  await control(sandbox, 'POST', '/faults', { mode: 'status', error: 'invalid_client' })
  await control(sandbox, 'POST', '/faults', { mode: 'status', status: 429, error: 'slow_down', hint: 'Calm down.' })

  const concurrent = await refresh(sandbox, 'anything')
  t.equal(concurrent.status, 400)
  t.match(await json(concurrent), { error: 'invalid_request', error_hint: /multiple concurrent requests/ })
  const broken = await refresh(sandbox, 'anything')
  t.equal(broken.status, 500)
  t.match(await json(broken), { error: 'temporarily_unavailable' })
  const client = await refresh(sandbox, 'anything')
  t.equal(client.status, 401)
  t.match(await json(client), { error: 'invalid_client' })
  const custom = await refresh(sandbox, 'anything')
  t.equal(custom.status, 429)
  t.match(await json(custom), { error: 'slow_down', error_hint: 'Calm down.', error_description: String })
})

t.test('a hang fault delays the answer, which then arrives', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'hang', ms: 300 })
  const started = Date.now()
  const res = await refresh(sandbox, tokens.refresh_token)
  t.equal(res.status, 200)
  t.ok(Date.now() - started >= 290, 'it waited')
})

t.test('a hang fault that outlasts the client still processes the grant', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'hang', ms: 300 })
  await t.rejects(
    fetch(sandbox.url('/oauth2/token'), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        client_id: CLIENT_ID,
        client_secret: CLIENT_SECRET,
        refresh_token: tokens.refresh_token,
      }),
      signal: AbortSignal.timeout(50),
    }),
    'the client gives up',
  )
  await new Promise((resolve) => setTimeout(resolve, 350))
  t.match(await json(await control(sandbox, 'GET', '/counters')), { refresh_grants: 1 }, 'the grant happened')
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 400, 'the refresh token is spent')
})

t.test('a stall fault whose client gives up processes nothing: the refresh token is not spent', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'stall', ms: 200 })
  const before = (await json(await control(sandbox, 'GET', '/counters'))).token_requests as number
  const client = new AbortController()
  const call = refresh(sandbox, tokens.refresh_token, client.signal)
  while ((await json(await control(sandbox, 'GET', '/counters'))).token_requests === before) await new Promise((r) => setTimeout(r, 10))
  client.abort()
  await t.rejects(call, 'the client gave up')
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.match(await json(await control(sandbox, 'GET', '/counters')), { refresh_grants: 0 }, 'nothing was granted')
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 200, 'the refresh token still works')
})

t.test('a stall fault whose client waits is then processed and answered', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'stall', ms: 100 })
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 200)
  t.match(await json(await control(sandbox, 'GET', '/counters')), { refresh_grants: 1 })
})

t.test('a drop fault runs the grant and destroys the socket', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'drop' })
  await t.rejects(refresh(sandbox, tokens.refresh_token), 'the client sees a socket error')
  t.match(await json(await control(sandbox, 'GET', '/counters')), { refresh_grants: 1, token_errors: 0 })
  const again = await refresh(sandbox, tokens.refresh_token)
  t.equal(again.status, 400, 'the dropped refresh spent the token')
  t.equal((await json(again)).error, 'invalid_grant')
})

t.test('a drop fault on a code exchange spends the code', async (t) => {
  const sandbox = await startSandbox(t)
  const { code, verifier } = await obtainCode(t, sandbox)
  await control(sandbox, 'POST', '/faults', { mode: 'drop', count: 1 })
  await t.rejects(exchange(sandbox, code, verifier))
  t.match(await json(await control(sandbox, 'GET', '/counters')), { code_exchanges: 1 })
  t.equal((await exchange(sandbox, code, verifier)).status, 400)
})

t.test('a drop fault also drops a malformed request', async (t) => {
  const sandbox = await startSandbox(t)
  await control(sandbox, 'POST', '/faults', { mode: 'drop' })
  await t.rejects(fetch(sandbox.url('/oauth2/token'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }))
})

t.test('faults queue in order, list, and clear', async (t) => {
  const sandbox = await startSandbox(t)
  await control(sandbox, 'POST', '/faults', { mode: 'status', status: 502 })
  await control(sandbox, 'POST', '/faults', { mode: 'hang', ms: 10 })
  const listed = await json(await control(sandbox, 'GET', '/faults'))
  t.match(listed, { faults: [{ mode: 'status', status: 502 }, { mode: 'hang', ms: 10 }] })
  t.equal((await refresh(sandbox, 'x')).status, 502)
  t.equal((await control(sandbox, 'DELETE', '/faults')).status, 204)
  t.same(await json(await control(sandbox, 'GET', '/faults')), { faults: [] })
  t.equal((await refresh(sandbox, 'x')).status, 400)
})

t.test('fault requests are validated', async (t) => {
  const sandbox = await startSandbox(t)
  for (const body of [{ mode: 'explode' }, { mode: 'status', count: 0 }, { mode: 'status', status: 200 }, { mode: 'hang', extra: 1 }]) {
    const res = await control(sandbox, 'POST', '/faults', body)
    t.equal(res.status, 400, JSON.stringify(body))
    t.match(await json(res), { error: 'invalid_request', message: String })
  }
  const broken = await fetch(sandbox.url('/_control/faults'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{',
  })
  t.equal(broken.status, 400)
})

t.test('settings change at run time', async (t) => {
  const sandbox = await startSandbox(t)
  t.same(await json(await control(sandbox, 'GET', '/settings')), {
    access_token_ttl: 3600,
    refresh_grace_seconds: 0,
    token_latency_ms: 0,
    rate_limit: 3600,
    code_ttl: 600,
  })
  const changed = await control(sandbox, 'PUT', '/settings', { access_token_ttl: 120, refresh_grace_seconds: 5, token_latency_ms: 150 })
  t.match(await json(changed), { access_token_ttl: 120, refresh_grace_seconds: 5, token_latency_ms: 150 })

  const tokens = await obtainTokens(t, sandbox)
  t.equal(tokens.expires_in, 120)
  const started = Date.now()
  await refresh(sandbox, tokens.refresh_token)
  t.ok(Date.now() - started >= 140, 'the latency applies')
  t.equal((await refresh(sandbox, tokens.refresh_token)).status, 200, 'the grace applies')

  t.equal((await control(sandbox, 'PUT', '/settings', { access_token_ttl: 0 })).status, 400)
  t.equal((await control(sandbox, 'PUT', '/settings', { token_ttl: 5 })).status, 400)
})

t.test('expire makes current access tokens inactive, all or one user’s', async (t) => {
  const sandbox = await startSandbox(t)
  const alice = await obtainTokens(t, sandbox, 'alice')
  const bob = await obtainTokens(t, sandbox, 'bob')
  t.same(await json(await control(sandbox, 'POST', '/expire', { username: 'alice' })), { expired: 1 })
  t.equal((await me(sandbox, alice.access_token)).status, 401)
  t.equal((await me(sandbox, bob.access_token)).status, 200)

  const refreshed = (await (await refresh(sandbox, alice.refresh_token)).json()) as TokenBody
  t.equal((await me(sandbox, refreshed.access_token)).status, 200, 'refreshing recovers')

  t.same(await json(await control(sandbox, 'POST', '/expire')), { expired: 2 })
  t.equal((await me(sandbox, bob.access_token)).status, 401)
  t.equal((await me(sandbox, refreshed.access_token)).status, 401)
})

t.test('revoke ends chains, all or one user’s, without counting a reuse', async (t) => {
  const sandbox = await startSandbox(t)
  const alice = await obtainTokens(t, sandbox, 'alice')
  const bob = await obtainTokens(t, sandbox, 'bob')
  t.same(await json(await control(sandbox, 'POST', '/revoke', { username: 'alice' })), { revoked: 1 })
  const refused = await refresh(sandbox, alice.refresh_token)
  t.equal(refused.status, 400)
  t.equal((await json(refused)).error, 'invalid_grant')
  t.equal((await me(sandbox, alice.access_token)).status, 401)
  t.equal((await me(sandbox, bob.access_token)).status, 200)
  t.match(await json(await control(sandbox, 'GET', '/counters')), { reuse_detections: 0 })

  t.same(await json(await control(sandbox, 'POST', '/revoke', {})), { revoked: 1 })
  t.equal((await refresh(sandbox, bob.refresh_token)).status, 400)
  t.equal((await control(sandbox, 'POST', '/revoke', { username: 'Not Valid' })).status, 400)
})

t.test('replacing a client’s secrets rotates what is accepted', async (t) => {
  const sandbox = await startSandbox(t)
  const tokens = await obtainTokens(t, sandbox)
  const replaced = await control(sandbox, 'PUT', `/clients/${CLIENT_ID}/secrets`, { secrets: ['new-secret', CLIENT_SECRET] })
  t.equal(replaced.status, 204)
  const both = await postToken(sandbox, {
    grant_type: 'refresh_token',
    client_id: CLIENT_ID,
    client_secret: 'new-secret',
    refresh_token: tokens.refresh_token,
  })
  t.equal(both.status, 200, 'the new secret works')
  const next = (await both.json()) as TokenBody

  await control(sandbox, 'PUT', `/clients/${CLIENT_ID}/secrets`, { secrets: ['new-secret'] })
  const old = await refresh(sandbox, next.refresh_token)
  t.equal(old.status, 401)
  t.equal((await json(old)).error, 'invalid_client')
  const viaBasic = await postToken(
    sandbox,
    { grant_type: 'refresh_token', refresh_token: next.refresh_token },
    { basic: [CLIENT_ID, 'new-secret'] },
  )
  t.equal(viaBasic.status, 200, 'the refused call did not spend the refresh token')

  t.equal((await control(sandbox, 'PUT', '/clients/nobody/secrets', { secrets: ['x'] })).status, 404)
  t.equal((await control(sandbox, 'PUT', `/clients/${CLIENT_ID}/secrets`, { secrets: [] })).status, 400)
})

t.test('closing the server does not wait for a hanging token call', async (t) => {
  const sandbox = await startSandbox(t)
  await control(sandbox, 'POST', '/faults', { mode: 'hang', ms: 60_000 })
  const pending = postToken(sandbox, { grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: 'x' })
    .then((res) => res.status)
    .catch(() => 'failed')
  await new Promise((resolve) => setTimeout(resolve, 50))
  const started = Date.now()
  await sandbox.close()
  t.ok(Date.now() - started < 5000, 'closed promptly')
  t.ok(['failed', 400].includes(await pending), 'the hanging call ended')
})
