import Fastify, { type FastifyInstance } from 'fastify'
import { sandboxPlugin, type SandboxOptions } from './plugin.js'

/** A Fastify app serving one OneUp sandbox under `/sandbox`. Not yet listening. */
export function buildSandboxServer(opts: SandboxOptions & { logger?: boolean }): FastifyInstance {
  const { logger = false, ...options } = opts
  const app = Fastify({ logger })
  app.register(sandboxPlugin, { ...options, prefix: '/sandbox' })
  return app
}
