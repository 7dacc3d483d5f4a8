import t from 'tap'
import { pino } from 'pino'
import { loggerOptions } from '../../src/logger.js'

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
