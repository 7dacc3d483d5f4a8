import t from 'tap'
import type { FastifyInstance } from 'fastify'
import { CLIENT_ID, CLIENT_SECRET, expireAccessToken, startHarness, type Harness } from '../helpers/harness.js'
import { admin, newKey, reencryptionDone, replicaOf, underLoad, type Replica } from '../helpers/ops.js'

const USERS = [
  { tenantId: 'acme', userId: 'alice' },
  { tenantId: 'acme', userId: 'bob' },
  { tenantId: 'globex', userId: 'carol' },
]

/** Connects the load's users with access tokens of 1 s: under load each is refreshed about twice a second. */
async function connectUsers(h: Harness, key: string): Promise<void> {
  await h.sandbox.control('/settings', 'PUT', { access_token_ttl: 1 })
  for (const user of USERS) {
    const connected = await h.connect(key, user.tenantId, user.userId, { username: user.userId })
    if (connected.callback.statusCode !== 200) throw new Error(`connect ${user.userId}: ${connected.callback.statusCode}`)
  }
}

/** A step that lets the load run on: its users' one-second tokens are refreshed meanwhile. */
const refreshesFor = (ms: number) => () => new Promise<void>((resolve) => setTimeout(resolve, ms))

const get = async (app: FastifyInstance, url: string) => (await app.inject({ method: 'GET', url, headers: admin })).json()
const post = async (app: FastifyInstance, url: string, payload?: object) =>
  app.inject({ method: 'POST', url, headers: admin, ...(payload === undefined ? {} : { payload }) })

t.test('the OneUp client secret rotates under load: no request fails, and ops see when the previous secret stops being needed', async (t) => {
  const OLD = CLIENT_SECRET
  const NEW = 'the-new-oneup-client-secret'
  const KEYS = newKey('k1')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: KEYS } })
  const { key } = await h.createApp()
  await connectUsers(h, key)
  const a = h.app
  let b: Replica | undefined
  let c: Replica | undefined
  let targets: FastifyInstance[] = [a]
  let usesWhileOneUpHadOld = 0
  const load = await underLoad(
    () => targets.map((app) => ({ app, key })),
    USERS,
    [
      ['1. every replica gets ONEUP_CLIENT_SECRET=new and ONEUP_CLIENT_SECRET_PREVIOUS=old', async () => {
        b = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: KEYS, ONEUP_CLIENT_SECRET: NEW, ONEUP_CLIENT_SECRET_PREVIOUS: OLD })
        targets = [a, b]
      }],
      ['   (refreshes go on, with both secrets)', refreshesFor(1500)],
      ['   (the old replica leaves)', async () => {
        if (b !== undefined) targets = [b]
      }],
      ['2. check-client: OneUp still wants the old secret', async () => {
        const check = (await post(b as FastifyInstance, '/v1/admin/oneup/check-client')).json()
        t.match(check.results, [{ secret: 'current', accepted: false, oneup_error: 'invalid_client' }, { secret: 'previous', accepted: true, oneup_error: 'invalid_grant' }])
        usesWhileOneUpHadOld = (await get(b as FastifyInstance, '/v1/admin/oneup')).previous_secret.uses
        t.ok(usesWhileOneUpHadOld > 0, 'the broker counted its uses of the previous secret')
      }],
      ['3. OneUp switches the client to the new secret', async () => {
        const res = await h.sandbox.control(`/clients/${CLIENT_ID}/secrets`, 'PUT', { secrets: [NEW] })
        t.equal(res.status, 204)
      }],
      ['   (refreshes go on, now with the new secret)', refreshesFor(1500)],
      ['4. check-client: OneUp takes the new one; the old is no longer needed', async () => {
        const check = (await post(b as FastifyInstance, '/v1/admin/oneup/check-client')).json()
        t.match(check.results, [{ secret: 'current', accepted: true }, { secret: 'previous', accepted: false }])
      }],
      ['5. ONEUP_CLIENT_SECRET_PREVIOUS is removed', async () => {
        c = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: KEYS, ONEUP_CLIENT_SECRET: NEW })
        targets = [c]
      }],
    ],
  )
  t.same(load.failures, [], `no failure in ${load.total} token requests`)
  t.ok(load.total > 100)
  const after = await get(c as FastifyInstance, '/v1/admin/oneup')
  t.match(after, { client_id: CLIENT_ID, previous_secret: { configured: false } })
  t.equal((await get(b as FastifyInstance, '/v1/admin/oneup')).previous_secret.uses, after.previous_secret.uses, 'shared by every replica')
  const counters = await h.sandbox.counters()
  t.equal(counters.reuse_detections, 0)
  t.ok(counters.refresh_grants > 10, `refreshes ran all along (${counters.refresh_grants})`)
  t.notOk([...h.logs, ...(b?.logs ?? []), ...(c?.logs ?? [])].join('\n').includes(NEW), 'no secret in any log')
  t.match(b?.logs.join('\n'), /accepted ONEUP_CLIENT_SECRET_PREVIOUS/, 'the replica said which secret worked')
})

t.test('encryption keys rotate under load, with the re-encryption job running while refreshes do; then the old key goes', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: K1 } })
  const { key, id } = await h.createApp()
  await connectUsers(h, key)
  const hook = await post(h.app, `/v1/admin/apps/${id}/webhooks`, { url: 'http://127.0.0.1:9/hooks' })
  t.equal(hook.statusCode, 201, 'a webhook signing secret, sealed with k1 too')
  // Idle connections the load never touches: only the job moves them.
  const { connections, opener } = h.app.broker
  for (let i = 0; i < 150; i += 1) {
    const tokens = { accessToken: `at-${i}`, refreshToken: `rt-${i}`, accessExpiresAt: Date.now() + 3_600_000, scope: 'offline_access' }
    await connections.write('idle', `user-${i}`, 'any', { status: 'active', sealed: await opener.seal('idle', `user-${i}`, tokens), kid: 'k1', scope: 'offline_access', appId: id, refreshedAt: Date.now(), accessExpiresAt: tokens.accessExpiresAt }, Date.now())
  }
  t.match(await get(h.app, '/v1/admin/encryption'), { primary_kid: 'k1', records: { k1: 154 }, job: null })

  let targets: FastifyInstance[] = [h.app]
  let last: FastifyInstance = h.app
  const deploy = async (keys: string) => {
    const next = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: keys })
    targets = [last, next] // a rolling deploy: old and new serve together
    last = next
  }
  const load = await underLoad(
    () => targets.map((app) => ({ app, key })),
    USERS,
    [
      ['1. TOKEN_ENCRYPTION_KEYS=k1,k2: every replica can open k2', () => deploy(`${K1},${K2}`)],
      ['2. TOKEN_ENCRYPTION_KEYS=k2,k1: k2 seals', () => deploy(`${K2},${K1}`)],
      ['   (the k1-first replicas leave)', async () => {
        targets = [last]
      }],
      ['3. re-encrypt, while refreshes run', async () => {
        const started = await post(last, '/v1/admin/encryption/reencrypt')
        t.equal(started.statusCode, 202)
        t.match(started.json().job, { state: 'running', target_kid: 'k2', total: 154 })
        const again = await post(last, '/v1/admin/encryption/reencrypt')
        t.equal(again.json().job.id, started.json().job.id, 'one job at a time: starting again shows the running one')
        for (let i = 0; ; i += 1) {
          const status = await get(last, '/v1/admin/encryption')
          if (status.job.state === 'done') break
          if (i > 1000) throw new Error('the job never finished')
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }],
      ['4. TOKEN_ENCRYPTION_KEYS=k2: the old key is gone', () => deploy(K2)],
      ['   (the k2,k1 replicas leave)', async () => {
        targets = [last]
      }],
    ],
  )
  t.same(load.failures, [], `no failure in ${load.total} token requests`)
  const status = await get(last, '/v1/admin/encryption')
  t.same(status.records, { k2: 154 }, 'every record, and the webhook secret, is sealed with k2')
  t.match(status.job, { state: 'done', total: 154, done: 154, failed: 0, target_kid: 'k2' })
  t.ok(status.job.moved >= 150, 'the job moved the idle ones (refreshes moved some of the others)')
  const record = await last.broker.connections.read('idle', 'user-7')
  t.equal((await last.broker.opener.open('idle', 'user-7', record?.sealed ?? '')).refreshToken, 'rt-7', 'a k2-only replica opens what the job moved')
  t.same((await h.sandbox.counters()).reuse_detections, 0)
})

t.test('the re-encryption job resumes on another replica after the one running it stops, and moves every record once', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: K1 } })
  const { connections, opener } = h.app.broker
  const writes: Array<Promise<unknown>> = []
  for (let i = 0; i < 1200; i += 1) {
    const tenant = `t${i % 7}`
    writes.push(
      opener
        .seal(tenant, `u${i}`, { accessToken: 'a', refreshToken: `r${i}`, accessExpiresAt: 1, scope: 's' })
        .then((sealed) => connections.write(tenant, `u${i}`, 'any', { status: 'active', sealed, kid: 'k1', scope: 's', appId: 'app_x', refreshedAt: i, accessExpiresAt: 1 }, i)),
    )
  }
  await Promise.all(writes)
  const x = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  const started = await post(x, '/v1/admin/encryption/reencrypt')
  t.equal(started.statusCode, 202)
  // A replica just started may answer 503 while its Redis client connects (a busy machine, a
  // Cluster's slot map): only a status with the job in it counts.
  for (let i = 0; ((await get(h.app, '/v1/admin/encryption')).job?.done ?? 0) === 0; i += 1) {
    if (i > 1500) throw new Error('the job never saved progress')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  // The replica goes down part way: the job stays "running" with its saved cursor.
  await x.close()
  const stopped = await get(h.app, '/v1/admin/encryption')
  t.equal(stopped.job.state, 'running', 'left running for another replica')
  t.ok(stopped.job.done > 0 && stopped.job.done < 1200, `stopped part way (${stopped.job.done} of 1200)`)
  t.ok(stopped.records.k1 > 0 && stopped.records.k2 > 0, 'records on both keys meanwhile')

  const y = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  for (let i = 0; ; i += 1) {
    const status = await get(y, '/v1/admin/encryption')
    if (status.job?.state === 'done') break
    if (i > 1500) throw new Error(`the job was not resumed: ${JSON.stringify(status)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const done = await get(y, '/v1/admin/encryption')
  t.same(done.records, { k2: 1200 })
  t.match(done.job, { id: started.json().job.id, state: 'done', done: 1200, total: 1200, failed: 0 })
  t.ok(done.job.moved <= 1200, 'no record counted as moved twice')
  t.match(y.logs.join('\n'), /"resumed":true/, 'resumed from the saved cursor, not started over')
})

t.test('a re-seal never undoes a refresh in flight: OneUp\'s rotated token set is kept', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: K1 } })
  const { key } = await h.createApp()
  t.equal((await h.connect(key, 'acme', 'alice')).callback.statusCode, 200)
  await expireAccessToken(h.app, 'acme', 'alice')
  const token = (app: FastifyInstance) =>
    app.inject({ method: 'POST', url: '/v1/token', headers: { authorization: `Bearer ${key}` }, payload: { tenant_id: 'acme', user_id: 'alice' } })
  const next = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })

  // OneUp rotates at once but answers late (within the broker's 3 s timeout): the job re-seals the record meanwhile.
  await h.sandbox.control('/faults', 'POST', { mode: 'hang', ms: 1500, count: 1 })
  const inFlight = token(h.app)
  while ((await h.sandbox.counters()).refresh_grants === 0) await new Promise((resolve) => setTimeout(resolve, 10))
  t.equal((await post(next, '/v1/admin/encryption/reencrypt')).statusCode, 202)
  t.match(await reencryptionDone(next), { records: { k2: 1 }, job: { moved: 1, failed: 0 } }, 're-sealed while the refresh waited on OneUp')

  const refreshed = await inFlight
  t.equal(refreshed.statusCode, 200)
  const rotated = refreshed.json().access_token
  t.equal((await fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${rotated}` } })).status, 200, 'the caller got the rotated access token')
  t.notMatch(h.logs.join('\n'), /superseded/, 'the refresh result was stored, not dropped')
  await expireAccessToken(next, 'acme', 'alice')
  const again = await token(next)
  t.equal(again.statusCode, 200, 'the stored refresh token is the rotated one: the next refresh works')
  t.equal((await h.sandbox.counters()).reuse_detections, 0, 'no spent refresh token was ever presented')
})

t.test('a record that no configured key opens is counted as failed and named; the job still finishes', async (t) => {
  const K0 = newKey('k0')
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` } })
  const { connections } = h.app.broker
  const retired = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: K0 })
  const tokens = { accessToken: 'a', refreshToken: 'r', accessExpiresAt: 1, scope: 's' }
  const records = [
    { userId: 'lost', sealed: await retired.broker.opener.seal('acme', 'lost', tokens), kid: 'k0' },
    { userId: 'fine', sealed: await (await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: K1 })).broker.opener.seal('acme', 'fine', tokens), kid: 'k1' },
  ]
  for (const { userId, sealed, kid } of records) {
    await connections.write('acme', userId, 'any', { status: 'active', sealed, kid, scope: 's', appId: 'app_x', refreshedAt: 1, accessExpiresAt: 1 }, 1)
  }
  t.equal((await post(h.app, '/v1/admin/encryption/reencrypt')).statusCode, 202)
  t.match(await reencryptionDone(h.app), { records: { k0: 1, k2: 1 }, job: { done: 2, total: 2, moved: 1, failed: 1 } })
  t.match(h.logs.join('\n'), /"user_id":"lost","kid":"k0".*left as it is/, 'the record that stays is named')
})

t.test('a connection sealed with a key the broker lacks is a 500 code 11 whose log line names the connection and the key id', async (t) => {
  const K0 = newKey('k0')
  const K1 = newKey('k1')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: K1 } })
  const { key, id } = await h.createApp()
  const retired = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: K0 })
  const tokens = { accessToken: 'a', refreshToken: 'r', accessExpiresAt: Date.now() + 3_600_000, scope: 'offline_access' }
  const sealed = await retired.broker.opener.seal('acme', 'lost', tokens)
  await h.app.broker.connections.write('acme', 'lost', 'any', { status: 'active', sealed, kid: 'k0', scope: 's', appId: id, refreshedAt: 1, accessExpiresAt: tokens.accessExpiresAt }, 1)
  const res = await h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'lost' })
  t.equal(res.statusCode, 500)
  t.equal(res.json().error.code, '11')
  t.notMatch(res.body, /k0|lost/, 'the app is told only that it cannot be served')
  t.match(h.logs.join('\n'), /connection acme\/lost: the record is sealed with key id \\"k0\\", which TOKEN_ENCRYPTION_KEYS does not hold/, 'ops are told which connection, and which key is missing')
})

t.test('a replica that seals with another key than the job targets does not run it', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const h = await startHarness(t, { env: { TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` } })
  await h.app.broker.reencryption.stop()
  const { connections } = h.app.broker
  const sealedK1 = await (await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: K1 })).broker.opener.seal('acme', 'u', { accessToken: 'a', refreshToken: 'r', accessExpiresAt: 1, scope: 's' })
  await connections.write('acme', 'u', 'any', { status: 'active', sealed: sealedK1, kid: 'k1', scope: 's', appId: 'app_x', refreshedAt: 1, accessExpiresAt: 1 }, 1)
  t.equal((await post(h.app, '/v1/admin/encryption/reencrypt')).statusCode, 202, 'started (this replica is stopped, so it waits)')
  const old = await replicaOf(t, h, { TOKEN_ENCRYPTION_KEYS: `${K1},${K2}` })
  await old.broker.reencryption.idle()
  old.broker.reencryption.kick()
  await old.broker.reencryption.idle()
  t.match(await get(old, '/v1/admin/encryption'), { records: { k1: 1 }, job: { state: 'running', target_kid: 'k2', done: 0 } }, 'untouched by a k1-first replica')
})

t.test('an app key rotates under load: the second key works at once, the first stops when revoked, and ops see both last uses', async (t) => {
  const h = await startHarness(t)
  const { key: first, id, key_id: firstId } = await h.createApp()
  await connectUsers(h, first)
  let current = first
  let second = ''
  const load = await underLoad(
    () => [{ app: h.app, key: current }],
    USERS,
    [
      ['1. add a second key', async () => {
        const res = await post(h.app, `/v1/admin/apps/${id}/keys`)
        t.equal(res.statusCode, 201)
        second = res.json().key
      }],
      ['2. the app switches to the second key', async () => {
        current = second
      }],
      ['3. revoke the first', async () => {
        t.equal((await h.app.inject({ method: 'DELETE', url: `/v1/admin/apps/${id}/keys/${firstId}`, headers: admin })).statusCode, 204)
      }],
    ],
  )
  t.same(load.failures, [], `no failure in ${load.total} token requests`)
  const revoked = await h.asApp(first, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice' })
  t.equal(revoked.statusCode, 401, 'the first key stopped')
  t.equal(revoked.json().error.code, '1')
  const listed = (await get(h.app, '/v1/admin/apps')).items[0]
  t.equal(listed.keys.length, 1)
  t.type(listed.keys[0].last_used_at, 'string', 'the second key shows when it was last used')
  t.notOk(JSON.stringify(listed).includes(second.slice(-43)), 'never the key itself')
})
