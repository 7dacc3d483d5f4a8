import { connect, type AddressInfo } from 'node:net'
import t from 'tap'
import { pino } from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { loggerOptions } from '../../src/logger.js'
import { brokerEnv, startHarness, startSandbox, throughOneUp } from '../helpers/harness.js'
import { deletePrefix, testPrefix } from '../helpers/redis.js'

interface Line {
  reqId?: string
  msg?: string
  flow?: string
  outcome?: string
  ms?: number
}

const parse = (logs: string[]): Line[] => logs.map((line) => JSON.parse(line) as Line)

t.test('the connect flow and a refresh each log one line with outcome and duration, carrying the request id sent in X-Request-Id', async (t) => {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { now: () => clock.ms } })
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })).json()

  const start = await h.app.inject({ method: 'GET', url: new URL(session.url).pathname, headers: { 'x-request-id': 'trace-start-1' } })
  t.equal(start.statusCode, 302)
  t.equal(start.headers['x-request-id'], 'trace-start-1', 'the id is echoed back')
  const cookies = Object.fromEntries(start.cookies.map((cookie) => [cookie.name, cookie.value]))
  const callbackUrl = await throughOneUp(start.headers.location as string)
  const callback = await h.app.inject({
    method: 'GET',
    url: callbackUrl.pathname + callbackUrl.search,
    cookies,
    headers: { 'x-request-id': 'trace-callback-1' },
  })
  t.equal(callback.statusCode, 200)

  clock.ms += 3600 * 1000
  const token = await h.app.inject({
    method: 'POST',
    url: '/v1/token',
    headers: { authorization: `Bearer ${key}`, 'x-request-id': 'trace-token-1' },
    payload: { tenant_id: 'acme', user_id: 'alice' },
  })
  t.equal(token.statusCode, 200)
  t.equal(token.headers['x-request-id'], 'trace-token-1')

  const lines = parse(h.logs)
  const started = lines.filter((line) => line.msg === 'connect flow started')
  t.equal(started.length, 1, 'one line when the flow starts')
  t.equal(started[0]?.reqId, 'trace-start-1')
  const finished = lines.filter((line) => line.msg === 'connect flow finished')
  t.equal(finished.length, 1, 'one line when it ends')
  t.match(finished[0], { reqId: 'trace-callback-1', flow: 'connected', ms: Number })
  const refreshed = lines.filter((line) => line.outcome !== undefined && line.msg === 'refreshed')
  t.equal(refreshed.length, 1, 'one line per refresh')
  t.match(refreshed[0], { reqId: 'trace-token-1', outcome: 'refreshed', ms: Number })
  for (const id of ['trace-start-1', 'trace-callback-1', 'trace-token-1']) {
    const mine = lines.filter((line) => line.reqId === id).map((line) => line.msg)
    t.ok(mine.includes('incoming request') && mine.includes('request completed'), `Fastify's own lines of ${id} carry it too`)
  }
  for (const line of lines) {
    if (line.flow !== undefined || line.outcome !== undefined) t.type(line.reqId, 'string', `"${line.msg}" carries a request id`)
  }
})

t.test('a request without a usable X-Request-Id gets an id of its own, echoed, never the one sent', async (t) => {
  const h = await startHarness(t)
  for (const sent of [undefined, 'has spaces', '<script>', 'x'.repeat(200)]) {
    const res = await h.app.inject({ method: 'GET', url: '/healthz', headers: sent === undefined ? {} : { 'x-request-id': sent } })
    const echoed = String(res.headers['x-request-id'])
    t.match(echoed, /^req-[0-9a-z]+-[0-9a-z]+$/, `${sent === undefined ? 'none sent' : 'unusable id'}: ours`)
    const completed = parse(h.logs).filter((line) => line.msg === 'request completed').at(-1)
    t.equal(completed?.reqId, echoed, 'and the logs use the same')
  }
})

t.test('domain lines outside any request go to the base logger, with no request id', async (t) => {
  const h = await startHarness(t)
  const { key } = await h.createApp()
  const session = (await h.asApp(key, 'POST', '/v1/connect-sessions', { tenant_id: 'acme', user_id: 'alice' })).json()
  // Called as background work would (no request): the broker's own logger.
  await h.app.broker.connect.start(session.token, undefined)
  const started = parse(h.logs).filter((line) => line.msg === 'connect flow started')
  t.equal(started.length, 1)
  t.equal(started[0]?.reqId, undefined)
})

t.test('a request Node refuses never puts its raw bytes (code, state, cookie) in the log, even at trace', async (t) => {
  const sandbox = await startSandbox(t)
  const prefix = testPrefix()
  const { config } = loadConfig(brokerEnv(sandbox.base, prefix))
  const lines: string[] = []
  const app = await buildApp({ config, logger: pino(loggerOptions('trace'), { write: (line: string) => void lines.push(line) }) })
  t.teardown(async () => {
    await app.close()
    await deletePrefix(prefix)
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  // A browser whose cookie jar is past Node's 16 KB of headers: Node answers 431 and hands Fastify the raw packet.
  await new Promise<void>((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /oauth/callback?code=SECRETCODE123&state=SECRETSTATE456 HTTP/1.1\r\nHost: x\r\nCookie: oneup_broker_flow=SECRETCOOKIE789; jar=${'a'.repeat(20_000)}\r\n\r\n`)
    })
    socket.on('data', () => undefined)
    socket.on('close', () => resolve())
    socket.on('error', () => resolve())
  })
  t.ok(lines.some((line) => /client error|clientError|HPE_HEADER_OVERFLOW|Header overflow/i.test(line)), 'the refused request was logged')
  const text = lines.join('\n')
  t.notMatch(text, /rawPacket/, 'without its raw bytes')
  t.notMatch(text, /SECRETCODE123|SECRETSTATE456|SECRETCOOKIE789/, 'no code, state or cookie in any line')
})
