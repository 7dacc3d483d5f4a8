import t from 'tap'
import { KeyUsage, KEY_USAGE_EVERY_MS } from '../../src/apps/key-usage.js'
import type { AppStore } from '../../src/store/apps.js'

t.test('a key use is written at most once a minute per key, and again at once after a failed write', async (t) => {
  const writes: string[] = []
  let fail = false
  const store = {
    touchKey: async (appId: string, keyId: string, at: number) => {
      if (fail) throw new Error('redis down')
      writes.push(`${appId}/${keyId}@${at}`)
    },
  } as unknown as AppStore
  const warnings: unknown[] = []
  const log = { info() {}, debug() {}, error() {}, warn: (...args: unknown[]) => void warnings.push(args) }
  const clock = { ms: 1_000_000 }
  const usage = new KeyUsage(store, log, () => clock.ms)
  const a = { id: 'app_a', keyId: 'key_1' }
  const b = { id: 'app_a', keyId: 'key_2' }
  for (let i = 0; i < 1000; i += 1) usage.seen(a)
  usage.seen(b)
  clock.ms += KEY_USAGE_EVERY_MS - 1
  usage.seen(a)
  t.same(writes, ['app_a/key_1@1000000', 'app_a/key_2@1000000'], 'a thousand calls, one write per key')
  clock.ms += 1
  usage.seen(a)
  t.equal(writes.at(-1), `app_a/key_1@${clock.ms}`, 'a minute later, one more')
  fail = true
  clock.ms += KEY_USAGE_EVERY_MS
  usage.seen(a)
  await new Promise((resolve) => setImmediate(resolve))
  fail = false
  usage.seen(a)
  t.equal(writes.at(-1), `app_a/key_1@${clock.ms}`, 'retried at the next call')
  t.equal(warnings.length, 1)
})
