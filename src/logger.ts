import type { FastifyRequest } from 'fastify'
import type { LoggerOptions } from 'pino'

/**
 * Log options shared by the server and the tests. Requests are logged by route
 * pattern, never by raw URL: `/connect/<token>` and `/oauth/callback?code&state`
 * carry secrets. Redaction is the second wall, for anything logged by mistake.
 */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'res.headers["set-cookie"]',
        '*.authorization',
        '*.access_token',
        '*.refresh_token',
        '*.code',
        '*.code_verifier',
        '*.client_secret',
        '*.state',
        '*.token',
        '*.key',
        '*.password',
      ],
      censor: '[redacted]',
    },
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
