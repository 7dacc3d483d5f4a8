import { setTimeout } from 'node:timers/promises'
import t, { type Test } from 'tap'
import { pino } from 'pino'
import type { AuditLog } from '../../src/audit/log.js'
import { redisKeys } from '../../src/store/keys.js'
import { WebhookStore, type Delivery } from '../../src/store/webhooks.js'
import { WebhookDispatcher, defaultDeliveryPolicy, type DeliveryPolicy } from '../../src/webhooks/delivery.js'
import type { WebhookService } from '../../src/webhooks/service.js'
import { startReceiver } from '../helpers/ops.js'
import { scriptedRedis } from '../helpers/redis.js'

/** A dispatcher on real Redis and real receivers; signing and auditing stubbed (tested elsewhere). */
async function rig(t: Test) {
  const { redis, prefix } = await scriptedRedis(t)
  const keys = redisKeys(prefix)
  const store = new WebhookStore(redis, keys)
  const dispatchers: WebhookDispatcher[] = []
  // Registered after scriptedRedis's: tap runs teardowns last first, so the dispatchers stop before Redis closes.
  t.teardown(async () => {
    for (const dispatcher of dispatchers) await dispatcher.stop()
  })
  const service = { secretsOf: async () => [`whsec_${Buffer.alloc(32, 1).toString('base64')}`] } as unknown as WebhookService
  const audit = { record: async () => undefined } as unknown as AuditLog
  let endpoints = 0
  return {
    redis,
    keys,
    store,
    async endpoint(url: string): Promise<string> {
      const id = `wh_${++endpoints}`
      await store.create({ id, appId: 'app_x', url, events: ['connection.created'], tenants: ['*'], createdAt: Date.now() }, { secretId: 'whs_1', sealed: 'x', createdAt: 1 }, 100)
      return id
    },
    dispatcher(policy: Partial<DeliveryPolicy> = {}, now?: () => number): WebhookDispatcher {
      const dispatcher = new WebhookDispatcher({
        ...(now === undefined ? {} : { now }),
        store,
        service,
        audit,
        log: pino({ level: 'silent' }),
        policy: { ...defaultDeliveryPolicy(1000, 15), baseBackoffMs: 50, pollMs: 50, ...policy },
      })
      dispatchers.push(dispatcher)
      return dispatcher
    },
  }
}

const delivery = (webhookId: string, eventId: string): Delivery => ({ webhookId, eventId, type: 'connection.created', body: '{}', attempt: 1 })

async function until(what: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await setTimeout(20)) if (await what()) return true
  return false
}

t.test("a hanging endpoint's deferred backlog does not hold back another endpoint's retry", async (t) => {
  const r = await rig(t)
  const hanging = await startReceiver(t, Array.from({ length: 10 }, () => 0))
  const healthy = await startReceiver(t, [500, 200])
  const stuck = await r.endpoint(hanging.url)
  const other = await r.endpoint(healthy.url)
  // The production policy: one poll a second, retries from one second.
  const dispatcher = r.dispatcher({ timeoutMs: 5000, staleMs: 15_000, pollMs: 1000, baseBackoffMs: 1000 })
  await r.store.enqueue(Array.from({ length: 3000 }, (_, i) => delivery(stuck, `evt_h${i}`)))
  dispatcher.start()
  await setTimeout(1500)
  await r.store.enqueue([delivery(other, 'evt_g')])
  dispatcher.wake()
  t.ok(await until(() => healthy.received.length >= 2, 40_000), 'the healthy endpoint got its retry')
  const [first, second] = healthy.received.map((r) => r.at)
  const gap = (second ?? Infinity) - (first ?? 0)
  // About a second of backoff and at most a poll or two: before, 100 due retries moved per
  // poll, so it waited behind the whole backlog (30 s here).
  t.ok(gap < 5000, `the retry came ${gap} ms after the failure`)
})

for (const [how, lose] of [
  ['its stream deleted', (r: Awaited<ReturnType<typeof rig>>) => r.redis.del(r.keys.webhookQueue())],
  ['XGROUP DESTROY', (r: Awaited<ReturnType<typeof rig>>) => r.redis.xgroup('DESTROY', r.keys.webhookQueue(), 'deliverers')],
] as const) {
  t.test(`retries are delivered after the consumer group is lost (${how}), with no new event to make it again`, async (t) => {
    const r = await rig(t)
    const receiver = await startReceiver(t, [500])
    await r.endpoint(receiver.url)
    const dispatcher = r.dispatcher()
    dispatcher.start()
    await dispatcher.publish('connection.created', { tenantId: 'acme', userId: 'alice', appId: 'app_x' })
    t.ok(await until(async () => (await r.store.depths()).retrying === 1, 5000), 'the first attempt failed: waiting to retry')
    await lose(r)
    t.ok(await until(() => receiver.received.length === 2, 5000), `retried (${receiver.received.length} attempts)`)
    t.equal(receiver.received[1]?.status, 200)
  })
}

t.test('an unreadable queue entry is set aside and does not strand the deliveries read with it', async (t) => {
  const r = await rig(t)
  const receiver = await startReceiver(t)
  const id = await r.endpoint(receiver.url)
  await r.store.enqueue([delivery(id, 'evt_0')])
  await r.redis.xadd(r.keys.webhookQueue(), '*', 'd', '{"webhookId":')
  await r.redis.xadd(r.keys.webhookQueue(), '*', 'x', 'no d field')
  await r.store.enqueue(Array.from({ length: 5 }, (_, i) => delivery(id, `evt_${i + 1}`)))
  // The dispatcher's own clock (a day behind the machine's) dates what it sets aside.
  const DAY = 86_400_000
  const started = Date.now()
  r.dispatcher({ staleMs: 500 }, () => Date.now() - DAY).start()
  t.ok(await until(() => receiver.received.length === 6, 5000), `every delivery arrived (${receiver.received.length} of 6)`)
  t.ok(await until(async () => (await r.store.depths()).queued === 0, 2000), 'the queue is empty')
  const dead = await r.redis.xrange(r.keys.webhookDead(), '-', '+')
  t.equal(dead.length, 2, 'both unreadable entries are kept for ops, with the given-up deliveries')
  t.match(dead[0]?.[1][1], /an unreadable queue entry/)
  const at = Number(JSON.parse(dead[0]?.[1][1] ?? '{}').at)
  t.ok(at >= started - DAY && at <= Date.now() - DAY, 'dated by the dispatcher clock')
})

t.test('a stop is not held up by an attempt that was about to start, and that delivery is kept', async (t) => {
  const r = await rig(t)
  const hanging = await startReceiver(t, [0])
  await r.endpoint(hanging.url)
  // A take() that is slow to answer: stop() comes while it runs.
  const take = r.store.take.bind(r.store)
  let taking = false
  r.store.take = async (...args) => {
    taking = true
    await setTimeout(300)
    return take(...args)
  }
  const dispatcher = r.dispatcher({ timeoutMs: 10_000 })
  dispatcher.start()
  await dispatcher.publish('connection.created', { tenantId: 'acme', userId: 'alice', appId: 'app_x' })
  t.ok(await until(() => taking, 2000))
  const started = Date.now()
  await dispatcher.stop()
  t.ok(Date.now() - started < 2000, `the stop took ${Date.now() - started} ms, not the receiver's timeout`)
  t.equal(hanging.received.length, 0, 'nothing was sent after the stop began')
  const depths = await r.store.depths()
  t.equal(depths.queued + depths.retrying, 1, 'the delivery waits for another replica')
})

t.test("deleting an endpoint drops the retries waiting for it, and no other endpoint's", async (t) => {
  const r = await rig(t)
  const failing = await startReceiver(t, Array.from({ length: 40 }, () => 500))
  const doomed = await r.endpoint(failing.url)
  const kept = await r.endpoint(failing.url)
  // Retries an hour away, as late attempts are.
  const dispatcher = r.dispatcher({ baseBackoffMs: 3_600_000 })
  await r.store.enqueue([...Array.from({ length: 20 }, (_, i) => delivery(doomed, `evt_d${i}`)), delivery(kept, 'evt_k')])
  dispatcher.start()
  t.ok(await until(async () => (await r.store.depths()).retrying === 21, 5000), 'all waiting to retry')
  t.ok(await r.store.delete(doomed))
  t.same(await r.store.depths(), { queued: 0, retrying: 1, given_up: 0 }, "only the other endpoint's retry is left")
})
