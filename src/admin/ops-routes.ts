import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import { isAuditCursor } from '../audit/log.js'
import type { Broker } from '../broker.js'
import { auditAs } from './audit-hook.js'
import { single } from '../connections/query.js'
import { fail } from '../errors.js'
import { connectionRoutes } from '../http/routes/connections.js'
import { BearerHeaders, ErrorBody } from '../http/schemas.js'
import { WEBHOOK_EVENTS } from '../webhooks/service.js'

const AppId = Type.String({ pattern: '^app_[0-9a-f]{16}$' })
const WebhookId = Type.String({ pattern: '^wh_[0-9a-f]{12}$' })
const SecretId = Type.String({ pattern: '^whs_[0-9a-f]{12}$' })
const Iso = Type.String({ format: 'date-time' })
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

const JobView = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('running'), Type.Literal('done')]),
  target_kid: Type.String(),
  done: Type.Integer(),
  total: Type.Integer(),
  moved: Type.Integer(),
  failed: Type.Integer(),
  started_at: Iso,
  finished_at: Nullable(Iso),
})

const WebhookView = Type.Object({
  id: Type.String(),
  app_id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  created_at: Iso,
  secrets: Type.Array(Type.Object({ secret_id: Type.String(), created_at: Iso })),
})

const SecretCheck = Type.Object({
  secret: Type.Union([Type.Literal('current'), Type.Literal('previous'), Type.Literal('given')]),
  accepted: Nullable(Type.Boolean()),
  oneup_error: Nullable(Type.String()),
  detail: Type.String(),
})

const AuditQuery = Type.Object({
  limit: Type.Optional(Type.Union([Type.String({ maxLength: 8 }), Type.Array(Type.String({ maxLength: 8 }), { maxItems: 10 })])),
  cursor: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10 })])),
})

/**
 * The ops side of the admin API, registered inside the admin plugin (so behind
 * its key): encryption key rotation, the OneUp client, connections across
 * every tenant, webhooks registered on apps' behalf, and the audit log.
 */
export const opsAdminRoutes: FastifyPluginAsync<{ broker: Broker }> = async (fastify, { broker }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.get(
    '/v1/admin/encryption',
    {
      schema: {
        summary: 'Sealed records per encryption key id, and the re-encryption job',
        headers: BearerHeaders,
        response: {
          200: Type.Object({
            primary_kid: Type.String(),
            kids: Type.Array(Type.String()),
            records: Type.Record(Type.String(), Type.Integer()),
            job: Nullable(JobView),
          }),
        },
      },
    },
    async () => broker.reencryption.status(),
  )

  app.post(
    '/v1/admin/encryption/reencrypt',
    {
      schema: {
        summary: 'Start moving every sealed record to the first key (or see the job running)',
        headers: BearerHeaders,
        response: { 202: Type.Object({ job: JobView }), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      const { job, outcome, replaced } = await broker.reencryption.start()
      // Showing the job already running changes nothing: the audit log must not say it was started.
      if (outcome === 'running') auditAs(request, null)
      else auditAs(request, 'encryption.reencrypt_started', { target_kid: job.target_kid, ...(replaced === undefined ? {} : { replaced_job_id: replaced.id, replaced_target_kid: replaced.target_kid }) })
      return reply.code(202).send({ job })
    },
  )

  app.get(
    '/v1/admin/oneup',
    {
      schema: {
        summary: 'The OneUp client: whether the previous secret is still being used',
        headers: BearerHeaders,
        response: {
          200: Type.Object({
            client_id: Type.String(),
            token_url: Type.String(),
            previous_secret: Type.Object({ configured: Type.Boolean(), uses: Type.Integer(), last_used_at: Nullable(Iso) }),
          }),
        },
      },
    },
    async () => {
      const facts = await broker.oneupStatus.facts()
      return {
        client_id: broker.config.oneup.clientId,
        token_url: broker.config.oneup.tokenUrl,
        previous_secret: {
          configured: broker.config.oneup.clientSecretPrevious !== undefined,
          uses: facts.previousSecretUses,
          last_used_at: facts.previousSecretLastUsedAt === undefined ? null : new Date(facts.previousSecretLastUsedAt).toISOString(),
        },
      }
    },
  )

  app.post(
    '/v1/admin/oneup/check-client',
    {
      schema: {
        summary: "Ask OneUp whether it accepts the broker's client secrets (or a given one), touching no user's tokens",
        headers: BearerHeaders,
        body: Type.Union([
          Type.Object({
            client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
            client_secret: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
          }),
          Type.Null(),
        ]),
        response: { 200: Type.Object({ client_id: Type.String(), results: Type.Array(SecretCheck) }), '4xx': ErrorBody },
      },
    },
    async (request) => {
      const body = request.body ?? {}
      if (body.client_secret === undefined) {
        if (body.client_id !== undefined) throw fail('InvalidField', { reason: 'body/client_secret is required with body/client_id' })
        return broker.oneupStatus.check()
      }
      return broker.oneupStatus.check({ clientId: body.client_id, secret: body.client_secret })
    },
  )

  app.get(
    '/v1/admin/audit',
    {
      schema: {
        summary: 'The audit log, newest first',
        headers: BearerHeaders,
        querystring: AuditQuery,
        response: {
          200: Type.Object({
            items: Type.Array(
              Type.Object({ id: Type.String(), at: Iso, actor: Type.String(), action: Type.String() }, { additionalProperties: Type.Union([Type.String(), Type.Number(), Type.Null()]) }),
            ),
            next_cursor: Nullable(Type.String()),
          }),
          '4xx': ErrorBody,
        },
      },
    },
    async (request) => {
      const limitText = single(request.query, 'limit') ?? '100'
      const limit = /^\d{1,4}$/.test(limitText) ? Number(limitText) : 0
      if (limit < 1 || limit > 1000) throw fail('InvalidField', { reason: 'querystring/limit must be an integer from 1 to 1000' })
      const cursor = single(request.query, 'cursor')
      if (cursor !== undefined && !isAuditCursor(cursor)) throw fail('InvalidField', { reason: 'querystring/cursor must be a next_cursor of the audit log' })
      return broker.audit.list(limit, cursor)
    },
  )

  app.post(
    '/v1/admin/apps/:id/webhooks',
    {
      schema: {
        summary: "Register a webhook endpoint for an app; its signing secret is shown once",
        headers: BearerHeaders,
        params: Type.Object({ id: AppId }),
        body: Type.Object({
          url: Type.String({ minLength: 1, maxLength: 2048 }),
          events: Type.Optional(Type.Array(Type.Union(WEBHOOK_EVENTS.map((e) => Type.Literal(e))), { minItems: 1, maxItems: WEBHOOK_EVENTS.length })),
        }),
        response: { 201: Type.Intersect([WebhookView, Type.Object({ secret_id: Type.String(), secret: Type.String() })]), '4xx': ErrorBody },
      },
    },
    async (request, reply) =>
      reply.code(201).header('cache-control', 'no-store').send(await broker.webhooks.create(request.params.id, { url: request.body.url, events: request.body.events })),
  )

  app.get(
    '/v1/admin/apps/:id/webhooks',
    {
      schema: {
        summary: "An app's webhook endpoints, with secret ids (never secrets)",
        headers: BearerHeaders,
        params: Type.Object({ id: AppId }),
        response: { 200: Type.Object({ items: Type.Array(WebhookView) }), '4xx': ErrorBody },
      },
    },
    async (request) => ({ items: await broker.webhooks.list(request.params.id) }),
  )

  app.delete(
    '/v1/admin/apps/:id/webhooks/:webhook_id',
    {
      schema: {
        summary: 'Delete a webhook endpoint (its queued deliveries are dropped)',
        headers: BearerHeaders,
        params: Type.Object({ id: AppId, webhook_id: WebhookId }),
        response: { 204: Type.Null(), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      await broker.webhooks.delete(request.params.id, request.params.webhook_id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/v1/admin/apps/:id/webhooks/:webhook_id/secrets',
    {
      schema: {
        summary: 'Add the second signing secret (deliveries are signed with both)',
        headers: BearerHeaders,
        params: Type.Object({ id: AppId, webhook_id: WebhookId }),
        response: { 201: Type.Object({ secret_id: Type.String(), secret: Type.String() }), '4xx': ErrorBody },
      },
    },
    async (request, reply) =>
      reply.code(201).header('cache-control', 'no-store').send(await broker.webhooks.addSecret(request.params.id, request.params.webhook_id)),
  )

  app.delete(
    '/v1/admin/apps/:id/webhooks/:webhook_id/secrets/:secret_id',
    {
      schema: {
        summary: 'Revoke a signing secret (not the last one)',
        headers: BearerHeaders,
        params: Type.Object({ id: AppId, webhook_id: WebhookId, secret_id: SecretId }),
        response: { 204: Type.Null(), '4xx': ErrorBody },
      },
    },
    async (request, reply) => {
      await broker.webhooks.revokeSecret(request.params.id, request.params.webhook_id, request.params.secret_id)
      return reply.code(204).send(null)
    },
  )

  app.get(
    '/v1/admin/webhooks/queue',
    {
      schema: {
        summary: 'Webhook deliveries queued, waiting for a retry, and given up',
        headers: BearerHeaders,
        response: { 200: Type.Object({ queued: Type.Integer(), retrying: Type.Integer(), given_up: Type.Integer() }) },
      },
    },
    async () => broker.webhookQueue.depths(),
  )

  await app.register(connectionRoutes, { broker, base: '/v1/admin', scope: () => ['*'], actor: () => ({ name: 'admin' }), withApp: true })
}
