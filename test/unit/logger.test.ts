import t from 'tap'
import { pino } from 'pino'
import { lazyChildLogger, loggerOptions } from '../../src/logger.js'

/** A logger with the broker's options, writing into an array. */
function capture() {
  const lines: string[] = []
  const log = pino(loggerOptions('debug'), { write: (line: string) => void lines.push(line) })
  return { log, lines }
}

const FIELDS = ['authorization', 'cookie', 'set-cookie', 'access_token', 'accessToken', 'refresh_token', 'refreshToken', 'id_token', 'code_verifier', 'verifier', 'pkceCodeVerifier', 'state', 'token', 'key', 'client_secret', 'clientSecret', 'secret', 'password', 'sealed']

t.test('every field that can hold a secret is redacted, at the top of a line and one level down', async (t) => {
  const { log, lines } = capture()
  const top = Object.fromEntries(FIELDS.map((f) => [f, `top-${f}-value`]))
  const nested = Object.fromEntries([...FIELDS, 'code'].map((f) => [f, `nested-${f}-value`]))
  log.info({ ...top, err: nested, body: nested, req: { headers: { authorization: 'Bearer hdr-value', cookie: 'c=hdr-cookie', 'x-api-authorization': 'hdr-api' } } }, 'hello')
  const line = lines.join('\n')
  t.notMatch(line, /-value|hdr-/, 'no secret value survives')
  t.match(line, /"\[redacted\]"/)
})

t.test('a Redis error reply is logged without the command ioredis hangs on it (its arguments are sealed tokens, key hashes)', async (t) => {
  const { log, lines } = capture()
  const reply = Object.assign(new Error('OOM command not allowed when used memory > maxmemory.'), {
    name: 'ReplyError',
    command: { name: 'evalsha', args: ['0123abcd', '7', 'ob:{t:acme}:c:alice', 'sealed', 'eyJhbGciOiJkaXIi.secret-jwe'] },
  })
  log.error({ err: reply }, 'internal')
  log.error({ failure: { command: reply.command } }, 'elsewhere')
  const text = lines.join('\n')
  t.notMatch(text, /secret-jwe|evalsha/, 'neither the arguments nor the command')
  t.match(lines[0], /OOM command not allowed/, "the reply's own words stay")
  t.match(lines[0], /"type":"Error"/)
})

t.test('the broker\'s own error code stays readable at the top of a line', async (t) => {
  const { log, lines } = capture()
  log.error({ code: '0' }, 'internal')
  t.match(lines[0], /"code":"0"/)
})

t.test('requests are logged by route pattern, never by URL (a link or callback URL carries secrets)', async (t) => {
  const serializer = loggerOptions('info').serializers?.req as (request: unknown) => unknown
  t.same(serializer({ method: 'GET', url: '/connect/cs_secret', routeOptions: { url: '/connect/:token' } }), { method: 'GET', route: '/connect/:token' })
  t.same(serializer({ method: 'GET', url: '/oauth/callback?code=c&state=s' }), { method: 'GET', route: '(no route)' })
})

t.test('a request logger is made only when a line is written, and writes it like a real child', async (t) => {
  const lines: string[] = []
  const parent = pino(loggerOptions('warn'), { write: (line: string) => void lines.push(line) })
  let children = 0
  const counting = Object.assign(Object.create(parent) as typeof parent, {
    child: (...args: Parameters<typeof parent.child>) => {
      children += 1
      return parent.child(...args)
    },
  })
  const quiet = lazyChildLogger(counting, { reqId: 'r1' }, {})
  quiet.info({ n: 1 }, 'below the level')
  quiet.debug('below too')
  t.equal(children, 0, 'nothing written, no child made')
  t.equal(quiet.level, 'warn', 'it reports its parent\'s level')
  t.same(lines, [])

  const loud = lazyChildLogger(counting, { reqId: 'r2' }, {})
  loud.warn({ token: 'tok-value' }, 'one')
  loud.error('two')
  loud.fatal('three')
  t.equal(children, 1, 'one child for every line of the request')
  const written = lines.map((line) => JSON.parse(line) as { reqId: string; msg: string; token?: string })
  t.same(written.map((line) => [line.reqId, line.msg]), [['r2', 'one'], ['r2', 'two'], ['r2', 'three']])
  t.equal(written[0]?.token, '[redacted]', 'redaction applies as on a real child')

  const grandchild = loud.child({ flow: 'f' })
  grandchild.warn('four')
  t.match(lines.at(-1), /"reqId":"r2".*"flow":"f"/)
  loud.silent('never either')
  loud.trace('never')
  t.equal(lines.length, 4)

  const ownLevel = lazyChildLogger(counting, { reqId: 'r3' }, { level: 'debug' })
  ownLevel.debug('a route with its own level')
  t.match(lines.at(-1), /"reqId":"r3"/, 'a route with a level of its own gets a real child at once')
})
