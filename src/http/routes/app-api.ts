import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Broker } from '../../broker.js'
import { appAuthHook, countRefusedCalls, setRateHeaders, unwrap } from '../app-auth.js'
import { BearerHeaders, ErrorBody, TenantId, UserId } from '../schemas.js'

const TokenAnswer = Type.Object({
  access_token: Type.String(),
  token_type: Type.Literal('Bearer'),
  expires_in: Type.Integer({ description: 'Seconds the access token has left' }),
  expires_at: Type.String({ format: 'date-time' }),
  scope: Type.String(),
})

/** The API internal apps call with their key (CONTRACT §3). */
export const appApiRoutes: FastifyPluginAsync<{ broker: Broker }> = async (fastify, { broker }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.addHook('onRequest', appAuthHook(broker))
  app.setErrorHandler(countRefusedCalls(broker))

  app.post(
    '/v1/connect-sessions',
    {
      schema: {
        summary: 'Create a connect link for one user of one tenant',
        headers: BearerHeaders,
        body: Type.Object({
          tenant_id: TenantId,
          user_id: UserId,
          return_to: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, description: 'Where to send the user afterwards; on one of the app\'s return_origins' })),
        }),
        response: {
          201: Type.Object({ token: Type.String(), url: Type.String(), expires_at: Type.String({ format: 'date-time' }) }),
          '4xx': ErrorBody,
        },
      },
    },
    async (request, reply) => {
      const { tenant_id: tenantId, user_id: userId, return_to: returnTo } = request.body
      const session = await broker.connect.createSession(request.callerApp, { tenantId, userId, returnTo })
      return reply.code(201).header('cache-control', 'no-store').send(session)
    },
  )

  app.post(
    '/v1/token',
    {
      config: { countsItself: true },
      schema: {
        summary: 'Get a valid OneUp access token for a connected user',
        headers: BearerHeaders,
        body: Type.Object({
          tenant_id: TenantId,
          user_id: UserId,
          min_ttl: Type.Optional(
            Type.Integer({ minimum: 0, maximum: 1800, description: 'Refresh first if the token has fewer seconds left (at least 60 always)' }),
          ),
          force_refresh: Type.Optional(Type.Boolean({ description: 'Refresh now: OneUp said the token is not active' })),
        }),
        response: { 200: TokenAnswer, '4xx': ErrorBody, '5xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { tenant_id: tenantId, user_id: userId, min_ttl: minTtl = 0, force_refresh: forceRefresh = false } = request.body
      const { rate, outcome } = await broker.tokens.handout(request.callerApp, { tenantId, userId, minTtl, forceRefresh }, request.log)
      setRateHeaders(reply, rate)
      reply.header('cache-control', 'no-store')
      return unwrap(outcome)
    },
  )
}
