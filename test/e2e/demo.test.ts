import t, { type Test } from 'tap'
import { DEMO, demoAppKey } from '../../src/demo/demo-app.js'
import { PUBLIC_URL, startHarness, throughOneUp, type Harness } from '../helpers/harness.js'

const FORM = { 'content-type': 'application/x-www-form-urlencoded' }
const sandboxOn = (t: Test, clock?: { ms: number }) =>
  startHarness(t, { env: { ONEUP_SANDBOX: 'true' }, ...(clock === undefined ? {} : { app: { now: () => clock.ms } }) })

const post = (h: Harness, url: string, headers: Record<string, string> = {}) =>
  h.app.inject({ method: 'POST', url, headers: { ...FORM, 'sec-fetch-site': 'same-origin', origin: 'null', ...headers }, payload: '' })

/** Walks the demo's Connect button through OneUp's pages; returns where the broker sends the browser back. */
async function connectDemo(h: Harness, options: { deny?: boolean } = {}): Promise<string> {
  const connect = await post(h, '/demo/connect')
  if (connect.statusCode !== 303) throw new Error(`demo/connect: ${connect.statusCode} ${connect.body}`)
  const start = await h.app.inject({ method: 'GET', url: new URL(String(connect.headers.location)).pathname })
  const cookies = Object.fromEntries(start.cookies.map((cookie) => [cookie.name, cookie.value]))
  const callbackUrl = await throughOneUp(String(start.headers.location), options)
  const callback = await h.app.inject({ method: 'GET', url: callbackUrl.pathname + callbackUrl.search, cookies })
  return String(callback.headers.location)
}

t.test('the demo exists only in sandbox mode', async (t) => {
  const h = await startHarness(t)
  t.equal((await h.app.inject('/demo')).statusCode, 404)
})

t.test('the demo connects its user through the broker, fetches a token, calls /v1/me and disconnects, never showing a secret', async (t) => {
  const h = await sandboxOn(t)
  const deleted: unknown[] = []
  h.app.broker.events.on('connection.deleted', (ref) => void deleted.push(ref))

  const first = await h.app.inject('/demo')
  t.equal(first.statusCode, 200)
  t.match(first.headers['content-security-policy'], /default-src 'none'/)
  t.match(first.body, '<p class="state none">Not connected</p>')

  const back = await connectDemo(h)
  t.equal(back, `${PUBLIC_URL}/demo?status=connected`, 'the broker sends the user back to the demo')
  const connected = await h.app.inject(new URL(back).pathname + new URL(back).search)
  t.match(connected.body, 'OneUp is connected.')
  t.match(connected.body, '<p class="state active">Connected</p>')

  const called = await post(h, '/demo/token')
  t.equal(called.statusCode, 200)
  t.match(called.body, 'OneUp answered with your profile:')
  t.match(called.body, 'alice@sandbox.example')
  t.notMatch(called.body, /ory_(at|rt)_|obk_app_/, 'no token and no app key in the page')

  const gone = await post(h, '/demo/disconnect')
  t.equal(gone.statusCode, 303)
  t.equal(gone.headers.location, '/demo?status=disconnected')
  t.equal(await h.app.broker.connections.read(DEMO.tenantId, DEMO.userId), undefined, 'the tokens are gone from Redis')
  t.match(deleted, [{ tenantId: DEMO.tenantId, userId: DEMO.userId }], 'and the deletion is a domain event like any other')
  t.match((await h.app.inject('/demo?status=disconnected')).body, 'Disconnected: the broker deleted the tokens.')
})

t.test('before connecting, or after OneUp refused the refresh token, Fetch a token says what to do', async (t) => {
  const clock = { ms: Date.now() }
  const h = await sandboxOn(t, clock)
  const early = await post(h, '/demo/token')
  t.equal(early.statusCode, 200)
  t.match(early.body, 'No connection yet: press Connect OneUp first.')
  t.match(early.body, '&quot;code&quot;: &quot;2&quot;', 'with the broker\'s answer, as a developer would see it')

  await connectDemo(h)
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  clock.ms += 3600 * 1000
  const refused = await post(h, '/demo/token')
  t.match(refused.body, 'OneUp refused the stored refresh token: connect OneUp again.')
  t.match(refused.body, '<p class="state reauth">OneUp needs you to connect again</p>')
})

t.test('a denied or failed connection comes back to the demo in plain words, escaped', async (t) => {
  const h = await sandboxOn(t)
  t.equal(await connectDemo(h, { deny: true }), `${PUBLIC_URL}/demo?status=error&error=access_denied`)
  t.match((await h.app.inject('/demo?status=error&error=access_denied')).body, 'You chose not to allow access, so nothing was connected.')
  t.match((await h.app.inject('/demo?status=error&error=oneup_unavailable')).body, 'OneUp could not be reached.')
  const odd = await h.app.inject('/demo?status=error&error=%3Cscript%3E')
  t.equal(odd.statusCode, 200)
  t.notMatch(odd.body, '<script>')
  t.match(odd.body, 'OneUp refused the connection (oneup_error).')
  const oversized = await h.app.inject(`/demo?error=${'x'.repeat(100)}`)
  t.equal(oversized.statusCode, 422, 'an oversized parameter is refused')
  t.match(oversized.headers['content-type'], /text\/html/, 'as a page')
})

t.test('a form posted from another site is refused, and changes nothing', async (t) => {
  const h = await sandboxOn(t)
  await connectDemo(h)
  for (const headers of [{ 'sec-fetch-site': 'cross-site' }, { 'sec-fetch-site': 'same-site' }, { origin: 'https://evil.example' }]) {
    const res = await h.app.inject({ method: 'POST', url: '/demo/disconnect', headers: { ...FORM, ...headers }, payload: '' })
    t.equal(res.statusCode, 403, JSON.stringify(headers))
    t.match(res.headers['content-type'], /text\/html/)
  }
  t.not(await h.app.broker.connections.read(DEMO.tenantId, DEMO.userId), undefined, 'still connected')
  const plain = await h.app.inject({ method: 'POST', url: '/demo/disconnect', headers: { ...FORM, origin: PUBLIC_URL }, payload: '' })
  t.equal(plain.statusCode, 303, 'its own origin is fine')
})

t.test('the demo app is made once and found again after a restart, with a fresh key each time and never more than two', async (t) => {
  const h = await sandboxOn(t)
  await post(h, '/demo/token') // the app made at start-up, done
  const origin = new URL(PUBLIC_URL).origin
  const keys = [await demoAppKey(h.app.broker.appService, origin), await demoAppKey(h.app.broker.appService, origin), await demoAppKey(h.app.broker.appService, origin)]
  t.equal(new Set(keys).size, 3, 'a fresh key each time')
  const demoApps = (await h.app.broker.appService.list()).filter((app) => app.name === DEMO.appName)
  t.equal(demoApps.length, 1, 'one demo app')
  t.same(demoApps[0]?.tenants, [DEMO.tenantId], 'it may serve the demo tenant only')
  t.ok((demoApps[0]?.keys.length ?? 0) <= 2, 'at most two keys')
  const works = async (key: string) => (await h.asApp(key, 'POST', '/v1/token', { tenant_id: DEMO.tenantId, user_id: DEMO.userId })).statusCode
  t.equal(await works(keys[2] as string), 404, 'the newest key works (no connection yet)')
  t.equal(await works(keys[0] as string), 401, 'the oldest was revoked to make room')
})

t.test('two processes starting at once on one Redis both get a working demo key', async (t) => {
  const h = await sandboxOn(t)
  await post(h, '/demo/token') // the app made at start-up, done
  const origin = new URL(PUBLIC_URL).origin
  await demoAppKey(h.app.broker.appService, origin) // now it holds two keys: no free slot
  const both = await Promise.all([demoAppKey(h.app.broker.appService, origin), demoAppKey(h.app.broker.appService, origin)])
  for (const key of both) {
    t.equal((await h.asApp(key, 'POST', '/v1/token', { tenant_id: DEMO.tenantId, user_id: DEMO.userId })).statusCode, 404, 'works (no connection yet)')
  }
})

t.test('the demo takes its key at first use (a start that fails takes none), and a fresh one once its key was revoked', async (t) => {
  const h = await sandboxOn(t)
  const demoKeys = async () => (await h.app.broker.appService.list()).find((app) => app.name === DEMO.appName)?.keys ?? []
  t.same(await demoKeys(), [], 'no key before the demo is used')
  t.match((await post(h, '/demo/token')).body, /Connect OneUp first|not connected/i)
  const [first] = await demoKeys()
  t.ok(first, 'its key, taken at first use')
  // Another process on this Redis (or ops) revoked it.
  const demoApp = (await h.app.broker.appService.list()).find((app) => app.name === DEMO.appName)
  await h.app.broker.appService.revokeKey(demoApp?.id ?? '', first?.key_id ?? '')
  const again = await post(h, '/demo/token')
  t.notMatch(again.body, /401/, 'no 401 shown')
  t.match(again.body, /Connect OneUp first|not connected/i, 'the same answer as before')
  t.equal((await demoKeys()).length, 1, 'a fresh key')
})
