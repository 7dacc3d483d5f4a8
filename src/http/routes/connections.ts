import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import type { Broker } from '../../broker.js'
import { parseIds, parseListQuery, single } from '../../connections/query.js'
import { MAX_BULK_IDS, type Actor, type TenantScope } from '../../connections/service.js'
import { fail } from '../../errors.js'
import { appAuthHook, countRefusedCalls } from '../app-auth.js'
import { BearerHeaders, ErrorBody, TenantId, UserId } from '../schemas.js'

const Filter = (description: string) =>
  Type.Optional(Type.Union([Type.String({ maxLength: 512 }), Type.Array(Type.String({ maxLength: 512 }), { maxItems: 20 })], { description }))

const ListQuerystring = Type.Object({
  tenant_id: Filter('eq:<tenant> or not:<tenant>'),
  status: Filter('eq:active, eq:reauth_required, not:…'),
  refreshed_at: Filter('e.g. gte:2026-01-01 AND lte:2026-03-31'),
  created_at: Filter('same syntax as refreshed_at'),
  access_expires_at: Filter('same syntax as refreshed_at'),
  sort: Filter('-created_at (default), +created_at, -refreshed_at, +refreshed_at'),
  limit: Filter('1-100, default 50'),
  cursor: Filter('next_cursor of the previous page'),
})

/**
 * No bounds of its own: 50 ids of 128:128 characters make 13 KB, and anything
 * wrong with `ids` is the seed's 400, decided by `parseIds` (repeated: the last wins).
 */
const BulkQuerystring = Type.Object({
  ids: Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())], { description: 'tenant_id:user_id,… (at most 50)' })),
})

const ConnectionView = Type.Object({
  tenant_id: Type.String(),
  user_id: Type.String(),
  status: Type.Union([Type.Literal('active'), Type.Literal('reauth_required')]),
  scope: Type.String(),
  created_at: Type.String({ format: 'date-time' }),
  refreshed_at: Type.String({ format: 'date-time' }),
  access_expires_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  key_id: Type.Union([Type.String(), Type.Null()]),
  app_id: Type.Optional(Type.String()),
})

const Params = Type.Object({ tenant_id: TenantId, user_id: UserId })

export interface ConnectionRoutesOptions {
  broker: Broker
  /** `/v1` for apps, `/v1/admin` for ops. */
  base: string
  /** The tenants the caller may see. */
  scope(request: FastifyRequest): TenantScope
  actor(request: FastifyRequest): Actor
  /** Views name the app that made each connection (ops only). */
  withApp: boolean
}

/**
 * The connection endpoints (CONTRACT §3), mounted twice: for apps behind their
 * key and scoped to their tenants, and for ops under `/v1/admin` over every tenant.
 */
export const connectionRoutes: FastifyPluginAsync<ConnectionRoutesOptions> = async (fastify, options) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const { broker, base, scope, actor, withApp } = options
  const service = broker.connectionService

  app.get(
    `${base}/connections`,
    {
      schema: {
        summary: 'List connections, filtered and sorted as the seed describes, a page at a time',
        headers: BearerHeaders,
        querystring: ListQuerystring,
        response: { 200: Type.Object({ items: Type.Array(ConnectionView), next_cursor: Type.Union([Type.String(), Type.Null()]) }), '4xx': ErrorBody },
      },
    },
    async (request) => service.list(scope(request), parseListQuery(request.query), withApp),
  )

  app.get(
    `${base}/connections/:tenant_id/:user_id`,
    { schema: { summary: "A connection's metadata (never a token)", headers: BearerHeaders, params: Params, response: { 200: ConnectionView, '4xx': ErrorBody } } },
    async (request) => service.get(scope(request), request.params.tenant_id, request.params.user_id, withApp),
  )

  app.delete(
    `${base}/connections/:tenant_id/:user_id`,
    {
      schema: {
        summary: 'Delete a connection: its tokens are gone from Redis',
        headers: BearerHeaders,
        params: Params,
        response: { 204: Type.Null(), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      await service.delete(scope(request), request.params.tenant_id, request.params.user_id, actor(request))
      return reply.code(204).send(null)
    },
  )

  app.delete(
    `${base}/connections`,
    {
      schema: {
        summary: 'Delete up to 50 connections; never stops at the first failure',
        headers: BearerHeaders,
        querystring: BulkQuerystring,
        response: {
          200: Type.Object({
            success_count: Type.Integer(),
            error_count: Type.Integer(),
            successes: Type.Array(Type.Intersect([Type.Object({ id: Type.String() }), ConnectionView])),
            errors: Type.Array(Type.Object({ id: Type.String(), error: ErrorBody.properties.error })),
          }),
          '4xx': ErrorBody,
        },
      },
    },
    async (request) => {
      const ids = parseIds(single(request.query, 'ids'), MAX_BULK_IDS)
      // The seed: "If this parameter is missing or contains any wrong characters, you will get a 400."
      if (ids === undefined) throw fail('Unparsable', { reason: `ids must be 1 to ${MAX_BULK_IDS} tenant_id:user_id pairs separated by commas.` })
      return service.deleteMany(scope(request), ids, actor(request), withApp)
    },
  )
}

/** The app-facing mount: behind the app key (counted in the app's window), scoped to the app's tenants. */
export const appConnectionRoutes: FastifyPluginAsync<{ broker: Broker }> = async (app, { broker }) => {
  app.addHook('onRequest', appAuthHook(broker))
  app.setErrorHandler(countRefusedCalls(broker))
  await app.register(connectionRoutes, {
    broker,
    base: '/v1',
    scope: (request) => request.callerApp.tenants,
    actor: (request) => ({ name: `app:${request.callerApp.id}`, keyId: request.callerApp.keyId }),
    withApp: false,
  })
}
