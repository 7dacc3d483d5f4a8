import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'

/**
 * Names of fields that can hold a token, a code, a verifier, a state, a key,
 * a cookie or a secret, in the spellings the broker, OneUp and openid-client use.
 */
const SECRET_FIELDS = [
  'authorization',
  'cookie',
  'set-cookie',
  'access_token',
  'accessToken',
  'refresh_token',
  'refreshToken',
  'id_token',
  'code',
  'code_verifier',
  'verifier',
  'pkceCodeVerifier',
  'state',
  'token',
  'key',
  'client_secret',
  'clientSecret',
  'secret',
  'password',
  'sealed',
]

/**
 * Where redaction looks: the request's and answer's headers, and each secret
 * field at the top of a log object and one level down (`{ err: { … } }`,
 * `{ body: { … } }`). Top-level `code` is left alone: it is the broker's
 * error code in the error handler's lines, never an OAuth code.
 */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-authorization"]',
  'res.headers["set-cookie"]',
  ...SECRET_FIELDS.filter((field) => field !== 'code').map((field) => (/^[A-Za-z_]+$/.test(field) ? field : `["${field}"]`)),
  ...SECRET_FIELDS.map((field) => (/^[A-Za-z_]+$/.test(field) ? `*.${field}` : `*["${field}"]`)),
]

/**
 * Log options shared by the server and the tests. Requests are logged by route
 * pattern, never by raw URL: `/connect/<token>` and `/oauth/callback?code&state`
 * carry secrets. Redaction is the second wall, for anything logged by mistake.
 */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    serializers: {
      req(request: FastifyRequest) {
        return { method: request.method, route: request.routeOptions?.url ?? '(no route)' }
      },
    },
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/
let counter = 0

/** Honours a sane incoming `X-Request-Id` (so logs join up across services), else makes one. */
export function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const incoming = request.headers['x-request-id']
  if (typeof incoming === 'string' && REQUEST_ID.test(incoming)) return incoming
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER
  return `req-${process.pid.toString(36)}-${counter.toString(36)}`
}
