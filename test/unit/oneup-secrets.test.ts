import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { createOneUpClient } from '../../src/oneup/client.js'

const TOKEN_URL = 'https://oauth.oneup.test/oauth2/token'

/** A OneUp token endpoint that accepts one secret at a time, switching after `switchAfter` calls. */
function oneup(accepted: (call: number) => string | undefined, challenge?: string) {
  const secrets: string[] = []
  const fetch = (async (_url: unknown, init?: RequestInit) => {
    const secret = new URLSearchParams(String(init?.body)).get('client_secret') ?? ''
    secrets.push(secret)
    const ok = accepted(secrets.length) === secret
    const body = ok
      ? { access_token: 'ory_at_new', refresh_token: 'ory_rt_new', token_type: 'bearer', expires_in: 3600, scope: 'offline_access' }
      : { error: 'invalid_client', error_description: 'Client authentication failed.' }
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (!ok && challenge !== undefined) headers['www-authenticate'] = challenge
    return new Response(JSON.stringify(body), { status: ok ? 200 : 401, headers })
  }) as typeof globalThis.fetch
  return { fetch, secrets }
}

const config = (previous: string | undefined) =>
  loadConfig({
    ONEUP_CLIENT_ID: 'broker',
    ONEUP_CLIENT_SECRET: 'new',
    ...(previous === undefined ? {} : { ONEUP_CLIENT_SECRET_PREVIOUS: previous }),
    ONEUP_TOKEN_URL: TOKEN_URL,
    TOKEN_ENCRYPTION_KEYS: `k1:${'a'.repeat(43)}`,
    COOKIE_SECRET: 'c'.repeat(32),
  }).config.oneup

t.test('when OneUp switches secrets between the two tries, the current secret is tried once more and the refresh succeeds', async (t) => {
  // Call 1 (new) meets the old secret; call 2 (old) meets the new one: the switch happened in between.
  const server = oneup((call) => (call === 1 ? 'old' : 'new'))
  let previousUsed = 0
  const client = createOneUpClient(config('old'), { fetch: server.fetch, onPreviousSecretUsed: () => void (previousUsed += 1) })
  const tokens = await client.refresh('ory_rt_old')
  t.equal(tokens.accessToken, 'ory_at_new')
  t.same(server.secrets, ['new', 'old', 'new'])
  t.equal(previousUsed, 0, 'the previous secret did not do it: not counted')
})

t.test('the previous secret is counted when it is the one OneUp accepts, and a client refused with both fails as invalid_client', async (t) => {
  const before = oneup(() => 'old')
  let previousUsed = 0
  const client = createOneUpClient(config('old'), { fetch: before.fetch, onPreviousSecretUsed: () => void (previousUsed += 1) })
  t.equal((await client.refresh('r')).accessToken, 'ory_at_new')
  t.same(before.secrets, ['new', 'old'])
  t.equal(previousUsed, 1)

  const neither = oneup(() => 'something else')
  const refused = createOneUpClient(config('old'), { fetch: neither.fetch })
  await t.rejects(refused.refresh('r'), { name: 'OneUpError', oauthError: 'invalid_client' })
  t.same(neither.secrets, ['new', 'old', 'new'], 'three tries at most')

  const alone = oneup(() => 'something else')
  await t.rejects(createOneUpClient(config(undefined), { fetch: alone.fetch }).refresh('r'), { name: 'OneUpError', oauthError: 'invalid_client' })
  t.same(alone.secrets, ['new'], 'without a previous secret, one try')
})

t.test('a refusal that also carries WWW-Authenticate (RFC 6749 §5.2) is still read as invalid_client: the previous secret is tried', async (t) => {
  const server = oneup(() => 'old', 'Basic realm="oneup"')
  const client = createOneUpClient(config('old'), { fetch: server.fetch })
  t.equal((await client.refresh('ory_rt_old')).accessToken, 'ory_at_new')
  t.same(server.secrets, ['new', 'old'])
})

t.test('expires_in 0 is kept (OneUp says the token is expired); a missing one is left for the default', async (t) => {
  const answering = (body: Record<string, unknown>) =>
    (async () => new Response(JSON.stringify({ access_token: 'ory_at_x', token_type: 'bearer', ...body }), { status: 200, headers: { 'content-type': 'application/json' } })) as typeof globalThis.fetch
  t.equal((await createOneUpClient(config(undefined), { fetch: answering({ expires_in: 0 }) }).refresh('rt')).expiresIn, 0)
  t.equal((await createOneUpClient(config(undefined), { fetch: answering({}) }).refresh('rt')).expiresIn, undefined)
  t.equal((await createOneUpClient(config(undefined), { fetch: answering({ expires_in: 90.7 }) }).refresh('rt')).expiresIn, 90)
})

t.test('the tries of a secret rotation share one ONEUP_TIMEOUT_MS: a slow OneUp cannot make one refresh attempt outlast the refresh lock', async (t) => {
  // Each call takes 60% of the timeout and OneUp refuses both secrets at first: three calls
  // in a row would take 180% of it, while the refresh lock is sized for 100% per attempt.
  const timeoutMs = 500
  const secrets: string[] = []
  const slow = (async (_url: unknown, init?: RequestInit) => {
    secrets.push(new URLSearchParams(String(init?.body)).get('client_secret') ?? '')
    const call = secrets.length
    // Like a fetch stuck in a slow body read: it does not look at the signal.
    await new Promise((resolve) => setTimeout(resolve, timeoutMs * 0.6))
    const body = call <= 2 ? { error: 'invalid_client' } : { access_token: 'ory_at_new', refresh_token: 'ory_rt_new', token_type: 'bearer', expires_in: 3600 }
    return new Response(JSON.stringify(body), { status: call <= 2 ? 401 : 200, headers: { 'content-type': 'application/json' } })
  }) as typeof globalThis.fetch
  const client = createOneUpClient({ ...config('old'), timeoutMs }, { fetch: slow })
  await t.rejects(client.refresh('ory_rt_old'), { name: 'OneUpError', kind: 'unavailable', message: /timed out/ })
  t.same(secrets, ['new', 'old'], 'the second try is cut at the deadline and no third is started')
})
