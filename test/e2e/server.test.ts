import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createServer, type AddressInfo } from 'node:net'
import t from 'tap'
import { freePort, SERVER_JS, startReplica } from '../helpers/replica.js'
import { deletePrefix, redisEnv, testPrefix } from '../helpers/redis.js'

/** Runs the built server until it exits; returns its exit code and everything it printed. */
function runToExit(env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [SERVER_JS], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

const secrets = () => ({
  TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
  COOKIE_SECRET: randomBytes(32).toString('base64url'),
  BROKER_ADMIN_KEY: randomBytes(32).toString('base64url'),
})

t.test('without a reachable Redis the server says so in one line, with how to start one, and exits 1', async (t) => {
  const port = await freePort()
  // An `@` in the password: the URL parser (and ioredis) take the last one as the end of it.
  const { code, output } = await runToExit({ ...secrets(), REDIS_URL: `redis://admin:hun@ter2@127.0.0.1:${port}` })
  t.equal(code, 1)
  const lines = output.trim().split('\n')
  t.equal(lines.length, 1, 'one line, no stack trace')
  t.match(lines[0], /Cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+ \(ECONNREFUSED\)/)
  t.match(lines[0], /redis-server --daemonize yes/)
  t.notMatch(output, /hun|ter2|admin/, 'neither the Redis password nor the user is printed, not even in part')
})

t.test('a port in use stops the start in one line that says what to change', async (t) => {
  const busy = createServer()
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve))
  t.teardown(() => busy.close())
  const port = (busy.address() as AddressInfo).port
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const { code, output } = await runToExit({ ...secrets(), ...redisEnv(), REDIS_KEY_PREFIX: prefix, PORT: String(port) })
  t.equal(code, 1)
  t.match(output, new RegExp(`Cannot listen on 127\\.0\\.0\\.1:${port} \\(EADDRINUSE\\)\\. Stop what uses it, or set PORT`))
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})

t.test('a REDIS_URL that does not parse stops the start, naming it, without printing it', async (t) => {
  const { code, output } = await runToExit({ ...secrets(), REDIS_URL: 'redis://user:top/secretpw@127.0.0.1:1/0' })
  t.equal(code, 1)
  t.match(output, /REDIS_URL is not a valid URL/)
  t.notMatch(output, /secretpw/)
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})

t.test('in production a missing secret stops the start, naming each variable', async (t) => {
  const { code, output } = await runToExit({ NODE_ENV: 'production', COOKIE_SECRET: 'too-short', PORT: '-1' })
  t.equal(code, 1)
  for (const name of ['PORT', 'ONEUP_CLIENT_ID', 'ONEUP_CLIENT_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'COOKIE_SECRET']) t.match(output, name)
  t.notMatch(output, /too-short/)
  t.notMatch(output, /\n\s+at /, 'no stack trace')
})

t.test('a running server answers /healthz and /readyz, and closes cleanly on SIGTERM', async (t) => {
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const replica = await startReplica(t, { ...secrets(), REDIS_KEY_PREFIX: prefix, LOG_LEVEL: 'info' })
  const health = await fetch(`${replica.url}/healthz`)
  t.equal(health.status, 200)
  t.same(await health.json(), { status: 'ok' })
  const ready = await fetch(`${replica.url}/readyz`)
  t.equal(ready.status, 200)
  t.ok(replica.output.some((line) => line.includes('sandbox mode')), 'says it runs in sandbox mode')
  const port = new URL(replica.url).port
  t.ok(replica.output.some((line) => line.includes(`ready at http://localhost:${port} `)), `says where it is: on PORT ${port}, not 3000`)
  t.equal(await replica.stop('SIGTERM'), 0)
})
