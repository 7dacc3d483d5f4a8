import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { checkAuthorizeRequest, codeRedirect, errorRedirect } from './authorize-request.js'
import { acceptOnlyForms } from './forms.js'
import { OAuthError } from './oauth-errors.js'
import { consentPage, errorPage, loginPage, pageHeaders, type PageContext } from './pages.js'
import type { SandboxState } from './state.js'
import { SANDBOX_CSS } from './stylesheet.js'
import { FEATURED_USERS, USERNAME_PATTERN, userFor } from './users.js'

// A parameter sent twice arrives as an array: `checkAuthorizeRequest` refuses it the OAuth way.
const Parameter = Type.Optional(Type.Union([Type.String(), Type.Array(Type.String())]))
const AuthorizeQuery = Type.Object({
  response_type: Parameter,
  client_id: Parameter,
  redirect_uri: Parameter,
  scope: Parameter,
  state: Parameter,
  code_challenge: Parameter,
  code_challenge_method: Parameter,
})

const LoginForm = Type.Object({
  challenge: Type.String({ maxLength: 256 }),
  username: Type.String({ maxLength: 1024 }),
})

const ConsentForm = Type.Object({
  challenge: Type.String({ maxLength: 256 }),
  decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
})

const STALE_CHALLENGE = {
  title: 'This sign-in is no longer valid',
  message: 'It has expired or was already used. Start again from the application.',
}

/**
 * The browser side of OneUp: `GET /oauth2/auth`, the login and consent pages and their
 * stylesheet. Errors that cannot be trusted back to the client render as pages.
 */
export const authorizeRoutes: FastifyPluginAsync<{ state: SandboxState }> = async (fastify, { state }) => {
  await acceptOnlyForms(fastify)
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  const ctx: PageContext = { prefix: app.prefix }

  app.setErrorHandler((error, request, reply) => {
    const status = (error as { statusCode?: number }).statusCode ?? 500
    if (status >= 500) request.log.error({ err: error }, 'sandbox authorize page failed')
    return reply
      .code(status >= 500 ? 500 : 400)
      .headers(pageHeaders())
      .send(errorPage(ctx, { title: 'Bad request', message: 'The request is malformed.' }))
  })

  app.get('/assets/sandbox.css', async (_request, reply) =>
    reply
      .header('content-type', 'text/css; charset=utf-8')
      .header('x-content-type-options', 'nosniff')
      .header('cache-control', 'public, max-age=3600')
      .send(SANDBOX_CSS),
  )

  app.get('/oauth2/auth', { schema: { querystring: AuthorizeQuery } }, async (request, reply) => {
    const outcome = checkAuthorizeRequest(request.query, (id) => state.client(id))
    switch (outcome.kind) {
      case 'untrusted':
        return reply
          .code(400)
          .headers(pageHeaders())
          .send(errorPage(ctx, { title: 'This request cannot be trusted', message: outcome.message }))
      case 'redirect':
        return redirect(reply, outcome.location)
      case 'login': {
        const challenge = state.pending.openLogin(outcome.request, state.settings.codeTtl * 1000)
        return reply
          .headers(pageHeaders(outcome.request.redirectUri))
          .send(loginPage(ctx, { clientId: outcome.request.clientId, challenge, users: FEATURED_USERS }))
      }
    }
  })

  app.post('/oauth2/auth/login', { schema: { body: LoginForm } }, async (request, reply) => {
    const { challenge } = request.body
    const pending = state.pending.peekLogin(challenge)
    if (!pending) return reply.code(400).headers(pageHeaders()).send(errorPage(ctx, STALE_CHALLENGE))
    const username = request.body.username.trim()
    if (!USERNAME_PATTERN.test(username)) {
      return reply
        .code(400)
        .headers(pageHeaders(pending.redirectUri))
        .send(
          loginPage(ctx, {
            clientId: pending.clientId,
            challenge,
            users: FEATURED_USERS,
            message: 'A username is 1 to 64 lower-case letters, digits, dots, dashes or underscores.',
          }),
        )
    }
    const consentChallenge = state.pending.signIn(challenge, username) as string
    return reply.headers(pageHeaders(pending.redirectUri)).send(
      consentPage(ctx, {
        clientId: pending.clientId,
        scope: pending.scope,
        challenge: consentChallenge,
        user: userFor(username),
      }),
    )
  })

  app.post('/oauth2/auth/consent', { schema: { body: ConsentForm } }, async (request, reply) => {
    const taken = state.pending.takeConsent(request.body.challenge)
    if (!taken) return reply.code(400).headers(pageHeaders()).send(errorPage(ctx, STALE_CHALLENGE))
    const { request: authorization, username } = taken
    if (request.body.decision === 'deny') {
      // The seed: "error=access_denied&error_description=the+resource+owner+denied+the+request&state=…"
      const denied = new OAuthError('access_denied', 'The resource owner denied the request on the consent page.')
      return redirect(reply, errorRedirect(authorization.redirectUri, denied, authorization.state))
    }
    const code = state.grants.issueCode(
      {
        clientId: authorization.clientId,
        redirectUri: authorization.redirectUri,
        username,
        scope: authorization.scope,
        pkce: authorization.pkce,
      },
      state.settings.codeTtl * 1000,
    )
    return redirect(reply, codeRedirect(authorization.redirectUri, code, authorization.state))
  })
}

// Hydra answers the authorize endpoint with 303 See Other; the URL may carry a code, so it
// must be neither cached nor leaked through a Referer.
function redirect(reply: FastifyReply, location: string): FastifyReply {
  return reply.header('cache-control', 'no-store').header('referrer-policy', 'no-referrer').redirect(location, 303)
}
