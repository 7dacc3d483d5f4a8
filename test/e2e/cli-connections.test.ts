import t from 'tap'
import { cli } from '../helpers/cli.js'
import { connectThrough, startBrokerProcess } from '../helpers/processes.js'
import { newKey } from '../helpers/ops.js'
import { startReplica } from '../helpers/replica.js'

t.test('oneup-broker connections and keys list, show and delete connections and run the encryption key runbook with a progress bar', async (t) => {
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const { ops, env, replica } = await startBrokerProcess(t, { TOKEN_ENCRYPTION_KEYS: K1 })
  const app = JSON.parse((await cli(['--json', 'apps', 'create', '--name', 'Billing', '--tenants', '*'], ops)).stdout) as { id: string; key: string }
  for (const user of ['alice', 'bob', 'MATZ']) t.equal(await connectThrough(replica.url, app.key, user, user.toLowerCase()), 200)

  const table = await cli(['connections', 'list', '--sort', '+created_at'], ops)
  t.equal(table.code, 0, table.stderr)
  t.match(table.stdout, /^TENANT\s+USER\s+STATUS\s+CREATED\s+REFRESHED\s+KEY\s+APP\nacme\s+alice\s+active\s.*k1\s+app_.*\nacme\s+bob\s+active/)
  const paged = JSON.parse((await cli(['--json', 'connections', 'list', '--limit', '1', '--all', '--status', 'eq:active'], ops)).stdout) as { items: unknown[]; next_cursor: null }
  t.equal(paged.items.length, 3, '--all follows the cursor')
  const badFilter = await cli(['connections', 'list', '--refreshed-at', 'gte:soon'], ops)
  t.equal(badFilter.code, 1)
  t.match(badFilter.stderr, /querystring\/refreshed_at .*\(HTTP 422, code 3\)/)
  const shown = JSON.parse((await cli(['--json', 'connections', 'show', 'acme', 'alice'], ops)).stdout)
  t.match(shown, { tenant_id: 'acme', user_id: 'alice', status: 'active', key_id: 'k1', app_id: app.id })
  const shownTable = await cli(['connections', 'show', 'acme', 'MATZ'], ops)
  t.match(shownTable.stdout, /\nuser_id\s+MATZ\n/, 'an id ending in Z is not taken for a time')
  t.match(shownTable.stdout, /\ncreated_at\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\n/)
  const prefixed = await cli(['--url', `${replica.url}/behind/a/proxy/`, 'apps', 'list'], ops)
  t.match(prefixed.stderr, /HTTP 404/, 'the path of --url is kept (nothing answers under this one)')

  // The new key first, on a replica of the next deploy.
  const next = await startReplica(t, { ...env, TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  const ops2 = { ...ops, BROKER_URL: next.url }
  const status = await cli(['keys', 'status'], ops2)
  t.equal(status.code, 0)
  t.match(status.stdout, /^primary key: k2 \(configured: k2, k1\)\nKEY\s+RECORDS\nk1\s+3\nno re-encryption job yet\n$/)
  const reencrypt = await cli(['keys', 'reencrypt'], ops2)
  t.equal(reencrypt.code, 0, reencrypt.stderr)
  t.match(reencrypt.stderr, /re-encrypting \[.*\] 100% \| 3\/3 records/, 'a progress bar (on stderr)')
  t.match(reencrypt.stdout, /job job_[0-9a-f]{12}: done, 3\/3 records looked at, 3 moved, 0 failed \(target k2\)/)
  t.same(JSON.parse((await cli(['--json', 'keys', 'status'], ops2)).stdout).records, { k2: 3 })
  // A deploy that dropped the key the records need.
  const wrong = await startReplica(t, { ...env, TOKEN_ENCRYPTION_KEYS: newKey('k3') })
  const lacking = await cli(['keys', 'status'], { ...ops, BROKER_URL: wrong.url })
  t.match(lacking.stdout, /\nk2 \(NOT configured: these records cannot be served\)\s+3\n/, 'the missing key stands out')
  t.match(wrong.output.join('\n'), /"missing_kids":\{"k2":3\}.*cannot be served \(code 11\)/, 'and its start-up warned about it')

  const deleted = await cli(['connections', 'delete', 'acme:alice', 'acme:nobody'], ops2)
  t.equal(deleted.code, 1, 'not everything was deleted')
  t.match(deleted.stdout, /^deleted acme:alice\nNOT deleted acme:nobody: The resource was not found\. .*\(code 2\)\n$/)
  t.match(deleted.stderr, /1 of 2 connections were not deleted/)
  const oneBad = await cli(['connections', 'delete', 'acme:bob', ...Array.from({ length: 50 }, (_, i) => `acme:u${i}`), 'bad id'], ops2)
  t.equal(oneBad.code, 1)
  t.match(oneBad.stderr, /not tenant_id:user_id pairs, so nothing was deleted: bad id/)
  t.equal((await cli(['connections', 'show', 'acme', 'bob'], ops2)).code, 0, 'bob, in the first chunk, is still there')
  t.equal((await cli(['connections', 'delete', 'acme:bob', 'acme:MATZ'], ops2)).code, 0)
  t.same(JSON.parse((await cli(['--json', 'connections', 'list'], ops2)).stdout), { items: [], next_cursor: null })
})
