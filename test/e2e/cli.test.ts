import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { ADMIN_KEY, brokerEnv, CLIENT_SECRET, startSandbox, throughOneUp } from '../helpers/harness.js'
import { newKey } from '../helpers/ops.js'
import { deletePrefix, testPrefix } from '../helpers/redis.js'
import { freePort, startReplica } from '../helpers/replica.js'

const CLI_JS = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built CLI as ops would, with only the environment given (and PATH). */
function cli(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_JS, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin ?? '')
  })
}

t.test('the oneup-broker CLI runs the ops runbooks against a running broker, with tables, --json and clear failures', async (t) => {
  const publicUrl = `http://127.0.0.1:${await freePort()}`
  const sandbox = await startSandbox(t, {}, `${publicUrl}/oauth/callback`)
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const K1 = newKey('k1')
  const K2 = newKey('k2')
  const env = { ...brokerEnv(sandbox.base, prefix), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn', TOKEN_ENCRYPTION_KEYS: K1 }
  const first = await startReplica(t, env)
  const ops = { BROKER_URL: first.url, BROKER_ADMIN_KEY: ADMIN_KEY }

  // apps create | list | add-key | revoke-key
  const created = await cli(['--json', 'apps', 'create', '--name', 'Billing', '--tenants', 'acme,globex', '--return-origins', 'https://billing.example.com'], ops)
  t.equal(created.code, 0, created.stderr)
  const app = JSON.parse(created.stdout) as { id: string; key_id: string; key: string }
  t.match(app, { id: /^app_/, key_id: /^key_/, key: /^obk_app_/ })
  const human = await cli(['apps', 'create', '--name', 'Other', '--tenants', '*'], ops)
  t.match(human.stdout, /^app app_[0-9a-f]{16} created\nkey key_[0-9a-f]{12}: obk_app_/)
  const added = JSON.parse((await cli(['--json', 'apps', 'add-key', app.id], ops)).stdout) as { key_id: string; key: string }
  const listed = await cli(['apps', 'list'], ops)
  t.equal(listed.code, 0)
  t.match(listed.stdout, /^APP\s+NAME\s+TENANTS\s+KEY\s+KEY CREATED\s+LAST USED\n/)
  t.match(listed.stdout, new RegExp(`${app.id}\\s+Billing\\s+acme,globex\\s+${app.key_id}`))
  t.match(listed.stdout, new RegExp(added.key_id))
  t.notOk(listed.stdout.includes(app.key.slice(-43)), 'never a key in a listing')
  const third = await cli(['apps', 'add-key', app.id], ops)
  t.equal(third.code, 1, 'a third key is refused')
  t.match(third.stderr, /^oneup-broker: .*An app has at most 2 active keys.*\(HTTP 422, code 30\)\n$/)
  t.equal((await cli(['apps', 'revoke-key', app.id, app.key_id], ops)).code, 0)
  t.match((await cli(['apps', 'revoke-key', app.id, app.key_id], ops)).stderr, /\(HTTP 404, code 2\)/)

  // connections list | show | delete, over users connected through the broker
  for (const user of ['alice', 'bob']) {
    const session = (await (
      await fetch(`${first.url}/v1/connect-sessions`, {
        method: 'POST',
        headers: { authorization: `Bearer ${added.key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ tenant_id: 'acme', user_id: user }),
      })
    ).json()) as { url: string }
    const start = await fetch(`${first.url}${new URL(session.url).pathname}`, { redirect: 'manual' })
    const callback = await throughOneUp(start.headers.get('location') ?? '', { username: user })
    const done = await fetch(`${first.url}${callback.pathname}${callback.search}`, { headers: { cookie: (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '' } })
    t.equal(done.status, 200)
  }
  const table = await cli(['connections', 'list', '--sort', '+created_at'], ops)
  t.equal(table.code, 0, table.stderr)
  t.match(table.stdout, /^TENANT\s+USER\s+STATUS\s+CREATED\s+REFRESHED\s+KEY\s+APP\nacme\s+alice\s+active\s.*k1\s+app_.*\nacme\s+bob\s+active/)
  const paged = JSON.parse((await cli(['--json', 'connections', 'list', '--limit', '1', '--all', '--status', 'eq:active'], ops)).stdout) as { items: unknown[]; next_cursor: null }
  t.equal(paged.items.length, 2, '--all follows the cursor')
  const badFilter = await cli(['connections', 'list', '--refreshed-at', 'gte:soon'], ops)
  t.equal(badFilter.code, 1)
  t.match(badFilter.stderr, /querystring\/refreshed_at .*\(HTTP 422, code 3\)/)
  const shown = JSON.parse((await cli(['--json', 'connections', 'show', 'acme', 'alice'], ops)).stdout)
  t.match(shown, { tenant_id: 'acme', user_id: 'alice', status: 'active', key_id: 'k1', app_id: app.id })

  // keys status | reencrypt (a progress bar), after a rolling deploy with k2 first
  const second = await startReplica(t, { ...env, TOKEN_ENCRYPTION_KEYS: `${K2},${K1}` })
  const ops2 = { BROKER_URL: second.url, BROKER_ADMIN_KEY: ADMIN_KEY }
  const status = await cli(['keys', 'status'], ops2)
  t.equal(status.code, 0)
  t.match(status.stdout, /^primary key: k2 \(configured: k2, k1\)\nKEY\s+RECORDS\nk1\s+2\nno re-encryption job yet\n$/)
  const reencrypt = await cli(['keys', 'reencrypt'], ops2)
  t.equal(reencrypt.code, 0, reencrypt.stderr)
  t.match(reencrypt.stderr, /re-encrypting \[.*\] 100% \| 2\/2 records/, 'a progress bar (on stderr)')
  t.match(reencrypt.stdout, /job job_[0-9a-f]{12}: done, 2\/2 records looked at, 2 moved, 0 failed \(target k2\)/)
  const after = JSON.parse((await cli(['--json', 'keys', 'status'], ops2)).stdout)
  t.same(after.records, { k2: 2 })

  // check-client: the broker's secrets, then a given one read from stdin
  const check = await cli(['check-client'], ops2)
  t.equal(check.code, 0, check.stderr)
  t.match(check.stdout, /current\s+yes\s+invalid_grant\s+OneUp accepts this client id and secret\./)
  t.match(check.stdout, /ONEUP_CLIENT_SECRET_PREVIOUS is not set/)
  const wrong = await cli(['check-client', '--secret-stdin'], ops2, 'not-the-secret\n')
  t.equal(wrong.code, 1)
  t.match(wrong.stdout, /given\s+NO\s+invalid_client/)
  t.match(wrong.stderr, /OneUp does not accept the given secret/)
  t.notOk(wrong.stdout.includes('not-the-secret') || wrong.stderr.includes('not-the-secret'), 'the secret is never echoed')
  t.equal((await cli(['check-client', '--secret-stdin'], ops2, `${CLIENT_SECRET}\n`)).code, 0)

  // delete, one and several (bulk), with partial failure
  const deleted = await cli(['connections', 'delete', 'acme:alice', 'acme:nobody'], ops2)
  t.equal(deleted.code, 1, 'not everything was deleted')
  t.match(deleted.stdout, /^deleted acme:alice\nNOT deleted acme:nobody: The resource was not found\. .*\(code 2\)\n$/)
  t.match(deleted.stderr, /1 of 2 connections were not deleted/)
  t.equal((await cli(['connections', 'delete', 'acme:bob'], ops2)).code, 0)

  // failures say what to fix
  const noKey = await cli(['apps', 'list'], { BROKER_URL: second.url })
  t.equal(noKey.code, 1)
  t.match(noKey.stderr, /set BROKER_ADMIN_KEY/)
  const wrongKey = await cli(['apps', 'list'], { BROKER_URL: second.url, BROKER_ADMIN_KEY: 'x'.repeat(43) })
  t.match(wrongKey.stderr, /\(HTTP 401, code 1\) \(is BROKER_ADMIN_KEY the broker's admin key\?\)/)
  const down = await cli(['--url', `http://127.0.0.1:${await freePort()}`, 'keys', 'status'], { BROKER_ADMIN_KEY: ADMIN_KEY })
  t.equal(down.code, 1)
  t.match(down.stderr, /cannot reach the broker at .* \(ECONNREFUSED\); check --url/)
  const usage = await cli(['apps', 'create', '--name', 'x'], ops2)
  t.not(usage.code, 0)
  t.match(usage.stderr, /required option '--tenants <ids>' not specified/)
  t.equal((await cli(['--help'], {})).code, 0)
})
