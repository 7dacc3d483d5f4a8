import formbody from '@fastify/formbody'
import type { FastifyInstance } from 'fastify'

/**
 * Makes this context parse `application/x-www-form-urlencoded` bodies and nothing else, as
 * Hydra reads only form posts: any other media type is refused before a handler runs.
 */
export async function acceptOnlyForms(app: FastifyInstance): Promise<void> {
  app.removeAllContentTypeParsers()
  await app.register(formbody, { bodyLimit: 64 * 1024 })
}
