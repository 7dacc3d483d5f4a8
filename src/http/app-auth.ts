import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AuthenticatedApp } from '../apps/authenticator.js'
import type { Broker } from '../broker.js'
import { BrokerError } from '../errors.js'
import { enforce, type RateState } from '../limits.js'
import { toBrokerError } from './errors.js'
import { rateWindow } from '../store/window.js'
import { bearer } from './schemas.js'

declare module 'fastify' {
  interface FastifyRequest {
    /** The internal app that made this call (app routes only). */
    callerApp: AuthenticatedApp
  }
  interface FastifyContextConfig {
    /** The handler counts the call itself, together with its own read (the hand-out). */
    countsItself?: boolean
  }
}

/** Sets the seed's `X-Ratelimit-*` headers. */
export function setRateHeaders(reply: FastifyReply, rate: RateState): void {
  reply.header('x-ratelimit-limit', String(rate.limit))
  reply.header('x-ratelimit-remaining', String(rate.remaining))
  reply.header('x-ratelimit-used', String(rate.used))
}

/**
 * Hook of every app route (`onRequest`: before the body is even read): the
 * bearer key must be an active app key, under the client IP's limit on failed
 * authentications; the call is counted in the app's window (unless the route
 * does it itself, in the same round trip as its read).
 */
export function appAuthHook(broker: Broker) {
  return async function authenticateApp(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const key = bearer(request.headers.authorization)
    const app =
      broker.authenticator.cached(key) ?? (await request.server.ipLimits.authenticate(request, () => broker.authenticator.authenticate(key)))
    request.callerApp = app
    if (request.routeOptions.config.countsItself === true) return
    const now = broker.now()
    const rate = await broker.authenticator.count(app, rateWindow(now))
    setRateHeaders(reply, rate)
    enforce(rate, now, 'app')
  }
}

/**
 * Error handler of the app routes: a call refused before its handler could count
 * it (a body that does not parse or validate, on a route that counts itself) is
 * still a call of the app: counted, and answered with the rate headers, or with
 * 429 once over the limit. Then the error goes on to the app-wide handler.
 */
export function countRefusedCalls(broker: Broker) {
  return async function countRefusedCall(error: unknown, request: FastifyRequest, reply: FastifyReply): Promise<never> {
    const app = request.callerApp as AuthenticatedApp | undefined
    if (app !== undefined && !reply.hasHeader('x-ratelimit-limit') && toBrokerError(error).status < 500) {
      const now = broker.now()
      const rate = await broker.authenticator.count(app, rateWindow(now))
      setRateHeaders(reply, rate)
      enforce(rate, now, 'app')
    }
    throw error
  }
}

/** Re-throws a BrokerError outcome after its headers were set, or returns the answer. */
export function unwrap<T>(outcome: T | BrokerError): T {
  if (outcome instanceof BrokerError) throw outcome
  return outcome
}
