import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Broker } from '../broker.js'

/**
 * Names of the admin actions, by route. A mutating admin route not listed is
 * recorded as `<METHOD> <route>`; `null` is not recorded here (connection
 * deletions are recorded as lifecycle events, with their actor).
 */
const ACTIONS: Record<string, string | null> = {
  'POST /v1/admin/apps': 'app.created',
  'POST /v1/admin/apps/:id/keys': 'app.key_added',
  'DELETE /v1/admin/apps/:id/keys/:key_id': 'app.key_revoked',
  'POST /v1/admin/apps/:id/webhooks': 'webhook.created',
  'DELETE /v1/admin/apps/:id/webhooks/:webhook_id': 'webhook.deleted',
  'POST /v1/admin/apps/:id/webhooks/:webhook_id/secrets': 'webhook.secret_added',
  'DELETE /v1/admin/apps/:id/webhooks/:webhook_id/secrets/:secret_id': 'webhook.secret_revoked',
  'POST /v1/admin/encryption/reencrypt': 'encryption.reencrypt_started',
  'POST /v1/admin/oneup/check-client': 'oneup.client_checked',
  'DELETE /v1/admin/connections/:tenant_id/:user_id': null,
  'DELETE /v1/admin/connections': null,
}

/** What a route said about its own call: another action than its route's (null: nothing to record), extra ids. */
interface Override {
  action: string | null
  details: Record<string, string>
}

const OVERRIDES = new WeakMap<FastifyRequest, Override>()

/**
 * Lets a route say what its call did, when its route alone does not: a call
 * that changed nothing (`null`: not recorded, so the log does not claim a
 * change), or one with ids the answer does not carry.
 */
export function auditAs(request: FastifyRequest, action: string | null, details: Record<string, string> = {}): void {
  OVERRIDES.set(request, { action, details })
}

/** Fields of an answer worth keeping in the audit log: ids, never a key or secret. */
const ANSWER_IDS = ['key_id', 'secret_id'] as const

/** What the `id` of a new object is, by the collection it was created in. */
function idName(route: string): string {
  if (route.endsWith('/apps')) return 'app_id'
  if (route.endsWith('/webhooks')) return 'webhook_id'
  return 'id'
}

/**
 * onSend hook of the admin API: records every successful mutating call in the
 * audit log (who: `admin`; what: the action; which: the route's ids and the
 * new object's ids), before the answer leaves, so a change ops saw succeed is
 * in the log. A failure to write the entry is logged, not sent to the caller.
 */
export function auditAdminAction(broker: Broker) {
  return async function recordAdminAction(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    if (request.method === 'GET' || request.method === 'HEAD' || reply.statusCode >= 300) return payload
    const route = `${request.method} ${request.routeOptions.url ?? ''}`
    const override = OVERRIDES.get(request)
    const action = override !== undefined ? override.action : route in ACTIONS ? ACTIONS[route] : route
    if (action === null || action === undefined) return payload
    const details: Record<string, string> = { request_id: request.id, ...override?.details }
    for (const [name, value] of Object.entries((request.params ?? {}) as Record<string, unknown>)) {
      if (typeof value === 'string') details[name === 'id' ? 'app_id' : name] = value
    }
    if (typeof payload === 'string' && payload.startsWith('{')) {
      try {
        const answer = JSON.parse(payload) as Record<string, unknown> & { job?: { id?: unknown } }
        if (typeof answer.id === 'string') details[idName(route)] = answer.id
        if (typeof answer.job?.id === 'string') details.job_id = answer.job.id
        for (const name of ANSWER_IDS) {
          const value = answer[name]
          if (typeof value === 'string') details[name] = value
        }
      } catch {
        // Not JSON after all: the route's ids are enough.
      }
    }
    await broker.audit.record('admin', action, details).catch((error: unknown) => request.log.error({ err: error, action }, 'could not write an audit entry'))
    return payload
  }
}
