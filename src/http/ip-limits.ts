import rateLimit, { normalizeIP, type RateLimitOptions } from '@fastify/rate-limit'
import { isIP } from 'node:net'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { Broker } from '../broker.js'
import { BrokerError } from '../errors.js'
import { WINDOW_MS } from '../store/window.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Per-client-IP limits: on the browser routes, and on failed authentication. */
    ipLimits: IpLimits
  }
}

export interface IpLimits {
  /** `config.rateLimit` of a browser route: calls per client IP per 15-minute window. */
  readonly browserRoute: RateLimitOptions
  /**
   * Runs one authentication attempt under the client IP's failed-authentication
   * limit. Each failure (a `401`) is counted, even among parallel attempts; once an IP has failed
   * `AUTH_FAILURE_LIMIT` times in its window, every attempt from it answers 429
   * (code 4) with `Retry-After`, right or wrong, so guessing stops paying.
   * A key this replica already verified does not come here (see
   * `appAuthHook`): the hand-out's hot path makes no extra Redis call.
   */
  authenticate<T>(request: FastifyRequest, attempt: () => Promise<T>): Promise<T>
}

/**
 * The client's address as the rate-limit key, hash-tagged like every broker
 * key. IPv6 clients are counted per /64 (one host owns a whole /64, so
 * counting single addresses would let it rotate through them).
 */
const ipTag = (request: FastifyRequest): string => `{ip:${normalizeIP(clientAddress(request))}}`

/**
 * `request.ip` honours `TRUSTED_PROXIES` and nothing else, but a trusted proxy
 * may write `ip:port` or `[v6]:port` in X-Forwarded-For (Azure's gateway
 * does): counted as is, each new source port would be a new client. An entry
 * that is still no address counts under the proxy's own, which fails closed.
 */
function clientAddress(request: Pick<FastifyRequest, 'ip' | 'socket'>): string {
  const address = withoutPort(request.ip ?? '')
  return isIP(address) !== 0 ? address : (request.socket?.remoteAddress ?? 'unknown')
}

function withoutPort(address: string): string {
  if (isIP(address) !== 0) return address
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(address)
  if (bracketed?.[1] !== undefined) return bracketed[1]
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(address)
  return v4?.[1] ?? address
}

/** The seed's 429 for a per-IP bucket; on browser routes the error handler renders it as a page. */
function limited(retryAfterSeconds: number, what: string): BrokerError {
  return new BrokerError('RateLimited', {
    reason: `Too many ${what} from this address in this 15-minute window.`,
    retryAfter: Math.max(1, retryAfterSeconds),
  })
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown }
const settle = <T>(promise: Promise<T>): Promise<Settled<T>> =>
  promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  )

/**
 * Registers `@fastify/rate-limit` on the broker's Redis (so every replica
 * shares the counts) with no global limit, and decorates the app with
 * {@link IpLimits}. Register it before the routes that use `browserRoute`.
 * Keys: `<prefix>ip:auth:{ip:<addr>}` for failures, `<prefix>ip:<METHOD><route>-{ip:<addr>}` per browser route.
 */
export const ipLimitsPlugin = fp(
  async (app: FastifyInstance, { broker }: { broker: Broker }) => {
    const { config } = broker
    const nameSpace = `${config.redis.keyPrefix}ip:`
    const failureKey = (request: FastifyRequest) => `auth:${ipTag(request)}`
    await app.register(rateLimit, {
      global: false,
      redis: broker.redis,
      nameSpace,
      timeWindow: WINDOW_MS,
      // These global settings are the failed-authentication bucket's (createRateLimit below).
      max: config.ipLimits.authFailures,
      keyGenerator: failureKey,
      // The seed has no X-Ratelimit-Reset; Retry-After says when on a 429.
      addHeaders: { 'x-ratelimit-reset': false },
      addHeadersOnExceeding: { 'x-ratelimit-reset': false },
      errorResponseBuilder: (_request, context) => limited(Math.ceil(context.ttl / 1000), 'requests'),
    })
    const failures = app.createRateLimit()

    const ipLimits: IpLimits = {
      browserRoute: { max: config.ipLimits.browser, timeWindow: WINDOW_MS, keyGenerator: ipTag },

      async authenticate(request, attempt) {
        // Every attempt is counted before its outcome is known (a burst of guesses in parallel
        // must not all be judged before the first failures are counted), in the same round trip
        // as the attempt's own read; an attempt that was not a failure gives its count back.
        const [count, outcome] = await Promise.all([failures(request), settle(attempt())])
        const failed = !outcome.ok && outcome.error instanceof BrokerError && outcome.error.kind === 'Unauthorized'
        if (!failed) broker.redis.obCountBack(`${nameSpace}${failureKey(request)}`).catch(() => undefined)
        if (!count.isAllowed && count.isExceeded) throw limited(count.ttlInSeconds, 'failed authentications')
        if (outcome.ok) return outcome.value
        throw outcome.error
      },
    }
    app.decorate('ipLimits', ipLimits)
  },
  { name: 'ip-limits', fastify: '5.x' },
)
