import t from 'tap'
import { ADMIN_KEY } from '../helpers/harness.js'
import { startReceiver } from '../helpers/ops.js'
import { connectThrough as connect, startBrokerProcess } from '../helpers/processes.js'
import { startReplica } from '../helpers/replica.js'

t.test('webhook deliveries survive a broker restart and a crash mid-delivery: every event arrives, with its event id', async (t) => {
  // The receiver is down (503) for the first attempt.
  const receiver = await startReceiver(t, [503])
  const { replica: a, env } = await startBrokerProcess(t, { WEBHOOK_TIMEOUT_MS: '1000' })
  const adminCall = (replica: string, path: string, body: object) =>
    fetch(`${replica}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const app = (await (await adminCall(a.url, '/v1/admin/apps', { name: 'hooks', tenants: ['*'], return_origins: [] })).json()) as { id: string; key: string }
  t.equal((await adminCall(a.url, `/v1/admin/apps/${app.id}/webhooks`, { url: receiver.url })).status, 201)

  t.equal(await connect(a.url, app.key, 'alice'), 200)
  await receiver.waitFor(1)
  t.same(await a.stop(), 0, 'the broker stops (SIGTERM) with the delivery waiting for its retry')

  const b = await startReplica(t, env)
  await receiver.waitFor(2)
  const [failed, delivered] = receiver.received
  t.equal(delivered?.status, 200, 'delivered by the restarted broker')
  t.equal(delivered?.headers['webhook-id'], failed?.headers['webhook-id'], 'the same event id: receivers de-duplicate on it')
  t.equal(JSON.parse(delivered?.body ?? '{}').data.user_id, 'alice')

  // The next delivery hangs at the receiver, and the broker dies (SIGKILL) in the middle of it.
  receiver.script.push(0)
  t.equal(await connect(b.url, app.key, 'bob'), 200)
  await receiver.waitFor(3)
  t.equal(await b.stop('SIGKILL'), 'SIGKILL')
  const c = await startReplica(t, env)
  await receiver.waitFor(4)
  const [, , lost, recovered] = receiver.received
  t.equal(recovered?.status, 200, 'another broker took the pending delivery over')
  t.equal(recovered?.headers['webhook-id'], lost?.headers['webhook-id'])
  t.equal(JSON.parse(recovered?.body ?? '{}').data.user_id, 'bob')
  t.same(await c.stop(), 0)
  t.equal(receiver.received.length, 4, 'nothing delivered twice once acknowledged')
})
