import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ADMIN_KEY, CLIENT_SECRET } from '../helpers/harness.js'
import { cli } from '../helpers/cli.js'
import { startBrokerProcess } from '../helpers/processes.js'
import { freePort } from '../helpers/replica.js'

t.test('oneup-broker apps and check-client run the app key and client secret runbooks, with tables, --json and clear failures', async (t) => {
  const { ops, replica } = await startBrokerProcess(t)

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

  const check = await cli(['check-client'], ops)
  t.equal(check.code, 0, check.stderr)
  t.match(check.stdout, /current\s+yes\s+invalid_grant\s+OneUp accepts this client id and secret\./)
  t.match(check.stdout, /ONEUP_CLIENT_SECRET_PREVIOUS is not set/)
  const wrong = await cli(['check-client', '--secret-stdin'], ops, 'not-the-secret\n')
  t.equal(wrong.code, 1)
  t.match(wrong.stdout, /given\s+NO\s+invalid_client/)
  t.match(wrong.stderr, /OneUp does not accept the given secret/)
  t.notOk(wrong.stdout.includes('not-the-secret') || wrong.stderr.includes('not-the-secret'), 'the secret is never echoed')
  t.equal((await cli(['check-client', '--secret-stdin'], ops, `${CLIENT_SECRET}\n`)).code, 0)

  const noKey = await cli(['apps', 'list'], { BROKER_URL: replica.url })
  t.equal(noKey.code, 1)
  t.match(noKey.stderr, /set BROKER_ADMIN_KEY/)
  const wrongKey = await cli(['apps', 'list'], { BROKER_URL: replica.url, BROKER_ADMIN_KEY: 'x'.repeat(43) })
  t.match(wrongKey.stderr, /\(HTTP 401, code 1\) \(is BROKER_ADMIN_KEY the broker's admin key\?\)/)
  const down = await cli(['--url', `http://127.0.0.1:${await freePort()}`, 'keys', 'status'], { BROKER_ADMIN_KEY: ADMIN_KEY })
  t.equal(down.code, 1)
  t.match(down.stderr, /cannot reach the broker at .* \(ECONNREFUSED\); check --url/)
  const usage = await cli(['apps', 'create', '--name', 'x'], ops)
  t.not(usage.code, 0)
  t.match(usage.stderr, /required option '--tenants <ids>' not specified/)
  t.equal((await cli(['--help'], {})).code, 0)
})

// Something else answering 2xx at --url (a web server, a proxy's sign-in page) came out as the
// JSON parser's "Unexpected token '<'".
t.test('a 2xx answer that is not JSON is named, with its status and content type', async (t) => {
  const server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end('<!doctype html><p>Sign in</p>'))
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise((resolve) => server.close(resolve)))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const run = await cli(['apps', 'list'], { BROKER_URL: url, BROKER_ADMIN_KEY: ADMIN_KEY })
  t.equal(run.code, 1)
  t.equal(run.stderr, `oneup-broker: the broker answered 200 to GET /v1/admin/apps with text/html; charset=utf-8, not JSON: is ${url} the broker? check --url\n`)
})
