import t from 'tap'
import { OPS_ROUTE_DOCS } from '../../src/http/openapi-ops.js'
import { startHarness } from '../helpers/harness.js'
import { admin, startReceiver } from '../helpers/ops.js'

/** The keys of an answer, recursively (arrays by their first element): what an example must show. */
function shape(value: unknown): unknown {
  if (Array.isArray(value)) return value.length === 0 ? [] : [shape(value[0])]
  if (value === null || typeof value !== 'object') return 'value'
  // `records` is a map by key id: its keys are data, not fields.
  return Object.fromEntries(Object.keys(value).sort().map((key) => [key, key === 'records' ? 'map' : shape((value as Record<string, unknown>)[key])]))
}

t.test("every ops route's documented examples have the shape of its real request and answer", async (t) => {
  const receiver = await startReceiver(t)
  const h = await startHarness(t)
  const { key, id } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  await h.connect(key, 'acme', 'bob', { username: 'bob' })
  // A finished re-encryption job, so the status shows one.
  await h.app.inject({ method: 'POST', url: '/v1/admin/encryption/reencrypt', headers: admin })
  await h.app.broker.reencryption.idle()
  const hook = (await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/webhooks`, headers: admin, payload: { url: receiver.url } })).json()
  await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${id}/keys/${(await h.app.inject({ method: 'POST', url: `/v1/admin/apps/${id}/keys`, headers: admin })).json().key_id}`, headers: admin })
  const params: Record<string, string> = { tenant_id: 'acme', user_id: 'alice', id, webhook_id: hook.id, secret_id: hook.secret_id }
  const order = (route: string) => (route.startsWith('GET') ? 0 : route.startsWith('POST') ? 1 : 2)

  for (const [route, doc] of Object.entries(OPS_ROUTE_DOCS).sort(([a], [b]) => order(a) - order(b))) {
    const [method = '', pattern = ''] = route.split(' ')
    const url = pattern.replace(/:(\w+)/g, (_, name: string) => params[name] ?? name)
    t.ok(h.app.hasRoute({ method: method as 'GET', url: pattern }), `${route} is a route`)
    t.equal(doc.security === 'admin', pattern.startsWith('/v1/admin/'), `${route}: the right key`)
    t.ok(doc.errors.includes('Unauthorized'), `${route}: documents the 401`)
    if (doc.answer === undefined) {
      t.equal(method, 'DELETE', `${route}: only a 204 goes without an answer example`)
      continue
    }
    const query = route === 'DELETE /v1/connections' ? '?ids=acme:alice,acme:nobody' : route === 'DELETE /v1/admin/connections' ? '?ids=acme:bob,acme:nobody' : ''
    const headers = pattern.startsWith('/v1/admin/') ? admin : { authorization: `Bearer ${key}` }
    const res = await h.app.inject({ method: method as 'GET', url: `${url}${query}`, headers, ...(doc.body === undefined ? {} : { payload: doc.body as object }) })
    t.equal(res.statusCode, doc.answer.status, `${route} answers ${doc.answer.status}`)
    t.same(shape(doc.answer.value), shape(res.json()), `${route}: the example has the real answer's fields`)
  }
})
