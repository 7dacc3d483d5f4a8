import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { stdSerializers, type Bindings, type ChildLoggerOptions, type Logger, type LoggerOptions } from 'pino'

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
  // ioredis hangs the command and its arguments on a Redis error (sealed token sets, key hashes).
  '*.command',
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
      err: errorWithoutPayloads,
    },
  }
}

/**
 * pino's error serializer, less what carries another party's bytes:
 * - the `command` ioredis attaches to an error reply (`{name, args}`: the
 *   arguments of a write are sealed token sets, key hashes, sealed PKCE verifiers);
 * - the `rawPacket` Node attaches to a request it could not parse (Fastify logs
 *   it at trace): the request line and headers, so a callback's code and state
 *   and the browser's cookies.
 * The error's own words stay in the message.
 */
export function errorWithoutPayloads(error: unknown): unknown {
  const serialized = stdSerializers.err(error as Error) as unknown
  if (typeof serialized !== 'object' || serialized === null) return serialized
  const { command: _command, rawPacket: _rawPacket, ...rest } = serialized as Record<string, unknown>
  return rest
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

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

/**
 * Fastify gives every request a child logger (`request.log`), and pino's
 * `child()` runs the redaction over the child's bindings each time: a few
 * percent of a hand-out that, at `warn`, writes no line at all. This
 * stand-in makes the real child on the first line actually written, so a
 * request that logs nothing costs one small object. Used as Fastify's
 * `childLoggerFactory`; a route with a level of its own gets a real child.
 */
export function lazyChildLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  const pinoParent = parent as Partial<Logger>
  if (options.level !== undefined || typeof pinoParent.isLevelEnabled !== 'function') return parent.child(bindings, options)
  return new LazyChild(parent, bindings, options) as unknown as FastifyBaseLogger
}

class LazyChild {
  private real: FastifyBaseLogger | undefined

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  get level(): string {
    return this.parent.level
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args)
  }
  error(...args: unknown[]): void {
    this.write('error', args)
  }
  warn(...args: unknown[]): void {
    this.write('warn', args)
  }
  info(...args: unknown[]): void {
    this.write('info', args)
  }
  debug(...args: unknown[]): void {
    this.write('debug', args)
  }
  trace(...args: unknown[]): void {
    this.write('trace', args)
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.materialize().child(bindings, options)
  }

  private write(level: Level, args: unknown[]): void {
    if (!(this.parent as Logger).isLevelEnabled(level)) return
    ;(this.materialize()[level] as (...line: unknown[]) => void)(...args)
  }

  private materialize(): FastifyBaseLogger {
    this.real ??= this.parent.child(this.bindings, this.options)
    return this.real
  }
}
