import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { BrokerError } from '../errors.js'
import { onceEvery } from '../log.js'
import { isRedisUnavailable } from '../store/redis.js'
import { EXPIRED_LINK } from './error-words.js'
import { PAGE_HEADERS, renderPage } from './pages.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route answers browsers: errors are HTML pages, not JSON. */
    html?: boolean
  }
}

/** Turns anything thrown into the client-facing error, hiding 5xx details. */
export function toBrokerError(error: unknown): BrokerError {
  if (error instanceof BrokerError) return error
  if (isRedisUnavailable(error)) return new BrokerError('StoreUnavailable', { retryAfter: 1, cause: error })
  const fastifyError = error as Partial<FastifyError>
  if (fastifyError.validation !== undefined) {
    const first = fastifyError.validation[0]
    const where = `${fastifyError.validationContext ?? 'request'}${first?.instancePath ?? ''}`
    const field = (first?.params as { missingProperty?: string } | undefined)?.missingProperty
    // ajv's message names the rule (pattern, type, bounds), never the value sent.
    return new BrokerError('InvalidField', { reason: `${where}${field === undefined ? '' : `/${field}`} ${first?.message ?? 'is invalid'}` })
  }
  switch (fastifyError.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new BrokerError('TooLarge', { reason: 'The body is over the size limit.' })
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new BrokerError('Unparsable', { reason: 'The body is not valid JSON.' })
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new BrokerError('Unparsable', { reason: 'Send application/json.' })
    default:
      break
  }
  const status = fastifyError.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    // Other framework 4xx (bad content-length, prototype poisoning, …): the request was not parsed.
    return new BrokerError('Unparsable')
  }
  return new BrokerError('Internal', { cause: error })
}

/** Sends a BrokerError as JSON in the seed's shape, or as a page on browser routes. */
export function sendError(request: FastifyRequest, reply: FastifyReply, error: BrokerError): FastifyReply {
  if (error.retryAfter !== undefined) reply.header('retry-after', String(error.retryAfter))
  if (error.status === 401) reply.header('www-authenticate', 'Bearer')
  reply.code(error.status)
  if (request.routeOptions.config.html === true) {
    return reply.headers(PAGE_HEADERS).send(
      renderPage({
        title: error.status >= 500 ? 'Something went wrong' : 'This did not work',
        paragraphs: [error.status >= 500 ? 'Please try again in a moment.' : (error.reason ?? error.message)],
        tone: 'error',
      }),
    )
  }
  return reply.send(error.toJSON())
}

/** Answers a request the router could not take (bad percent-encoding, an over-long path parameter). */
export function sendUnroutable(request: FastifyRequest, reply: FastifyReply, cause: unknown): FastifyReply {
  if (request.url.startsWith('/connect/')) {
    // A browser following a mangled link: the same page as any unknown link.
    return reply.code(404).headers(PAGE_HEADERS).send(renderPage({ ...EXPIRED_LINK, tone: 'error' }))
  }
  return sendError(request, reply, new BrokerError('Unparsable', { cause }))
}

/** One error handler and one not-found handler for the whole app. */
export function registerErrorHandling(app: FastifyInstance): void {
  // During an outage every request fails the same way: one line every 10 s says so (the
  // connection error logger says why), not one line with a stack per request.
  const storeDownLogged = onceEvery(10_000)
  app.setErrorHandler((error, request, reply) => {
    const brokerError = toBrokerError(error)
    if (brokerError.kind === 'StoreUnavailable') {
      if (storeDownLogged()) request.log.error({ err: brokerError.cause ?? error, code: brokerError.code }, 'Redis unavailable: answering 503 code 9 (logged once every 10 s)')
    } else if (brokerError.status >= 500) {
      const cause = brokerError.kind === 'Internal' ? error : (brokerError.cause ?? error)
      request.log.error({ err: cause, code: brokerError.code }, brokerError.message)
    }
    return sendError(request, reply, brokerError)
  })
  app.setNotFoundHandler((request, reply) =>
    sendError(request, reply, new BrokerError('NotFound', { reason: `No route ${request.method} for this path.` })),
  )
}
