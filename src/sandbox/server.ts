import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import { NOT_FOUND, UNPARSABLE } from './api.js'
import { sandboxPlugin, type SandboxOptions } from './plugin.js'

/** A Fastify app serving one OneUp sandbox under `/sandbox`. Not yet listening. */
export function buildSandboxServer(opts: SandboxOptions & { logger?: boolean }): FastifyInstance {
  const { logger = false, ...options } = opts
  const app = Fastify({
    logger,
    // Unknown paths, methods and unparsable URLs answer in the seed's error format, as OneUp does
    // (mounted in the broker, the broker's own handlers do the same).
    frameworkErrors: (_error, _request, reply) => {
      void (reply as FastifyReply).code(400).send(UNPARSABLE)
    },
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(NOT_FOUND))
  app.register(sandboxPlugin, { ...options, prefix: '/sandbox' })
  return app
}
