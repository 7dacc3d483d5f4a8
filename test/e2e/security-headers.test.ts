import t, { type Test } from 'tap'
import { REQUEST_TIMEOUT_MS } from '../../src/app.js'
import { relaxedCsp, STRICT_CSP } from '../../src/http/security-headers.js'
import { RETURN_ORIGIN, startHarness } from '../helpers/harness.js'

const STRICT = "default-src 'none';style-src 'self';img-src 'self';form-action 'self';frame-ancestors 'none';base-uri 'none'"

function assertStrict(t: Test, headers: Record<string, unknown>, what: string): void {
  t.equal(headers['content-security-policy'], STRICT, `${what}: the strict CSP, no script of any kind`)
  t.equal(headers['referrer-policy'], 'no-referrer', `${what}: no referrer`)
  t.equal(headers['x-frame-options'], 'DENY', `${what}: never framed`)
  t.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`)
  t.equal(headers['x-powered-by'], undefined, `${what}: no framework banner`)
}

t.test('every kind of answer carries the strict CSP and the usual security headers', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })).json()
  const redirect = await h.app.inject({ method: 'GET', url: new URL(session.url).pathname })
  assertStrict(t, redirect.headers, 'the redirect to OneUp')
  t.equal(redirect.headers['cache-control'], 'no-store')

  const { callback } = await h.connect(key, 'acme', 'alice')
  t.equal(callback.statusCode, 200)
  assertStrict(t, callback.headers, 'the callback page')
  t.equal(callback.headers['cache-control'], 'no-store')
  t.notMatch(callback.body, /<script|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler on the page')
  t.equal(callback.headers['cross-origin-opener-policy'], 'same-origin', 'a page gets the document-only headers too')
  t.equal(callback.headers['x-permitted-cross-domain-policies'], 'none')

  const withReturn = await h.connect(key, 'acme', 'bob', { returnTo: `${RETURN_ORIGIN}/done` })
  assertStrict(t, withReturn.callback.headers, 'the redirect back to the app')

  assertStrict(t, (await h.app.inject({ method: 'GET', url: '/connect/nope' })).headers, 'the 404 page')
  assertStrict(t, (await h.app.inject({ method: 'GET', url: '/oauth/callback' })).headers, 'the 400 page')
  const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  assertStrict(t, token.headers, 'a token answer')
  t.equal(token.headers['cache-control'], 'no-store', 'a token answer is never cached')
  t.equal(token.headers['cross-origin-resource-policy'], 'same-origin', 'no other origin may read it as a resource')
  t.equal(token.headers['cross-origin-opener-policy'], undefined, 'document-only headers stay off JSON')
  assertStrict(t, (await h.asApp('wrong', 'POST', '/v1/token', {})).headers, 'a JSON error')
  assertStrict(t, (await h.app.inject({ method: 'GET', url: '/nowhere' })).headers, 'an unknown route')
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).headers['strict-transport-security'], undefined, 'no HSTS over plain http')
})

t.test('over https the broker asks for HSTS', async (t) => {
  const h = await startHarness(t, { env: { PUBLIC_URL: 'https://broker.example.com' } })
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).headers['strict-transport-security'], 'max-age=31536000; includeSubDomains')
})

t.test('a route can relax the CSP for itself only, every other directive and route staying strict', async (t) => {
  const h = await startHarness(t)
  h.app.get('/docs-like', { config: relaxedCsp({ 'script-src': ["'self'"], 'connect-src': ["'self'"] }) }, async () => 'ui')
  const relaxed = await h.app.inject({ method: 'GET', url: '/docs-like' })
  t.equal(relaxed.headers['content-security-policy'], `${STRICT};script-src 'self';connect-src 'self'`)
  t.equal(relaxed.headers['referrer-policy'], 'no-referrer', 'the other headers keep the global settings')
  t.equal(relaxed.headers['x-frame-options'], 'DENY')
  t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).headers['content-security-policy'], STRICT)
  t.equal(Object.isFrozen(STRICT_CSP), true, 'nobody can loosen the shared policy by mutating it')
})

t.test('a client gets a bounded time to send its whole request (no slow-drip bodies holding sockets)', async (t) => {
  const h = await startHarness(t)
  await h.app.listen({ port: 0, host: '127.0.0.1' })
  t.equal(h.app.server.requestTimeout, REQUEST_TIMEOUT_MS, 'the HTTP server enforces it')
  t.ok(REQUEST_TIMEOUT_MS > 0 && REQUEST_TIMEOUT_MS <= 60_000)
})
