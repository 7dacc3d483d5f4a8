import t from 'tap'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import { ADMIN_KEY, startHarness } from '../helpers/harness.js'
import { scanKeys } from '../../src/store/scan.js'
import { testRedis } from '../helpers/redis.js'

const CONNECT = '/connect/cs_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const body = { tenant_id: 'acme', user_id: 'alice' }

t.test('the browser routes are limited per client IP, counted in Redis so every replica shares the count', async (t) => {
  const h = await startHarness(t, { env: { IP_RATE_LIMIT: '3' } })
  // A second replica: another app on the same Redis and prefix.
  const replica = await buildApp({ config: h.config, logger: pino({ level: 'silent' }) })
  t.teardown(() => replica.close())
  const from = (app: typeof replica, ip: string) => app.inject({ method: 'GET', url: CONNECT, remoteAddress: ip })

  const answers = [await from(h.app, '10.0.0.1'), await from(replica, '10.0.0.1'), await from(h.app, '10.0.0.1')]
  t.same(answers.map((a) => a.statusCode), [404, 404, 404])
  t.same(answers.map((a) => a.headers['x-ratelimit-remaining']), ['2', '1', '0'])
  t.equal(answers[0]?.headers['x-ratelimit-limit'], '3')

  const limited = await from(replica, '10.0.0.1')
  t.equal(limited.statusCode, 429, 'the fourth call, on the other replica, is over the limit')
  const retryAfter = Number(limited.headers['retry-after'])
  t.ok(retryAfter >= 1 && retryAfter <= 900, 'Retry-After is within the 15-minute window')
  t.match(limited.headers['content-type'], /text\/html/, 'a browser gets a page')
  t.match(limited.body, /Too many requests from this address/)
  t.equal((await from(h.app, '10.0.0.2')).statusCode, 404, 'another address has its own bucket')

  const callback = await h.app.inject({ method: 'GET', url: '/oauth/callback?state=x', remoteAddress: '10.0.0.1' })
  t.equal(callback.statusCode, 400, 'each browser route has its own bucket')
})

t.test('X-Forwarded-For is believed from a trusted proxy only, and only up to the first untrusted hop', async (t) => {
  const untrusting = await startHarness(t, { env: { IP_RATE_LIMIT: '2' } })
  const spoof = (ip: string) => untrusting.app.inject({ method: 'GET', url: CONNECT, remoteAddress: '198.51.100.1', headers: { 'x-forwarded-for': ip } })
  t.same([(await spoof('1.1.1.1')).statusCode, (await spoof('2.2.2.2')).statusCode, (await spoof('3.3.3.3')).statusCode], [404, 404, 429], 'without TRUSTED_PROXIES a client cannot pick its address')

  const h = await startHarness(t, { env: { IP_RATE_LIMIT: '2', TRUSTED_PROXIES: '10.0.0.0/8, loopback' } })
  const via = (peer: string, forwarded: string) => h.app.inject({ method: 'GET', url: CONNECT, remoteAddress: peer, headers: { 'x-forwarded-for': forwarded } })
  t.same(
    [(await via('10.1.2.3', '203.0.113.7')).statusCode, (await via('10.9.9.9', '203.0.113.7')).statusCode, (await via('10.1.2.3', '203.0.113.7')).statusCode],
    [404, 404, 429],
    'behind the proxies, the client is counted, whichever proxy it came through',
  )
  t.equal((await via('10.1.2.3', '203.0.113.8')).statusCode, 404, 'another client behind the proxy has its own bucket')
  // The client wrote a fake hop first; the proxy appended the address it saw.
  t.equal((await via('10.1.2.3', '1.1.1.1, 203.0.113.7')).statusCode, 429, 'a forged first hop does not change who is counted')
  const direct = (forwarded: string) => h.app.inject({ method: 'GET', url: CONNECT, remoteAddress: '198.51.100.9', headers: { 'x-forwarded-for': forwarded } })
  t.same([(await direct('4.4.4.4')).statusCode, (await direct('5.5.5.5')).statusCode, (await direct('6.6.6.6')).statusCode], [404, 404, 429], 'an untrusted peer is counted itself')
})

t.test('a proxy that writes ip:port in X-Forwarded-For cannot give each source port its own bucket', async (t) => {
  const h = await startHarness(t, { env: { IP_RATE_LIMIT: '2', AUTH_FAILURE_LIMIT: '2', TRUSTED_PROXIES: '10.0.0.0/8' } })
  const via = (forwarded: string) => h.app.inject({ method: 'GET', url: CONNECT, remoteAddress: '10.1.2.3', headers: { 'x-forwarded-for': forwarded } })
  t.same(
    [(await via('203.0.113.7:50001')).statusCode, (await via('203.0.113.7')).statusCode, (await via('203.0.113.7:50003')).statusCode],
    [404, 404, 429],
    'IPv4 with a port: one client',
  )
  t.same(
    [(await via('[2001:db8::1]:443')).statusCode, (await via('[2001:db8::2]')).statusCode, (await via('2001:db8::3')).statusCode],
    [404, 404, 429],
    'bracketed IPv6, with or without a port: one /64',
  )
  t.same(
    [(await via('not-an-address')).statusCode, (await via('also:not')).statusCode, (await via('garbage')).statusCode],
    [404, 404, 429],
    "what is still no address counts under the proxy's own",
  )
  const guess = (port: number) =>
    h.app.inject({ method: 'POST', url: '/v1/token', remoteAddress: '10.1.2.3', headers: { authorization: 'Bearer wrong', 'x-forwarded-for': `198.51.100.5:${port}` }, payload: body })
  const guesses = []
  for (let port = 40000; port < 40003; port += 1) guesses.push((await guess(port)).statusCode)
  t.same(guesses, [401, 401, 429], 'failed authentications from one client through many ports are counted together')
})

t.test('a burst of wrong app keys from one IP gets 429 even with a right key; a key already verified goes on', async (t) => {
  const h = await startHarness(t, { env: { AUTH_FAILURE_LIMIT: '3' } })
  const verified = await h.createApp()
  const unverified = await h.createApp()
  const call = (key: string, ip: string) =>
    h.app.inject({ method: 'POST', url: '/v1/token', payload: body, remoteAddress: ip, headers: { authorization: `Bearer ${key}` } })
  t.equal((await call(verified.key, '10.0.0.1')).statusCode, 404, 'the app works')

  const wrong = verified.key.slice(0, -1) + (verified.key.endsWith('A') ? 'B' : 'A')
  const failures = [await call(wrong, '10.0.0.1'), await call('garbage', '10.0.0.1'), await call(`${wrong}x`, '10.0.0.1')]
  t.same(failures.map((f) => f.statusCode), [401, 401, 401])
  const limited = await call(wrong, '10.0.0.1')
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().error.code, '4')
  t.ok(Number(limited.headers['retry-after']) >= 1)

  const guessedRight = await call(unverified.key, '10.0.0.1')
  t.equal(guessedRight.statusCode, 429, 'a right guess from a limited address is refused too: guessing stops paying')
  t.equal((await call(verified.key, '10.0.0.1')).statusCode, 404, 'an app this replica verified is not slowed down by its neighbours')
  t.equal((await call(unverified.key, '10.0.0.2')).statusCode, 404, 'another address is not limited')
  t.equal((await h.app.inject({ method: 'POST', url: '/v1/token', payload: body, remoteAddress: '10.0.0.3' })).statusCode, 401, 'a missing key is a failure too')
})

t.test('a burst of wrong admin keys from one IP gets 429, then even the right admin key from there', async (t) => {
  const h = await startHarness(t, { env: { AUTH_FAILURE_LIMIT: '2' } })
  const admin = (key: string, ip: string) => h.app.inject({ method: 'GET', url: '/v1/admin/apps', remoteAddress: ip, headers: { authorization: `Bearer ${key}` } })
  t.same([(await admin('wrong', '10.0.0.5')).statusCode, (await admin(`${ADMIN_KEY}x`, '10.0.0.5')).statusCode], [401, 401])
  const limited = await admin('wrong', '10.0.0.5')
  t.equal(limited.statusCode, 429)
  t.equal(limited.json().error.code, '4')
  t.equal((await admin(ADMIN_KEY, '10.0.0.5')).statusCode, 429)
  t.equal((await admin(ADMIN_KEY, '10.0.0.6')).statusCode, 200)
})

t.test('guesses sent all at once are counted before they are judged: past the limit even the right key gets 429', async (t) => {
  const h = await startHarness(t, { env: { AUTH_FAILURE_LIMIT: '2' } })
  const app = await h.createApp()
  const guesses = (right: string, wrong: (i: number) => string, send: (key: string) => Promise<{ statusCode: number }>) =>
    Promise.all(Array.from({ length: 60 }, (_, i) => send(i === 59 ? right : wrong(i))))
  const admin = await guesses(ADMIN_KEY, (i) => `wrong-${i}`, (key) =>
    h.app.inject({ method: 'GET', url: '/v1/admin/apps', remoteAddress: '10.0.0.8', headers: { authorization: `Bearer ${key}` } }),
  )
  t.ok(admin.filter((a) => a.statusCode === 401).length <= 2, 'at most the limit of guesses were judged')
  t.equal(admin[59]?.statusCode, 429, 'the right admin key, last of the burst, was not let through')
  const apps = await guesses(app.key, (i) => `${app.key.slice(0, -4)}${String(i).padStart(4, 'x')}`, (key) =>
    h.app.inject({ method: 'POST', url: '/v1/token', payload: body, remoteAddress: '10.0.0.9', headers: { authorization: `Bearer ${key}` } }),
  )
  t.equal(apps[59]?.statusCode, 429, 'nor the right app key')
  // Successes give their count back: a working client never runs into its own limit.
  for (let i = 0; i < 5; i += 1) {
    t.equal((await h.app.inject({ method: 'GET', url: '/v1/admin/apps', remoteAddress: '10.0.0.10', headers: { authorization: `Bearer ${ADMIN_KEY}` } })).statusCode, 200)
  }
})

t.test('per-IP counters live under the key prefix, hash-tagged per address, an IPv6 /64 counted as one', async (t) => {
  const h = await startHarness(t, { env: { IP_RATE_LIMIT: '2' } })
  await h.app.inject({ method: 'GET', url: CONNECT, remoteAddress: '10.0.0.7' })
  await h.app.inject({ method: 'POST', url: '/v1/token', payload: body, remoteAddress: '10.0.0.7' })
  const v6 = (ip: string) => h.app.inject({ method: 'GET', url: CONNECT, remoteAddress: ip })
  t.same([(await v6('2001:db8:1:2::1')).statusCode, (await v6('2001:db8:1:2::ffff')).statusCode, (await v6('2001:db8:1:2:aaaa::9')).statusCode], [404, 404, 429])
  t.equal((await v6('2001:db8:1:3::1')).statusCode, 404, 'the next /64 is another client')

  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  // SCAN, on every master of a cluster; a key may come twice.
  const found = new Set<string>()
  for await (const batch of scanKeys(redis, `${h.prefix}ip:*`)) for (const key of batch) found.add(key)
  const keys = [...found].sort()
  t.same(keys, [
    `${h.prefix}ip:GET/connect/:token-{ip:10.0.0.7}`,
    `${h.prefix}ip:GET/connect/:token-{ip:2001:db8:1:2::}`,
    `${h.prefix}ip:GET/connect/:token-{ip:2001:db8:1:3::}`,
    `${h.prefix}ip:auth:{ip:10.0.0.7}`,
  ])
  const ttl = await redis.pttl(`${h.prefix}ip:auth:{ip:10.0.0.7}`)
  t.ok(ttl > 0 && ttl <= 15 * 60 * 1000, 'each counter expires with its window')
})
