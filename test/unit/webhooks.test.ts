import t from 'tap'
import { redisKeys } from '../../src/store/keys.js'
import { WebhookStore } from '../../src/store/webhooks.js'
import { backoff, defaultDeliveryPolicy } from '../../src/webhooks/delivery.js'
import { newSigningSecret, sign, signedHeaders, verify } from '../../src/webhooks/signing.js'
import { scriptedRedis } from '../helpers/redis.js'

t.test('a delivery verifies with either active secret, and not once changed, replayed late or signed otherwise', async (t) => {
  const [a, b] = [newSigningSecret(), newSigningSecret()]
  t.match(a, /^whsec_[A-Za-z0-9+/]{43}=$/, '32 random bytes')
  const body = '{"id":"evt_1","type":"connection.created"}'
  const headers = signedHeaders([a, b], 'evt_1', 1_800_000_000, body)
  t.equal(headers['webhook-signature']?.split(' ').length, 2, 'one signature per secret')
  t.ok(verify(a, headers, body, 1_800_000_010))
  t.ok(verify(b, headers, body, 1_800_000_010))
  t.notOk(verify(newSigningSecret(), headers, body, 1_800_000_010), 'another secret')
  t.notOk(verify(a, headers, body.replace('created', 'deleted'), 1_800_000_010), 'a changed body')
  t.notOk(verify(a, { ...headers, 'webhook-id': 'evt_2' }, body, 1_800_000_010), 'another event id')
  t.notOk(verify(a, headers, body, 1_800_000_000 + 301), 'too late: a replay')
  t.notOk(verify(a, { ...headers, 'webhook-timestamp': 'soon' }, body, 1_800_000_000))
  t.equal(sign(a, 'evt_1', 1, 'x'), sign(a, 'evt_1', 1, 'x'), 'deterministic')
})

t.test('retries back off exponentially from one second to an hour, with jitter of a fifth either way', async (t) => {
  const policy = defaultDeliveryPolicy(5000, 15)
  t.same([1, 2, 3, 4].map((n) => backoff(policy, n, () => 0.5)), [1000, 2000, 4000, 8000])
  t.equal(backoff(policy, 30, () => 0.5), 3_600_000, 'capped at an hour')
  t.equal(backoff(policy, 1, () => 0), 800)
  t.equal(backoff(policy, 1, () => 1), 1200)
  t.ok(policy.staleMs > 2 * policy.timeoutMs, 'a live delivery is never taken over')
})

t.test('take() hands out at most the slots asked for, counting the deliveries it took over from a dead consumer', async (t) => {
  const { redis, prefix } = await scriptedRedis(t)
  const store = new WebhookStore(redis, redisKeys(prefix))
  const delivery = (i: number) => ({ webhookId: 'wh_1', eventId: `evt_${i}`, type: 'connection.created', body: '{}', attempt: 1 })
  await store.enqueue(Array.from({ length: 30 }, (_, i) => delivery(i)))
  t.equal((await store.take('dead', 10, 60_000, Date.now())).length, 10, 'a consumer that dies holding ten')
  const taken = await store.take('alive', 6, 0, Date.now())
  t.equal(taken.length, 6, 'six asked: six given, those taken over first')
  t.same(taken.map((d) => d.delivery.eventId), ['evt_0', 'evt_1', 'evt_2', 'evt_3', 'evt_4', 'evt_5'])
  t.equal((await store.take('alive', 20, 60_000, Date.now())).length, 20, 'then new ones up to the slots')
})
