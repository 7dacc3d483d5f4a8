import t from 'tap'
import { AppAuthenticator } from '../../src/apps/authenticator.js'
import { newAppKey } from '../../src/apps/keys.js'
import type { BrokerError } from '../../src/errors.js'
import type { AppStore, StoredApp } from '../../src/store/apps.js'

const APP_ID = 'app_0123456789abcdef'

/** An AppStore that holds one app and counts its reads. */
function oneAppStore() {
  const { key, hash } = newAppKey(APP_ID)
  const app: StoredApp = {
    id: APP_ID,
    name: 'billing',
    tenants: ['*'],
    returnOrigins: [],
    rateLimit: 10,
    createdAt: 0,
    keys: [{ keyId: 'key_000000000001', hash, createdAt: 0, lastUsedAt: undefined }],
  }
  const reads: string[] = []
  const store = { get: async (id: string) => (reads.push(id), id === APP_ID ? app : undefined) } as unknown as AppStore
  return { key, store, reads }
}

const refusal = async (authenticator: AppAuthenticator, key: string | undefined) => {
  const error = (await authenticator.authenticate(key).then(
    () => undefined,
    (e: unknown) => e,
  )) as BrokerError
  return { code: error.code, status: error.status, reason: error.reason }
}

t.test('an unknown app and a wrong secret for a known app do the same reads and get the same refusal', async (t) => {
  const { key, store, reads } = oneAppStore()
  const authenticator = new AppAuthenticator(store)
  const wrongSecret = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`
  const unknownApp = key.replace(APP_ID, 'app_ffffffffffffffff')
  const a = await refusal(authenticator, wrongSecret)
  const b = await refusal(authenticator, unknownApp)
  t.same(a, b)
  t.same(a, { code: '1', status: 401, reason: 'Unknown or revoked app key.' })
  t.same(reads, [APP_ID, 'app_ffffffffffffffff'], 'one read each')
  t.same(await refusal(authenticator, 'not-a-key'), { code: '1', status: 401, reason: 'Unknown or revoked app key.' }, 'a key of the wrong shape too')
  t.equal(reads.length, 2, 'a key of the wrong shape costs no read: its shape is public')
})

t.test('a key verified once is answered from memory for a minute, then checked again', async (t) => {
  const { key, store, reads } = oneAppStore()
  const clock = { ms: 1_000_000 }
  const authenticator = new AppAuthenticator(store, () => clock.ms)
  t.equal(authenticator.cached(key), undefined)
  t.equal((await authenticator.authenticate(key)).id, APP_ID)
  t.equal(authenticator.cached(key)?.id, APP_ID)
  t.equal(authenticator.cached(`${key}x`), undefined)
  t.equal(authenticator.cached(undefined), undefined)
  await authenticator.authenticate(key)
  t.equal(reads.length, 1, 'no second read')
  clock.ms += 60_001
  t.equal(authenticator.cached(key), undefined, 'a minute later it is checked again')
  await authenticator.authenticate(key)
  t.equal(reads.length, 2)
})
