import cookie from '@fastify/cookie'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Broker } from '../../broker.js'
import { FLOW_TTL_MS, type CallbackOutcome } from '../../flow/connect.js'
import { withOutcome } from '../../flow/return-to.js'
import { BrokerError } from '../../errors.js'
import { EXPIRED_LINK, flowErrorWords, showsOneUpWords } from '../error-words.js'
import { PAGE_HEADERS, renderPage, STYLESHEET, type PageContent } from '../pages.js'

/** The signed cookie that binds a flow to the browser that started it. */
export const FLOW_COOKIE = 'oneup_broker_flow'

const Param = (maxLength: number) => Type.Optional(Type.String({ maxLength }))

/**
 * The one header the browser routes read: the flow cookie rides in it. No length
 * limit of its own (Node caps all headers at 16 KB): a parent domain's cookies
 * must not lock a browser out of the flow.
 */
const CookieHeaders = Type.Object({ cookie: Type.Optional(Type.String()) })

/** What an end user's browser meets: the connect link, the callback, the stylesheet (CONTRACT §4). */
export const browserRoutes: FastifyPluginAsync<{ broker: Broker }> = async (fastify, { broker }) => {
  // Cookies matter here only: registered in this context, their hooks stay off the app API.
  await fastify.register(cookie, { secret: broker.config.cookieSecret })
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const secure = broker.config.publicUrl.startsWith('https:')

  const browserBinding = (request: FastifyRequest): string | undefined => {
    const raw = request.cookies[FLOW_COOKIE]
    if (raw === undefined) return undefined
    const unsigned = request.unsignCookie(raw)
    return unsigned.valid && unsigned.value !== null ? unsigned.value : undefined
  }

  app.get(
    '/connect/:token',
    {
      config: { html: true, rateLimit: fastify.ipLimits.browserRoute },
      // HEAD is a safe method: it must not start a flow (nor, below, consume one).
      exposeHeadRoute: false,
      // Any token, however long or odd, is just an unknown link (404 page): `start` checks its form.
      schema: { params: Type.Object({ token: Type.String() }), headers: CookieHeaders },
    },
    async (request, reply) => {
      let started
      try {
        started = await broker.connect.start(request.params.token, browserBinding(request), request.log)
      } catch (error) {
        if (!(error instanceof BrokerError) || error.kind !== 'NotFound') throw error
        return reply.code(404).headers(PAGE_HEADERS).send(renderPage({ ...EXPIRED_LINK, tone: 'error' }))
      }
      const { redirectTo, browser } = started
      reply.setCookie(FLOW_COOKIE, browser, {
        signed: true,
        httpOnly: true,
        sameSite: 'lax',
        secure,
        path: '/',
        maxAge: FLOW_TTL_MS / 1000,
      })
      return reply.header('cache-control', 'no-store').redirect(redirectTo, 302)
    },
  )

  app.get(
    '/oauth/callback',
    {
      config: { html: true, rateLimit: fastify.ipLimits.browserRoute },
      exposeHeadRoute: false,
      // A state sent twice, or longer than any the broker makes, is not one of ours:
      // the same 400 page as a forged state, not a validation error.
      preValidation: async (request) => {
        const query = request.query as Record<string, unknown>
        if (query.state !== undefined && (typeof query.state !== 'string' || query.state.length > STATE_MAX)) query.state = ''
      },
      schema: {
        headers: CookieHeaders,
        querystring: Type.Object({
          state: Param(STATE_MAX),
          code: Param(2048),
          error: Param(256),
          error_description: Param(2048),
          error_hint: Param(2048),
        }),
      },
    },
    async (request, reply) => {
      const outcome = await broker.connect.finish(request.query, browserBinding(request), request.log)
      return answerCallback(reply, outcome)
    },
  )

  app.get('/assets/broker.css', async (_request, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLESHEET),
  )
}

/** Longest `state` accepted on the callback (the broker's own are 43 characters). */
const STATE_MAX = 512

function answerCallback(reply: FastifyReply, outcome: CallbackOutcome): FastifyReply {
  reply.headers(PAGE_HEADERS)
  if (outcome.kind === 'rejected') {
    return reply.code(400).send(
      renderPage({
        title: 'This sign-in link cannot be used',
        paragraphs: [
          outcome.reason === 'other_browser'
            ? 'This sign-in was started in another browser, or your browser blocked the broker\'s cookie. Nothing was connected.'
            : 'It has expired or was already used. Nothing was connected.',
          'Go back to the app and connect OneUp again.',
        ],
        tone: 'error',
      }),
    )
  }
  if (outcome.returnTo !== undefined) {
    const params: Record<string, string> = { status: outcome.status }
    if (outcome.error !== undefined) params.error = outcome.error
    return reply.code(303).redirect(withOutcome(outcome.returnTo, params), 303)
  }
  if (outcome.status === 'connected') {
    return reply.code(200).send(
      renderPage({ title: 'OneUp is connected', paragraphs: ['You can close this window and go back to the app.'], tone: 'ok' }),
    )
  }
  return reply.code(outcome.error === 'oneup_unavailable' ? 503 : 400).send(renderPage(errorPage(outcome.error ?? 'oneup_error', outcome.description)))
}

/** Plain words for what went wrong; OneUp's own words are shown escaped, after ours. */
function errorPage(error: string, description: string | undefined): PageContent {
  const paragraphs = [flowErrorWords(error)]
  if (description !== undefined && showsOneUpWords(error)) paragraphs.push(`OneUp said: ${description}`)
  paragraphs.push('You can close this window and go back to the app.')
  return { title: 'OneUp was not connected', paragraphs, tone: 'error' }
}
