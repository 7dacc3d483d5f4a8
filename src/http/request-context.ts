import { AsyncLocalStorage } from 'node:async_hooks'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { Log } from '../log.js'

/** The logger of the request being served, if any, across every await of its handling. */
const current = new AsyncLocalStorage<FastifyBaseLogger>()

/**
 * A logger for domain code that writes through the logger of the request being
 * served (so the line carries its `reqId`), and through `base` outside any
 * request (start-up, background work). The domain stays free of Fastify.
 */
export function requestScopedLog(base: FastifyBaseLogger): Log {
  const through =
    (level: 'info' | 'warn' | 'error' | 'debug') =>
    (...args: unknown[]): void => {
      const log = current.getStore() ?? base
      ;(log[level] as (...a: unknown[]) => void).apply(log, args)
    }
  return { info: through('info'), warn: through('warn'), error: through('error'), debug: through('debug') } as Log
}

/**
 * Runs each request inside its own logging context and echoes its id in
 * `X-Request-Id`, so a caller can quote it and ops can find every line of it.
 * The id is the incoming `X-Request-Id` when sane (see `requestId`), else ours.
 */
export function registerRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    // `run` (not `enterWith`): the rest of the request's hooks and handler run inside `done`.
    current.run(request.log, done)
  })
}
