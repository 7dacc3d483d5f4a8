import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { RateDecision } from './rate-limit.js'
import type { SandboxState } from './state.js'
import { userFor } from './users.js'

/** The seed's answer for a token that is missing, unknown, expired or revoked. */
export const TOKEN_NOT_ACTIVE = {
  error: { status: 401, code: '1', message: 'Unauthorized: the provided token is not active' },
} as const

/** The seed's answer past the rate limit (code 4, HTTP 429). */
export const RATE_LIMITED = { error: { status: 429, code: '4', message: 'Rate limited.' } } as const

/** The seed's answer for a path or method it has no resource for (code 2, HTTP 404). */
export const NOT_FOUND = { error: { status: 404, code: '2', message: 'The resource was not found.' } } as const

/** The seed's answer for a request it could not parse (code 5, HTTP 400). */
export const UNPARSABLE = { error: { status: 400, code: '5', message: 'The request was not parsed. Please double-check the content of the request.' } } as const

// The seed's code 0, for whatever breaks inside the sandbox.
const INTERNAL = {
  error: { status: 500, code: '0', message: 'Oops something went wrong. Please contact us so the OneUp team can investigate.' },
} as const

/**
 * The resource API: `GET /v1/me`, behind bearer tokens and the seed's per-user 15-minute
 * rate limit, whose `X-Ratelimit-*` headers go on every answer.
 */
export const apiRoutes: FastifyPluginAsync<{ state: SandboxState }> = async (app, { state }) => {
  app.setErrorHandler(async (error, request, reply) => {
    request.log.error({ err: error }, 'sandbox API failed')
    return reply.code(500).send(INTERNAL)
  })

  app.get('/v1/me', async (request, reply) => {
    const token = bearerToken(request.headers.authorization)
    const grant = token === undefined ? undefined : state.grants.findActiveAccess(token)
    // The seed counts calls "on a per-user basis"; calls with no valid token count against the
    // caller's address so they too see the headers the seed promises on each response.
    const decision = state.rateLimits.hit(grant ? `user:${grant.username}` : `address:${request.ip}`, state.settings.rateLimit)
    setRateHeaders(reply, decision)
    if (!decision.allowed) {
      // The seed: "The header value indicates the date and time when the limit will be reset."
      return reply.code(429).header('retry-after', new Date(decision.resetAt).toUTCString()).send(RATE_LIMITED)
    }
    if (!grant) return reply.code(401).send(TOKEN_NOT_ACTIVE)
    return userFor(grant.username)
  })
}

function bearerToken(authorization: string | undefined): string | undefined {
  const match = authorization?.match(/^bearer\s+(\S+)\s*$/i)
  return match?.[1]
}

function setRateHeaders(reply: FastifyReply, decision: RateDecision): void {
  reply.header('x-ratelimit-limit', String(decision.limit))
  reply.header('x-ratelimit-remaining', String(decision.remaining))
  reply.header('x-ratelimit-used', String(decision.used))
}
