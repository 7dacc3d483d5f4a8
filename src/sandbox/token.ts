import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import { setTimeout as sleep } from 'node:timers/promises'
import { Type } from 'typebox'
import { usesBasicAuth } from './client-auth.js'
import type { TokenFault } from './faults.js'
import { acceptOnlyForms } from './forms.js'
import { describeOAuthError, OAuthError } from './oauth-errors.js'
import type { SandboxState } from './state.js'
import { grantTokens } from './token-grants.js'

// RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once", so
// every field is one string; a repeated one arrives as an array and fails here.
const TokenForm = Type.Record(Type.String(), Type.String())

// RFC 6749 §5.1: "Cache-Control: no-store" and "Pragma: no-cache" on every token answer.
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' }

/**
 * `POST /oauth2/token` (and `/oauth2/token/`, as the seed's examples write it). Answers the
 * seed's JSON, OAuth errors for everything refused, and plays the injected faults.
 */
export const tokenRoutes: FastifyPluginAsync<{ state: SandboxState }> = async (fastify, { state }) => {
  await acceptOnlyForms(fastify)
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const faults = new WeakMap<FastifyRequest, TokenFault>()
  // Aborts artificial delays when the server closes, so a hanging call never holds up close().
  const closing = new AbortController()
  app.addHook('preClose', async () => closing.abort())

  async function answer(request: FastifyRequest, reply: FastifyReply, status: number, body: object): Promise<FastifyReply> {
    const fault = faults.get(request)
    const delay = state.settings.tokenLatencyMs + (fault?.mode === 'hang' ? fault.ms : 0)
    if (delay > 0) await sleep(delay, undefined, { signal: closing.signal }).catch(() => undefined)
    if (status !== 200) state.counters.token_errors += 1
    if (fault?.mode === 'drop') {
      // The grant has run; the client never hears of it, as when a connection dies mid-answer.
      reply.hijack()
      request.raw.socket.destroy()
      return reply
    }
    return reply.code(status).headers(NO_STORE).send(body)
  }

  app.addHook('onRequest', async (request, reply) => {
    state.counters.token_requests += 1
    const fault = state.faults.take()
    if (!fault) return
    faults.set(request, fault)
    if (fault.mode === 'stall') {
      let gone = false
      request.raw.socket.once('close', () => {
        gone = true
      })
      await sleep(fault.ms, undefined, { signal: closing.signal }).catch(() => undefined)
      if (gone || request.raw.socket.destroyed) {
        // The client gave up (or died) before OneUp got to its request: nothing is processed.
        reply.hijack()
        return reply
      }
      return
    }
    if (fault.mode === 'status') {
      await answer(request, reply, fault.status, faultBody(fault))
      return reply
    }
  })

  app.setErrorHandler(async (error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500
    if (status >= 500) request.log.error({ err: error }, 'sandbox token endpoint failed')
    const refusal =
      status >= 500
        ? new OAuthError('server_error', 'The sandbox failed; see its log.')
        : new OAuthError('invalid_request', 'Send one application/x-www-form-urlencoded body, each parameter once.')
    return answer(request, reply, refusal.status, refusal.toJSON())
  })

  const handle = async (request: FastifyRequest<{ Body: Record<string, string> }>, reply: FastifyReply) => {
    try {
      return await answer(request, reply, 200, grantTokens(state, request.headers.authorization, request.body))
    } catch (error) {
      if (!(error instanceof OAuthError)) throw error
      if (error.error === 'invalid_client' && usesBasicAuth(request.headers.authorization)) {
        // RFC 6749 §5.2: a client that tried Basic gets 401 with a WWW-Authenticate challenge.
        reply.header('www-authenticate', 'Basic realm="OneUp sandbox"')
      }
      return answer(request, reply, error.status, error.toJSON())
    }
  }
  app.post('/oauth2/token', { schema: { body: TokenForm } }, handle)
  // A host app routing with ignoreTrailingSlash already serves the slash form with the route above.
  if (!app.findRoute({ method: 'POST', url: `${app.prefix}/oauth2/token/` })) {
    app.post('/oauth2/token/', { schema: { body: TokenForm } }, handle)
  }
}

function faultBody(fault: Extract<TokenFault, { mode: 'status' }>): object {
  return { error: fault.error, error_description: describeOAuthError(fault.error), error_hint: fault.hint ?? 'Injected by the sandbox.' }
}
