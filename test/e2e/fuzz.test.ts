import fc from 'fast-check'
import t from 'tap'
import { ADMIN_KEY, startHarness } from '../helpers/harness.js'
import { dumpPrefix } from '../helpers/redis.js'

/**
 * Property-based fuzzing of every route the app has (read from the router, so
 * routes added later are fuzzed too): random and malformed methods, paths,
 * query strings, headers and bodies, with and without valid keys. Never a 5xx,
 * never a crash, every error in the seed's shape (or a page on browser routes),
 * no stored data changed (rate counters aside), and the broker answers normally
 * afterwards. Replay a failure with the printed seed:
 * `FUZZ_SEED=<seed> npx tap test/e2e/fuzz.test.ts` (`FUZZ_RUNS` sets the count).
 */

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000)
const SEED = process.env.FUZZ_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.FUZZ_SEED)

interface Route {
  path: string
  methods: string[]
}

/** The routes of `printRoutes({ commonPrefix: false })`: each tree level is 4 columns deeper. */
export function routesOf(tree: string): Route[] {
  const routes: Route[] = []
  const stack: string[] = []
  for (const line of tree.split('\n')) {
    const match = /^(.*?)[├└]── (\S+) \(([A-Z, ]+)\)$/.exec(line)
    if (match === null) continue
    const depth = (match[1] ?? '').length / 4
    stack.length = depth
    const path = `${stack.at(-1) ?? ''}${match[2]}`
    stack.push(path)
    routes.push({ path, methods: (match[3] ?? '').split(', ') })
  }
  return routes
}

const ascii = (maxLength: number) => fc.string({ unit: 'grapheme-ascii', maxLength })
const anyString = (maxLength: number) => fc.string({ unit: 'grapheme', maxLength })

/** Strings a route parameter may receive: junk, near-misses of real shapes, encodings, overlong. */
const param = fc.oneof(
  anyString(40).map(encodeURIComponent),
  fc.webSegment(),
  fc.stringMatching(/^app_[0-9a-f]{16}$/),
  fc.stringMatching(/^key_[0-9a-f]{12}$/),
  fc.stringMatching(/^cs_[A-Za-z0-9_-]{43}$/),
  fc.constantFrom('%', '%zz', '%00', '..', '%2e%2e', '%2F', '%7B%7D', '%E2%80%AE', ';', 'a'.repeat(300), '%C0%AF', '__proto__', 'constructor'),
)

const junkSuffix = fc.oneof(fc.constant(''), fc.constant('/'), param.map((p) => `/${p}`), fc.constantFrom('//', '/./', '/../', '%2F..', '?', '#x'))

/** Values a tenant or user id must refuse: wrong types, forbidden characters, bad lengths. */
const badId = fc.oneof(
  fc.constant(undefined),
  fc.constant(''),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(ascii(5), { maxLength: 3 }),
  fc.dictionary(ascii(5), ascii(5), { maxKeys: 2 }),
  fc.tuple(ascii(20), fc.constantFrom('{', '}', ':', ' ', '/', '\u0000', 'é', '\n', '*', '"'), ascii(20)).map(([a, bad, b]) => `${a}${bad}${b}`),
  fc.integer({ min: 129, max: 400 }).map((n) => 'a'.repeat(n)),
)

const badName = fc.oneof(fc.constant(undefined), fc.constant(''), fc.integer(), fc.constant(null), fc.constant('n'.repeat(101)), fc.array(ascii(3)))
const badTenants = fc.oneof(fc.constant(undefined), fc.constant([]), fc.constant('*'), fc.array(badId.filter((v) => v !== undefined), { minLength: 1, maxLength: 3 }))

/**
 * A JSON body shaped like a real one, with at least one required field
 * made invalid (so no fuzzed request can create anything), other fields random.
 */
const nearlyValidBody = fc.oneof(
  fc.record({
    tenant_id: badId,
    user_id: fc.oneof(fc.constant('alice'), badId),
    return_to: fc.oneof(fc.constant(undefined), anyString(60), fc.webUrl(), fc.constantFrom('javascript:alert(1)', '//evil.example.com', 'https://app.example.com@evil.example.com/')),
    min_ttl: fc.oneof(fc.constant(undefined), fc.integer({ min: -10, max: 5000 }), fc.double(), ascii(4)),
    force_refresh: fc.oneof(fc.constant(undefined), fc.boolean(), ascii(5), fc.integer()),
  }),
  fc.record({ tenant_id: fc.constant('acme'), user_id: badId, min_ttl: fc.jsonValue() }),
  fc.record({
    name: badName,
    tenants: fc.oneof(fc.constant(['*']), badTenants),
    return_origins: fc.oneof(fc.constant(['https://app.example.com']), fc.array(anyString(30), { maxLength: 3 }), fc.jsonValue()),
    rate_limit: fc.oneof(fc.constant(undefined), fc.integer({ min: -5, max: 5 }), ascii(3), fc.double()),
  }).filter((body) => body.name === undefined || typeof body.name !== 'string' || body.name.length === 0 || body.name.length > 100 || !Array.isArray(body.tenants) || body.tenants[0] !== '*'),
).map((body) => JSON.stringify(body))

const body = fc.oneof(
  fc.constant(undefined),
  nearlyValidBody,
  fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
  anyString(200),
  nearlyValidBody.chain((text) => fc.integer({ min: 0, max: Math.max(0, text.length - 1) }).map((cut) => text.slice(0, cut))),
  fc.constantFrom(
    '{"__proto__":{"polluted":1},"tenant_id":"{x}","user_id":"alice"}',
    '{"constructor":{"prototype":{"polluted":1}},"tenant_id":1}',
    '{"tenant_id":"acme","tenant_id":{},"user_id":"alice"}',
    `${'['.repeat(5000)}${']'.repeat(5000)}`,
    `{"tenant_id":"${'x'.repeat(17 * 1024)}","user_id":"alice"}`,
    '\u0000\u0001\u0002',
    'null',
    '',
  ),
)

const authorization = fc.oneof(
  fc.constant(undefined),
  { arbitrary: fc.constant('app'), weight: 3 },
  { arbitrary: fc.constant('admin'), weight: 3 },
  ascii(80),
  ascii(80).map((s) => `Bearer ${s}`),
  fc.constantFrom('Bearer', 'Bearer ', 'Basic YTpi', `Bearer ${'k'.repeat(600)}`, 'Bearer obk_app_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'),
)

const request = fc.record({
  route: fc.nat(),
  // Mostly the route's own method and path, so most requests reach authentication and validation.
  method: fc.oneof({ arbitrary: fc.constant(undefined), weight: 4 }, fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD')),
  params: fc.array(param, { minLength: 3, maxLength: 3 }),
  suffix: fc.oneof({ arbitrary: fc.constant(''), weight: 4 }, junkSuffix),
  query: fc.oneof(
    fc.constant(''),
    fc.webQueryParameters(),
    fc.array(fc.tuple(fc.constantFrom('state', 'code', 'error', 'error_description', 'error_hint', 'x', '__proto__[a]', 'a[b][c]'), anyString(30)), { maxLength: 5 }).map((pairs) =>
      pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&'),
    ),
    fc.constantFrom('%', '%zz', 'state=%E0%A4%A', `state=${'s'.repeat(600)}`, 'code=a&code=b&state=c'),
  ),
  authorization,
  contentType: fc.oneof(
    { arbitrary: fc.constant('application/json'), weight: 4 },
    fc.constant(undefined),
    fc.constantFrom('application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json; charset=latin1'),
    ascii(30),
  ),
  cookie: fc.oneof(fc.constant(undefined), ascii(60), ascii(60).map((v) => `oneup_broker_flow=${encodeURIComponent(v)}`), fc.constant(`x=${'c'.repeat(9000)}`)),
  forwardedFor: fc.oneof(fc.constant(undefined), ascii(40), fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { maxLength: 3 }).map((ips) => ips.join(', '))),
  requestId: fc.oneof(fc.constant(undefined), ascii(200)),
  remoteAddress: fc.oneof(fc.constant('127.0.0.1'), fc.ipV4(), fc.ipV6()),
  body,
})

/**
 * Ops actions whose valid form has no body: with the real admin key they would
 * rightly change state (a re-encryption job, an audit entry), so the fuzz sends
 * them only with wrong keys; their own tests cover the real thing.
 */
const BODILESS_ACTIONS = ['/v1/admin/encryption/reencrypt', '/v1/admin/oneup/check-client']

/** Everything stored under the prefix but the rate counters (which every call may move). */
async function storedData(prefix: string): Promise<Record<string, string>> {
  const dump = await dumpPrefix(prefix)
  return Object.fromEntries(dump.filter((d) => !d.key.includes(':rl:') && !d.key.startsWith(`${prefix}ip:`)).map((d) => [d.key, d.text]))
}

t.test('thousands of random and malformed requests to every route: no 5xx, no crash, the seed\'s error shape, no stored data changed', async (t) => {
  t.comment(`fast-check seed ${SEED}, ${RUNS} runs (replay: FUZZ_SEED=${SEED} npx tap test/e2e/fuzz.test.ts)`)
  const h = await startHarness(t, { env: { IP_RATE_LIMIT: '1000000', AUTH_FAILURE_LIMIT: '1000000', TRUSTED_PROXIES: '127.0.0.1' } })
  const app = await h.createApp({ tenants: ['acme'] })
  t.equal((await h.connect(app.key, 'acme', 'alice')).callback.statusCode, 200)
  await h.app.ready()
  const routes = routesOf(h.app.printRoutes({ commonPrefix: false }))
  t.ok(routes.length >= 9, `the router lists the routes (${routes.map((r) => r.path).join(' ')})`)
  const before = await storedData(h.prefix)

  const statuses = new Map<number, number>()
  await fc.assert(
    fc.asyncProperty(request, async (input) => {
      const route = routes[input.route % routes.length] as Route
      let index = 0
      const path = route.path.replace(/:[A-Za-z_]+/g, () => input.params[index++] ?? 'x') + input.suffix
      const method = input.method ?? route.methods[input.route % route.methods.length] ?? 'GET'
      const headers: Record<string, string> = {}
      const admin = BODILESS_ACTIONS.some((action) => path.startsWith(action)) ? `Bearer ${ADMIN_KEY.slice(1)}x` : `Bearer ${ADMIN_KEY}`
      const bearer = input.authorization === 'app' ? `Bearer ${app.key}` : input.authorization === 'admin' ? admin : input.authorization
      if (bearer !== undefined) headers.authorization = bearer
      if (input.contentType !== undefined && input.body !== undefined) headers['content-type'] = input.contentType
      if (input.cookie !== undefined) headers.cookie = input.cookie
      if (input.forwardedFor !== undefined) headers['x-forwarded-for'] = input.forwardedFor
      if (input.requestId !== undefined) headers['x-request-id'] = input.requestId
      const res = await h.app.inject({
        method: method as 'GET',
        url: input.query === '' ? path : `${path}?${input.query}`,
        headers,
        remoteAddress: input.remoteAddress,
        ...(input.body === undefined ? {} : { payload: input.body }),
      })
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1)
      if (res.statusCode >= 500) throw new Error(`${method} ${path}: ${res.statusCode} ${res.body.slice(0, 300)}`)
      if (res.statusCode >= 400 && method !== 'HEAD') {
        const type = String(res.headers['content-type'] ?? '')
        if (type.startsWith('text/html')) {
          if (!/^<!doctype html>/.test(res.body)) throw new Error(`${method} ${path}: an HTML error that is not a broker page`)
        } else {
          const error = (JSON.parse(res.body) as { error?: { status?: unknown; code?: unknown } }).error
          if (error?.status !== res.statusCode || typeof error.code !== 'string') throw new Error(`${method} ${path}: not the seed's error shape: ${res.body.slice(0, 300)}`)
        }
      }
      for (const secret of [app.key, ADMIN_KEY, input.cookie, input.authorization, input.forwardedFor]) {
        if (secret !== undefined && secret.length >= 16 && res.body.includes(secret)) throw new Error(`${method} ${path}: the answer echoes a header value`)
      }
    }),
    { numRuns: RUNS, seed: SEED },
  )
  t.comment(`answers: ${[...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}×${n}`).join(' ')}`)
  t.ok((statuses.get(422) ?? 0) > 0 && (statuses.get(401) ?? 0) > 0 && (statuses.get(404) ?? 0) > 0, 'the fuzz reached validation, authentication and routing')

  t.same(await storedData(h.prefix), before, 'no stored data changed')
  t.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200, 'the broker still answers')
  const token = await h.asApp(app.key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(token.statusCode, 200, 'and still hands out tokens')
  t.equal(h.logs.filter((line) => line.includes('"level":50')).length, 0, 'and logged no error')
})
