import { Validator } from '@seriousme/openapi-schema-validator'
import t, { type Test } from 'tap'
import { ERRORS } from '../../src/errors.js'
import { isUndocumented, UNDOCUMENTED } from '../../src/http/openapi.js'
import { startHarness } from '../helpers/harness.js'

interface Operation {
  tags?: string[]
  security?: unknown[]
  requestBody?: { content: Record<string, { example?: unknown }> }
  responses: Record<string, { headers?: Record<string, unknown>; content?: Record<string, { example?: unknown; examples?: Record<string, { value: unknown }> }> }>
}
type Document = { openapi: string; paths: Record<string, Record<string, Operation>> }

/** `/connect/:token` → `/connect/{token}`, as OpenAPI writes a pattern. */
const openapiPath = (url: string): string => url.replace(/:(\w+)/g, '{$1}')

// Sandbox mode on: the simulator and the demo are registered too, so the hidden list is exercised.
const start = (t: Test) => startHarness(t, { env: { ONEUP_SANDBOX: 'true' } })

t.test('every route the broker serves is in /openapi.json, except the ones documented as left out', async (t) => {
  const h = await start(t)
  const doc = (await h.app.inject('/openapi.json')).json() as Document
  t.equal(doc.openapi, '3.1.0')
  const served = h.app.servedRoutes.filter((route) => route.method !== 'HEAD')
  t.ok(served.some((route) => route.url.startsWith('/sandbox/')), 'the sandbox is mounted in this app')
  t.ok(served.some((route) => route.url === '/demo'), 'and the demo')
  for (const { method, url } of served) {
    const documented = doc.paths[openapiPath(url)]?.[method.toLowerCase()] !== undefined
    if (isUndocumented(url)) t.notOk(documented, `${method} ${url} is left out on purpose`)
    else t.ok(documented, `${method} ${url} is documented`)
  }
  for (const { prefix, why } of UNDOCUMENTED) t.ok(why.length > 10, `${prefix} says why it is left out`)
})

t.test('the document is valid OpenAPI 3.1', async (t) => {
  const h = await start(t)
  const result = await new Validator().validate((await h.app.inject('/openapi.json')).json())
  t.same(result.errors, undefined)
  t.equal(result.valid, true)
})

t.test('every app and admin route has a request example, a success example, and its error codes with examples', async (t) => {
  const h = await start(t)
  const doc = (await h.app.inject('/openapi.json')).json() as Document
  const codes = new Set<string>()
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      for (const [status, response] of Object.entries(op.responses)) {
        for (const example of Object.values(response.content?.['application/json']?.examples ?? {})) {
          const error = (example.value as { error: { status: number; code: string } }).error
          t.equal(String(error.status), status, `${method} ${path}: code ${error.code} is listed under its status`)
          codes.add(error.code)
        }
      }
      if (!path.startsWith('/v1/')) continue
      t.ok(op.security !== undefined && op.security.length > 0, `${method} ${path} says which key it takes`)
      if (op.requestBody !== undefined) t.not(op.requestBody.content['application/json']?.example, undefined, `${method} ${path} has a body example`)
      const success = Object.entries(op.responses).find(([status]) => status.startsWith('2'))
      t.ok(success, `${method} ${path} documents its success`)
      if (success !== undefined && success[0] !== '204') t.not(success[1].content?.['application/json']?.example, undefined, `${method} ${path} has an answer example`)
      t.ok(op.responses['401'], `${method} ${path} documents the 401`)
      // App keys are counted in their window; every key is under the client IP's failed-authentication limit.
      t.ok(op.responses['429'], `${method} ${path} documents the 429`)
      // Any route can get a badly percent-encoded path or a body that is not JSON or too big.
      t.ok(op.responses['400'] && op.responses['413'], `${method} ${path} documents the 400 and the 413`)
      if (!path.startsWith('/v1/admin/')) {
        const counted = Object.keys(op.responses).filter((status) => status !== '401' && Number(status) < 500)
        t.same(counted.filter((status) => op.responses[status]?.headers?.['X-Ratelimit-Used'] === undefined), [], `${method} ${path}: every counted answer documents the rate headers`)
      }
    }
  }
  for (const path of ['/connect/{token}', '/oauth/callback']) {
    t.ok(doc.paths[path]?.get?.responses['429'] && doc.paths[path]?.get?.responses['503'], `${path}: its per-IP limit and an unavailable Redis are documented`)
  }
  t.same([...codes].sort(), Object.values(ERRORS).map((e) => e.code).sort(), 'every error code of the broker appears somewhere')
})

t.test('/docs is a page without script that lists every documented operation and every error code', async (t) => {
  const h = await start(t)
  const doc = (await h.app.inject('/openapi.json')).json() as Document
  const page = await h.app.inject('/docs')
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
  t.notMatch(String(page.headers['content-security-policy']), /script-src|unsafe/, 'the strict CSP holds')
  t.notMatch(page.body, /<script/i)
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const method of Object.keys(item)) t.match(page.body, `<span class="verb ${method}">${method.toUpperCase()}</span> <code>${path}</code>`)
  }
  for (const { code, status } of Object.values(ERRORS)) t.match(page.body, `<tr><td><code>${code}</code></td><td>${status}</td>`)
  const css = await h.app.inject('/assets/docs.css')
  t.equal(css.statusCode, 200)
  t.match(css.headers['content-type'], /text\/css/)
})
