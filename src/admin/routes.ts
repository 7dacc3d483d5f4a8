import type { FastifyPluginAsync } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Broker } from '../broker.js'
import { matchesDigest, secretDigest } from '../crypto/random.js'
import { fail } from '../errors.js'
import { bearer, BearerHeaders, ErrorBody, ID_PATTERN } from '../http/schemas.js'
import { auditAdminAction } from './audit-hook.js'
import { opsAdminRoutes } from './ops-routes.js'

const AppId = Type.String({ pattern: '^app_[0-9a-f]{16}$' })
const KeyId = Type.String({ pattern: '^key_[0-9a-f]{12}$' })

const AppView = Type.Object({
  id: Type.String(),
  name: Type.String(),
  tenants: Type.Array(Type.String()),
  return_origins: Type.Array(Type.String()),
  rate_limit: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  keys: Type.Array(
    Type.Object({
      key_id: Type.String(),
      created_at: Type.String({ format: 'date-time' }),
      last_used_at: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    }),
  ),
})

/**
 * Ops' API (CONTRACT §5), behind `Authorization: Bearer $BROKER_ADMIN_KEY`;
 * answers 404 everywhere when no admin key is configured.
 */
export const adminRoutes: FastifyPluginAsync<{ broker: Broker }> = async (fastify, { broker }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  // Only the key's digest is kept here; a presented key is hashed and compared in constant time.
  const adminKeyDigest = broker.config.adminKey === undefined ? undefined : secretDigest(broker.config.adminKey)

  app.addHook('onRequest', async (request) => {
    if (adminKeyDigest === undefined) throw fail('NotFound', { reason: 'The admin API is off: set BROKER_ADMIN_KEY.' })
    await request.server.ipLimits.authenticate(request, async () => {
      const presented = bearer(request.headers.authorization)
      if (presented === undefined || !matchesDigest(presented, adminKeyDigest)) {
        throw fail('Unauthorized', { reason: 'Send the admin key as Authorization: Bearer <key>.' })
      }
    })
  })

  app.post(
    '/v1/admin/apps',
    {
      schema: {
        summary: 'Register an internal app; its first key is shown once',
        headers: BearerHeaders,
        body: Type.Object({
          name: Type.String({ minLength: 1, maxLength: 100 }),
          tenants: Type.Array(Type.String({ pattern: `(${ID_PATTERN})|^\\*$` }), { minItems: 1, maxItems: 1000, description: 'Tenant ids, or ["*"] for all' }),
          return_origins: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: 20 }),
          rate_limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000_000, description: 'Calls per 15-minute window (default 1,000,000)' })),
        }),
        response: { 201: Type.Object({ id: Type.String(), key_id: Type.String(), key: Type.String() }), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { name, tenants, return_origins: returnOrigins, rate_limit: rateLimit } = request.body
      const created = await broker.appService.create(rateLimit === undefined ? { name, tenants, returnOrigins } : { name, tenants, returnOrigins, rateLimit })
      return reply.code(201).header('cache-control', 'no-store').send(created)
    },
  )

  app.get(
    '/v1/admin/apps',
    {
      schema: {
        summary: 'List apps with their key ids (never keys)',
        headers: BearerHeaders,
        response: { 200: Type.Object({ items: Type.Array(AppView) }), '4xx': ErrorBody },
      },
    },
    async () => ({ items: await broker.appService.list() }),
  )

  app.post(
    '/v1/admin/apps/:id/keys',
    {
      schema: {
        summary: 'Add the second key of an app (for rotation)',
        headers: BearerHeaders,
        params: Type.Object({ id: AppId }),
        response: { 201: Type.Object({ key_id: Type.String(), key: Type.String() }), '4xx': ErrorBody },
      },
    },
    async (request, reply) => reply.code(201).header('cache-control', 'no-store').send(await broker.appService.addKey(request.params.id)),
  )

  app.delete(
    '/v1/admin/apps/:id/keys/:key_id',
    {
      schema: {
        summary: 'Revoke an app key; it stops working at once on every replica',
        headers: BearerHeaders,
        params: Type.Object({ id: AppId, key_id: KeyId }),
        response: { 204: Type.Null(), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      await broker.appService.revokeKey(request.params.id, request.params.key_id)
      return reply.code(204).send(null)
    },
  )

  app.addHook('onSend', auditAdminAction(broker))
  await app.register(opsAdminRoutes, { broker })
}
