import type { FastifyInstance } from 'fastify'

/**
 * Echoes each request's id in `X-Request-Id`, so a caller can quote it and ops
 * can find every line of it. The id is the incoming `X-Request-Id` when sane
 * (see `requestId`), else ours. Domain code that logs for a request is handed
 * that request's logger (`request.log`), so its lines carry the same id.
 */
export function registerRequestContext(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
}
