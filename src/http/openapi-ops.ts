import type { ErrorKind } from '../errors.js'

/**
 * What the schemas of the ops routes (connections, encryption, the OneUp
 * client, audit, webhooks) cannot say for the API document: tags, who may call,
 * the error codes each answers, a request and an answer example. Keyed by
 * `METHOD /pattern`, in the shape of the document's per-route table, so the
 * OpenAPI builder spreads it in.
 */
export interface OpsRouteDoc {
  tags: string[]
  security: 'app' | 'admin'
  errors: ErrorKind[]
  description?: string
  body?: unknown
  answer?: { status: number; value: unknown }
}

const ISO = '2026-03-01T12:00:00.000Z'
const ALWAYS: ErrorKind[] = ['StoreUnavailable', 'Internal']
// Unparsable and TooLarge: a badly percent-encoded path, or a body that is not JSON or too big, even where none is expected.
const APP: ErrorKind[] = ['Unauthorized', 'RateLimited', 'Unparsable', 'TooLarge', ...ALWAYS]
// RateLimited: a client IP past AUTH_FAILURE_LIMIT failed authentications gets 429, even with the right key.
const ADMIN: ErrorKind[] = ['Unauthorized', 'RateLimited', 'NotFound', 'Unparsable', 'TooLarge', ...ALWAYS]

const CONNECTION = {
  tenant_id: 'acme',
  user_id: 'alice',
  status: 'active',
  scope: 'offline_access',
  created_at: ISO,
  refreshed_at: ISO,
  access_expires_at: '2026-03-01T13:00:00.000Z',
  key_id: 'k2',
}
const LIST = { items: [CONNECTION], next_cursor: 'WyItcmVmcmVzaGVkX2F0IiwxNzcyMzY2NDAwMDAwLCJhY21lIiwiYWxpY2UiXQ' }
const BULK = {
  success_count: 1,
  error_count: 1,
  successes: [{ id: 'acme:alice', ...CONNECTION }],
  errors: [{ id: 'acme:bob', error: { status: 404, code: '2', message: 'The resource was not found.', reason: 'No connection for this tenant and user.' } }],
}
const LISTING =
  'Filters and sorting as in OneUp\'s own API: `status=eq:active`, `refreshed_at=gte:2026-01-01 AND lte:2026-03-31` (a date is that whole UTC day), ' +
  '`sort=-refreshed_at` (default `-created_at`), `limit` 1-100 (50), `cursor` = the previous `next_cursor`. Served from per-tenant indexes, never a scan.'
const BULK_DELETE =
  "OneUp's bulk deletion: `ids=tenant_id:user_id,…` (at most 50); every id is tried, each lands in `successes` or `errors`. " +
  'A missing, malformed or too long `ids` is a 400 and deletes nothing.'
const JOB = { id: 'job_0123456789ab', state: 'running', target_kid: 'k2', done: 1200, total: 5000, moved: 1180, failed: 0, started_at: ISO, finished_at: null }
const WEBHOOK = {
  id: 'wh_0123456789ab',
  app_id: 'app_0123456789abcdef',
  url: 'https://app.example.com/hooks/oneup',
  events: ['connection.created', 'connection.reauth_required', 'connection.deleted'],
  created_at: ISO,
  secrets: [{ secret_id: 'whs_0123456789ab', created_at: ISO }],
}

/** The connection endpoints, for apps (`/v1`) or ops (`/v1/admin`, every tenant, with `app_id`). */
function connectionDocs(base: '/v1' | '/v1/admin'): Record<string, OpsRouteDoc> {
  const ops = base === '/v1/admin'
  const errors = ops ? ADMIN : [...APP, 'NotFound' as const]
  const view = ops ? { ...CONNECTION, app_id: 'app_0123456789abcdef' } : CONNECTION
  const tags = [ops ? 'admin' : 'apps']
  const security = ops ? 'admin' : 'app'
  return {
    [`GET ${base}/connections`]: { tags, security, errors: [...errors, 'InvalidField'], description: LISTING, answer: { status: 200, value: { ...LIST, items: [view] } } },
    [`GET ${base}/connections/:tenant_id/:user_id`]: { tags, security, errors: [...errors, 'InvalidField'], answer: { status: 200, value: view } },
    [`DELETE ${base}/connections/:tenant_id/:user_id`]: { tags, security, errors: [...errors, 'InvalidField', ...(ops ? [] : ['TenantForbidden' as const])] },
    [`DELETE ${base}/connections`]: {
      tags,
      security,
      errors: [...errors, 'Unparsable'],
      description: BULK_DELETE,
      answer: { status: 200, value: { ...BULK, successes: [{ id: 'acme:alice', ...view }] } },
    },
  }
}

export const OPS_ROUTE_DOCS: Record<string, OpsRouteDoc> = {
  ...connectionDocs('/v1'),
  ...connectionDocs('/v1/admin'),
  'GET /v1/admin/encryption': {
    tags: ['admin'],
    security: 'admin',
    errors: ADMIN,
    answer: { status: 200, value: { primary_kid: 'k2', kids: ['k2', 'k1'], records: { k2: 3821, k1: 1179 }, job: JOB } },
  },
  'POST /v1/admin/encryption/reencrypt': {
    tags: ['admin'],
    security: 'admin',
    errors: [...ADMIN, 'Conflict'],
    description:
      'Starts the job that moves every sealed record to the first key, or answers the one running (one at a time across replicas). ' +
      'A running job for another key (started by a replica whose first key differed) is replaced when no replica is running it; ' +
      'while one is, the answer is 409 (code 12): finish rolling out `TOKEN_ENCRYPTION_KEYS`, then start again.',
    answer: { status: 202, value: { job: { ...JOB, done: 0, moved: 0 } } },
  },
  'GET /v1/admin/oneup': {
    tags: ['admin'],
    security: 'admin',
    errors: ADMIN,
    answer: { status: 200, value: { client_id: 'broker', token_url: 'https://oauth-staging.oneup.com/oauth2/token', previous_secret: { configured: true, uses: 42, last_used_at: ISO } } },
  },
  'POST /v1/admin/oneup/check-client': {
    tags: ['admin'],
    security: 'admin',
    errors: [...ADMIN, 'InvalidField', 'Unparsable', 'TooLarge'],
    description: "Without a body: the broker's current and previous secrets. A refresh grant with a throw-away refresh token: no user's tokens are touched.",
    body: { client_secret: '…' },
    answer: {
      status: 200,
      value: { client_id: 'broker', results: [{ secret: 'given', accepted: true, oneup_error: 'invalid_grant', detail: 'OneUp accepts this client id and secret.' }] },
    },
  },
  'GET /v1/admin/audit': {
    tags: ['admin'],
    security: 'admin',
    errors: [...ADMIN, 'InvalidField'],
    answer: {
      status: 200,
      value: {
        items: [{ id: '1772366400000-0', at: ISO, actor: 'admin', action: 'app.key_revoked', app_id: 'app_0123456789abcdef', key_id: 'key_0123456789ab', request_id: 'req-1' }],
        next_cursor: '1772366400000-0',
      },
    },
  },
  'POST /v1/admin/apps/:id/webhooks': {
    tags: ['admin'],
    security: 'admin',
    errors: [...ADMIN, 'InvalidField', 'Unparsable', 'TooLarge', 'BusinessRule'],
    description: 'The signing secret is shown once. Deliveries are signed as Standard Webhooks say, retried with backoff, at least once.',
    body: { url: 'https://app.example.com/hooks/oneup', events: ['connection.reauth_required'] },
    answer: { status: 201, value: { ...WEBHOOK, secret_id: 'whs_0123456789ab', secret: 'whsec_…' } },
  },
  'GET /v1/admin/apps/:id/webhooks': { tags: ['admin'], security: 'admin', errors: [...ADMIN, 'InvalidField'], answer: { status: 200, value: { items: [WEBHOOK] } } },
  'DELETE /v1/admin/apps/:id/webhooks/:webhook_id': { tags: ['admin'], security: 'admin', errors: [...ADMIN, 'InvalidField'] },
  'POST /v1/admin/apps/:id/webhooks/:webhook_id/secrets': {
    tags: ['admin'],
    security: 'admin',
    errors: [...ADMIN, 'InvalidField', 'BusinessRule'],
    description: 'Deliveries are signed with both secrets until one is revoked. A third is refused.',
    answer: { status: 201, value: { secret_id: 'whs_ba9876543210', secret: 'whsec_…' } },
  },
  'DELETE /v1/admin/apps/:id/webhooks/:webhook_id/secrets/:secret_id': { tags: ['admin'], security: 'admin', errors: [...ADMIN, 'InvalidField', 'BusinessRule'] },
  'GET /v1/admin/webhooks/queue': { tags: ['admin'], security: 'admin', errors: ADMIN, answer: { status: 200, value: { queued: 2, retrying: 1, given_up: 0 } } },
}
