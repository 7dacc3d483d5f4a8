import { TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync } from 'fastify'
import { apiRoutes } from './api.js'
import { authorizeRoutes } from './authorize.js'
import { controlRoutes } from './control.js'
import { resolveSandboxOptions, type SandboxOptions } from './options.js'
import { SandboxState } from './state.js'
import { tokenRoutes } from './token.js'

export type { SandboxClient, SandboxOptions } from './options.js'

/** How often expired codes, pending logins, tokens and rate windows are forgotten. */
const SWEEP_INTERVAL_MS = 60_000

/**
 * The OneUp sandbox: a simulator of OneUp's OAuth2 server (Ory Hydra) and of `GET /v1/me`,
 * holding its state in memory. Register it with `{ prefix: '/sandbox' }` and without
 * fastify-plugin: it stays encapsulated, so its body parsers, validator and error handlers
 * never touch the host app. Each registration is one independent OneUp.
 *
 * @throws TypeError at registration when the options are invalid.
 */
export const sandboxPlugin: FastifyPluginAsync<SandboxOptions> = async (app, options) => {
  const state = new SandboxState(resolveSandboxOptions(options))
  app.setValidatorCompiler(TypeBoxValidatorCompiler)

  const sweeper = setInterval(() => state.sweep(), SWEEP_INTERVAL_MS)
  sweeper.unref()
  app.addHook('onClose', async () => clearInterval(sweeper))

  await app.register(authorizeRoutes, { state })
  await app.register(tokenRoutes, { state })
  await app.register(apiRoutes, { state })
  await app.register(controlRoutes, { state })
}
