/**
 * Test and demo controls of the OneUp sandbox, under `/_control` (below the host's prefix,
 * so `/sandbox/_control/…`). They drive the simulator; the real OneUp has nothing like them.
 * Bodies are JSON; a malformed one answers `400 {error: "invalid_request", message}`.
 *
 * - `GET /_control/counters` → `{code_exchanges, refresh_grants, reuse_detections,
 *   grace_reuses, token_requests, token_errors}`. `token_errors` counts every token call answered with an
 *   error, injected faults included; `reuse_detections` counts spent refresh tokens presented
 *   again (past any grace), each of which revoked its chain; `grace_reuses` those presented
 *   again within the grace period (served; also in `refresh_grants`).
 * - `POST /_control/reset` → zeroes the counters (tokens stay) and answers them.
 * - `POST /_control/faults` `{mode, count?, status?, error?, hint?, ms?}` queues a fault for
 *   the next `count` (default 1) token calls, after the faults already queued:
 *   - `status`: answer `status` (default 503, or 400 when `error` is given) with
 *     `{error, error_description, error_hint}`; `error` defaults to `temporarily_unavailable`
 *     for 5xx and `invalid_request` otherwise, whose default hint is Hydra's "multiple
 *     concurrent requests" one. The request is not processed.
 *   - `hang`: process the request, wait `ms` (default 30000) more, then answer, unless the
 *     client has given up by then.
 *   - `drop`: process the request fully (a refresh token is rotated and counted), then destroy
 *     the socket without answering.
 *   - `stall`: wait `ms` (default 30000) before processing, as a queue in front of OneUp
 *     would; a request whose client went away meanwhile is never processed (nothing is
 *     spent), one whose client is still there is then processed and answered as usual.
 *   Answers `{faults: [...]}`, what is queued. `GET` lists them, `DELETE` clears them (204).
 * - `GET /_control/settings`; `PUT /_control/settings` with any of `{access_token_ttl,
 *   refresh_grace_seconds, token_latency_ms, rate_limit, code_ttl}` changes them from now
 *   on and answers them all.
 * - `PUT /_control/clients/:id/secrets` `{secrets: [...]}` replaces the secrets a client is
 *   accepted with (secret rotation); 204, or 404 for an unknown client.
 * - `POST /_control/expire` `{username?}` makes every current access token (or that user's)
 *   expire now, as OneUp's "token is not active" would; answers `{expired: n}`.
 * - `POST /_control/revoke` `{username?}` revokes every chain (or that user's), as a user
 *   withdrawing consent: refreshing then answers `invalid_grant`, not counted as a reuse;
 *   answers `{revoked: n}`.
 *
 * @module
 */
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync } from 'fastify'
import { Type } from 'typebox'
import type { TokenFault } from './faults.js'
import type { SandboxSettings } from './options.js'
import type { SandboxState } from './state.js'

const CONCURRENT_REFRESH_HINT =
  'Failed to refresh token because of multiple concurrent requests using the same token which is not allowed.'

const Username = Type.String({ pattern: '^[a-z0-9._-]{1,64}$' })

const FaultRequest = Type.Object(
  {
    mode: Type.Union([Type.Literal('status'), Type.Literal('hang'), Type.Literal('drop'), Type.Literal('stall')]),
    count: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000 })),
    status: Type.Optional(Type.Integer({ minimum: 400, maximum: 599 })),
    error: Type.Optional(Type.String({ pattern: '^[a-z_]{1,64}$' })),
    hint: Type.Optional(Type.String({ maxLength: 1000 })),
    ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
  },
  { additionalProperties: false },
)

const SettingsRequest = Type.Object(
  {
    access_token_ttl: Type.Optional(Type.Integer({ minimum: 1 })),
    refresh_grace_seconds: Type.Optional(Type.Integer({ minimum: 0 })),
    token_latency_ms: Type.Optional(Type.Integer({ minimum: 0, maximum: 600_000 })),
    rate_limit: Type.Optional(Type.Integer({ minimum: 1 })),
    code_ttl: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
)

const SecretsRequest = Type.Object(
  { secrets: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }) },
  { additionalProperties: false },
)

// Fastify validates a missing body as null: `{username}` may be left out altogether.
const UserSelector = Type.Union([
  Type.Object({ username: Type.Optional(Username) }, { additionalProperties: false }),
  Type.Null(),
])

/** The `/_control` routes over one sandbox's state. */
export const controlRoutes: FastifyPluginAsync<{ state: SandboxState }> = async (fastify, { state }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()

  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500
    if (status >= 500) {
      request.log.error({ err: error }, 'sandbox control failed')
      return reply.code(500).send({ error: 'server_error', message: 'The sandbox failed; see its log.' })
    }
    return reply.code(400).send({ error: 'invalid_request', message: (error as Error).message })
  })

  app.get('/_control/counters', async () => state.counters)

  app.post('/_control/reset', async () => {
    state.resetCounters()
    return state.counters
  })

  app.get('/_control/faults', async () => ({ faults: state.faults.list() }))

  app.post('/_control/faults', { schema: { body: FaultRequest } }, async (request) => {
    const { mode, count = 1, status, error, hint, ms } = request.body
    state.faults.add(faultOf(mode, status, error, hint, ms), count)
    return { faults: state.faults.list() }
  })

  app.delete('/_control/faults', async (_request, reply) => {
    state.faults.clear()
    return reply.code(204).send()
  })

  app.get('/_control/settings', async () => settingsView(state.settings))

  app.put('/_control/settings', { schema: { body: SettingsRequest } }, async (request) => {
    const body = request.body
    const settings = state.settings
    settings.accessTokenTtl = body.access_token_ttl ?? settings.accessTokenTtl
    settings.refreshGraceSeconds = body.refresh_grace_seconds ?? settings.refreshGraceSeconds
    settings.tokenLatencyMs = body.token_latency_ms ?? settings.tokenLatencyMs
    settings.rateLimit = body.rate_limit ?? settings.rateLimit
    settings.codeTtl = body.code_ttl ?? settings.codeTtl
    return settingsView(settings)
  })

  app.put(
    '/_control/clients/:id/secrets',
    { schema: { params: Type.Object({ id: Type.String() }), body: SecretsRequest } },
    async (request, reply) => {
      if (!state.replaceClientSecrets(request.params.id, request.body.secrets)) {
        return reply.code(404).send({ error: 'not_found', message: 'No client has this id.' })
      }
      return reply.code(204).send()
    },
  )

  app.post('/_control/expire', { schema: { body: UserSelector } }, async (request) => ({
    expired: state.grants.expireAccessTokens(request.body?.username),
  }))

  app.post('/_control/revoke', { schema: { body: UserSelector } }, async (request) => ({
    revoked: state.grants.revokeGrants(request.body?.username),
  }))
}

function faultOf(
  mode: TokenFault['mode'],
  status: number | undefined,
  error: string | undefined,
  hint: string | undefined,
  ms: number | undefined,
): TokenFault {
  if (mode === 'hang' || mode === 'stall') return { mode, ms: ms ?? 30_000 }
  if (mode === 'drop') return { mode }
  const answered = status ?? (error === undefined ? 503 : error === 'invalid_client' ? 401 : 400)
  const id = error ?? (answered >= 500 ? 'temporarily_unavailable' : 'invalid_request')
  return { mode, status: answered, error: id, hint: hint ?? (id === 'invalid_request' ? CONCURRENT_REFRESH_HINT : undefined) }
}

function settingsView(settings: SandboxSettings): Record<string, number> {
  return {
    access_token_ttl: settings.accessTokenTtl,
    refresh_grace_seconds: settings.refreshGraceSeconds,
    token_latency_ms: settings.tokenLatencyMs,
    rate_limit: settings.rateLimit,
    code_ttl: settings.codeTtl,
  }
}
