import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { adminRoutes } from './admin/routes.js'
import { createBroker, type Broker, type BrokerDeps } from './broker.js'
import { demoRoutes } from './demo/routes.js'
import type { Config } from './config/config.js'
import { registerErrorHandling, sendUnroutable } from './http/errors.js'
import { ipLimitsPlugin } from './http/ip-limits.js'
import { registerOpenApi } from './http/openapi.js'
import { registerRequestContext } from './http/request-context.js'
import { appApiRoutes } from './http/routes/app-api.js'
import { appConnectionRoutes } from './http/routes/connections.js'
import { browserRoutes } from './http/routes/browser.js'
import { docsRoutes } from './http/routes/docs.js'
import { healthRoutes } from './http/routes/health.js'
import { securityHeadersPlugin } from './http/security-headers.js'
import { lazyChildLogger, loggerOptions, requestId } from './logger.js'
import { registerMetrics } from './metrics/plugin.js'
import { sandboxPlugin } from './sandbox/plugin.js'
import { createRedisClient, type RedisClient } from './store/redis.js'

declare module 'fastify' {
  interface FastifyInstance {
    broker: Broker
  }
}

export interface AppOptions extends Pick<BrokerDeps, 'fetch' | 'now' | 'refreshPolicy' | 'events' | 'ops'> {
  config: Config
  /** A pino logger to use; by default one is made from `config.logLevel`. */
  logger?: FastifyBaseLogger
  /** A Redis client to use (the app closes it on close); by default one is made from config. */
  redis?: RedisClient
}

/**
 * Logs Redis connection errors at most once every 10 s: ioredis reports each
 * reconnection attempt, and a down Redis should page ops, not flood the logs.
 * Requests meanwhile answer 503 (code 9) by themselves.
 */
function redisErrorLogger(log: FastifyBaseLogger): (error: Error) => void {
  let last = 0
  return (error) => {
    const now = Date.now()
    if (now - last < 10_000) return
    last = now
    // Not `code` (redacted everywhere as a possible OAuth code): `redis_error` is ECONNREFUSED and the like.
    log.error({ err: { message: error.message }, redis_error: (error as { code?: string }).code }, 'Redis connection error')
  }
}

/** Largest request body (JSON): every broker request is tiny. */
export const BODY_LIMIT = 16 * 1024

/** Longest path parameter the router takes; Node caps the request line lower anyway (16 KB of headers). */
export const MAX_PARAM_LENGTH = 16 * 1024

/** Time to receive a whole request; answering it may take longer (a refresh waits on OneUp). */
export const REQUEST_TIMEOUT_MS = 30_000

/**
 * Builds the broker's HTTP app. The order below is the architecture:
 * errors → request context → OpenAPI → metrics → security headers → per-IP limits → health →
 * OneUp sandbox (dev) → browser flow → app API → admin API → docs → demo (dev).
 */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { config } = options
  const app = Fastify({
    ...(options.logger === undefined ? { logger: loggerOptions(config.logLevel) } : { loggerInstance: options.logger }),
    bodyLimit: BODY_LIMIT,
    // A client gets this long to send its whole request (Fastify's default is no limit): slow-drip bodies end in a 408.
    requestTimeout: REQUEST_TIMEOUT_MS,
    genReqId: requestId,
    childLoggerFactory: lazyChildLogger,
    // Wrong types are errors (seed, "Wrong values"), not silently coerced.
    ajv: { customOptions: { coerceTypes: false } },
    // X-Forwarded-For is believed from TRUSTED_PROXIES only: anyone else could pick the IP its limits count.
    trustProxy: config.trustedProxies.length > 0 ? config.trustedProxies : false,
    // The router's default limit (100) refused valid 128-character ids. It guards regex
    // parameters, which no route has: each parameter's schema decides its length instead.
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (error, request, reply) => void sendUnroutable(request, reply, error),
  })
  registerErrorHandling(app)
  // Every broker body is JSON: a text/plain body is a wrong content type (400), not a 422 "must be object".
  app.removeContentTypeParser('text/plain')
  acceptEmptyJsonWithoutBody(app)
  registerRequestContext(app)
  // Before any route: the OpenAPI generator and the metrics hook must see them all.
  await registerOpenApi(app, config.publicUrl)

  const redis = options.redis ?? createRedisClient(config.redis)
  redis.on('error', redisErrorLogger(app.log))
  app.addHook('onClose', async () => {
    await redis.quit().catch(() => redis.disconnect())
  })
  const brokerDeps: BrokerDeps = { config, redis, log: app.log }
  if (options.fetch !== undefined) brokerDeps.fetch = options.fetch
  if (options.now !== undefined) brokerDeps.now = options.now
  if (options.refreshPolicy !== undefined) brokerDeps.refreshPolicy = options.refreshPolicy
  if (options.events !== undefined) brokerDeps.events = options.events
  if (options.ops !== undefined) brokerDeps.ops = options.ops
  const broker = createBroker(brokerDeps)
  app.decorate('broker', broker)
  registerMetrics(app, broker.events, {
    redisReady: () => redis.status === 'ready',
    redisAnswers: async () => redis.status === 'ready' && (await redis.ping().then(() => true, () => false)),
    webhookQueue: () => broker.webhookQueue.depths(),
  })
  // Background workers (webhook delivery, re-encryption, keep-alive) run while the app does.
  app.addHook('onReady', async () => broker.workers.start())
  app.addHook('preClose', async () => broker.workers.stop())

  await app.register(securityHeadersPlugin, { publicUrl: config.publicUrl })
  await app.register(ipLimitsPlugin, { broker })
  await app.register(healthRoutes, { broker })
  if (config.sandbox) {
    await app.register(sandboxPlugin, {
      prefix: '/sandbox',
      clients: [
        {
          id: config.oneup.clientId,
          secrets: [config.oneup.clientSecret, config.oneup.clientSecretPrevious].filter((s): s is string => s !== undefined),
          redirectUris: [config.oneup.redirectUri],
        },
      ],
    })
  }
  await app.register(browserRoutes, { broker }) // with the flow cookie
  await app.register(appApiRoutes, { broker })
  await app.register(appConnectionRoutes, { broker })
  await app.register(adminRoutes, { broker })
  await app.register(docsRoutes)
  if (config.sandbox) await app.register(demoRoutes, { broker })
  return app
}

/**
 * Many HTTP clients send `Content-Type: application/json` on every call, a DELETE
 * with no body included: on a route that takes no body, an empty one is no body,
 * not unparsable JSON. Everything else goes to Fastify's own parser (and its
 * prototype-poisoning checks), so an empty body where one is expected stays a 400.
 */
function acceptEmptyJsonWithoutBody(app: FastifyInstance): void {
  const json = app.getDefaultJsonParser('error', 'error')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '' && request.routeOptions.schema?.body === undefined) return done(null, undefined)
    json(request, body as string, done)
  })
}

