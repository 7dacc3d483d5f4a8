import formbody from '@fastify/formbody'
import Fastify from 'fastify'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { resolveSandboxOptions } from '../../src/sandbox/options.js'
import { sandboxPlugin } from '../../src/sandbox/plugin.js'
import { buildSandboxServer } from '../../src/sandbox/server.js'
import { bodyOf } from './helpers.js'

const CLIENT = { id: 'c', secrets: ['s'], redirectUris: ['http://localhost/cb'] }

t.test('the plugin stays encapsulated inside a host app that routes with ignoreTrailingSlash', async (t) => {
  const host = Fastify({ routerOptions: { ignoreTrailingSlash: true } })
  await host.register(formbody)
  host.setErrorHandler(async (_error, _request, reply) => reply.code(418).send({ host: true }))
  host.post('/echo', async (request) => ({ body: request.body }))
  await host.register(sandboxPlugin, { prefix: '/sandbox', clients: [CLIENT] })
  await host.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => host.close())
  const base = `http://127.0.0.1:${(host.server.address() as AddressInfo).port}`

  const echo = await fetch(`${base}/echo`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"a":1}',
  })
  t.same(await bodyOf(echo), { body: { a: 1 } }, 'the host still parses JSON')
  const broken = await fetch(`${base}/echo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })
  t.equal(broken.status, 418, 'the host keeps its own error handler')

  for (const path of ['/sandbox/oauth2/token', '/sandbox/oauth2/token/']) {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=refresh_token&client_id=c&client_secret=s&refresh_token=x',
    })
    t.equal(res.status, 400, path)
    t.equal((await bodyOf(res)).error, 'invalid_grant', path)
  }
})

t.test('two registrations are two independent OneUps', async (t) => {
  const host = Fastify()
  await host.register(sandboxPlugin, { prefix: '/one', clients: [CLIENT] })
  await host.register(sandboxPlugin, { prefix: '/two', clients: [CLIENT], accessTokenTtl: 60 })
  const one = await host.inject({ method: 'GET', url: '/one/_control/settings' })
  const two = await host.inject({ method: 'GET', url: '/two/_control/settings' })
  t.equal(one.json().access_token_ttl, 3600)
  t.equal(two.json().access_token_ttl, 60)
  const page = await host.inject({
    method: 'GET',
    url: '/two/oauth2/auth?response_type=code&client_id=c&redirect_uri=http%3A%2F%2Flocalhost%2Fcb&scope=offline_access&state=12345678',
  })
  t.match(page.body, /action="\/two\/oauth2\/auth\/login"/, 'the forms use the prefix they are mounted at')
  await host.close()
})

t.test('bad options fail at registration with a TypeError naming every problem', async (t) => {
  t.throws(() => resolveSandboxOptions({ clients: [] }), TypeError)
  t.throws(
    () =>
      resolveSandboxOptions({
        clients: [
          { id: '', secrets: [], redirectUris: ['not a url'] },
          { id: 'x', secrets: ['s'], redirectUris: ['http://a/cb'] },
          { id: 'x', secrets: ['s'], redirectUris: ['http://a/cb'] },
        ],
        accessTokenTtl: 0,
        codeTtl: 1.5,
        refreshGraceSeconds: -1,
        tokenLatencyMs: Number.NaN,
        rateLimit: 0,
        now: 'soon' as unknown as () => number,
      }),
    {
      name: 'TypeError',
      message: /clients\[0\]\.id.*clients\[0\]\.secrets.*clients\[0\]\.redirectUris.*clients\[2\]\.id repeats x.*accessTokenTtl.*codeTtl.*refreshGraceSeconds.*tokenLatencyMs.*rateLimit.*now/,
    },
  )
  t.throws(() => resolveSandboxOptions({ clients: undefined as never }), /at least one client/)
  const app = buildSandboxServer({ clients: [] })
  await t.rejects(async () => {
    await app.ready()
  }, TypeError)
})

t.test('defaults follow the seed', async (t) => {
  const resolved = resolveSandboxOptions({ clients: [CLIENT] })
  t.same(resolved.settings, { accessTokenTtl: 3600, codeTtl: 600, refreshGraceSeconds: 0, tokenLatencyMs: 0, rateLimit: 3600 })
  t.equal(resolved.now, Date.now)
})

t.test('buildSandboxServer accepts a logger', async (t) => {
  const app = buildSandboxServer({ clients: [CLIENT], logger: true })
  await app.ready()
  t.ok(app.log, 'a logger is attached')
  await app.close()
})
