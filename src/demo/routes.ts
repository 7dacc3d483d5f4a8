import formbody from '@fastify/formbody'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { Broker } from '../broker.js'
import { flowErrorWords } from '../http/error-words.js'
import { PAGE_HEADERS, renderPage } from '../http/pages.js'
import { DEMO, demoAppKey } from './demo-app.js'
import { DEMO_STYLESHEET, renderDemoPage, type DemoCall, type DemoView } from './page.js'

/**
 * `/demo` (sandbox mode only): a tiny SaaS app that uses the broker the way a
 * real one would, through the broker's own API with an app key of its own
 * (kept here, never sent to the browser), and OneUp's `/v1/me` over HTTP. Its
 * forms post to its own routes: no script.
 */
export const demoRoutes: FastifyPluginAsync<{ broker: Broker }> = async (fastify, { broker }) => {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  await app.register(formbody, { bodyLimit: 1024 })
  const { publicUrl, oneup } = broker.config
  const origin = new URL(publicUrl).origin

  // Taken at the demo's first use, not at start-up: a start that fails (a port in use)
  // must not take a key, and so revoke the one a running process holds.
  let key: Promise<string> | undefined
  const demoKey = (): Promise<string> => {
    key ??= demoAppKey(broker.appService, origin).catch((error: unknown) => {
      key = undefined // tried again on the next request
      throw error
    })
    return key
  }

  /**
   * Calls the broker's API as the demo app, carrying this request's id so the logs join up.
   * A 401 means the key was revoked since (another process on this Redis made room for its
   * own, or ops did): a fresh one is taken, once.
   */
  const api = async (request: FastifyRequest, url: string, body?: object, method: 'POST' | 'DELETE' = 'POST') => {
    const send = async () =>
      app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${await demoKey()}`, 'x-request-id': request.id },
        ...(body === undefined ? {} : { payload: body }),
      })
    const answer = await send()
    if (answer.statusCode !== 401) return answer
    key = undefined
    return send()
  }

  const page = async (reply: FastifyReply, view: Omit<DemoView, 'connection' | 'docsUrl'>, status = 200) => {
    const stored = await broker.connections.read(DEMO.tenantId, DEMO.userId)
    const connection =
      stored === undefined
        ? undefined
        : { status: stored.status, scope: stored.scope, createdAt: stored.createdAt, refreshedAt: stored.refreshedAt, accessExpiresAt: stored.accessExpiresAt }
    return reply
      .code(status)
      .headers(PAGE_HEADERS)
      .send(renderDemoPage({ ...view, connection, docsUrl: '/docs' }))
  }

  // Cross-site form posts are refused (Fetch Metadata, then Origin). Our pages send
  // no referrer, so a browser's Origin on their own forms is "null": not a mismatch.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return
    const site = request.headers['sec-fetch-site']
    const from = request.headers.origin
    if ((site !== undefined && site !== 'same-origin' && site !== 'none') || (from !== undefined && from !== 'null' && from !== origin)) {
      return reply
        .code(403)
        .headers(PAGE_HEADERS)
        .send(renderPage({ title: 'Open the demo at its own address', paragraphs: [`The demo only accepts its own forms: open ${publicUrl}/demo.`], tone: 'error' }))
    }
  })

  const html = { html: true }

  app.get(
    '/demo',
    {
      config: html,
      schema: {
        querystring: Type.Object({
          status: Type.Optional(Type.String({ maxLength: 32 })),
          error: Type.Optional(Type.String({ maxLength: 64 })),
        }),
      },
    },
    async (request, reply) => {
      const { status, error } = request.query
      let flash: DemoView['flash']
      if (status === 'connected') flash = { tone: 'ok', text: 'OneUp is connected.' }
      else if (status === 'error') flash = { tone: 'error', text: flowErrorWords(error ?? 'oneup_error') }
      else if (status === 'disconnected') flash = { tone: 'ok', text: 'Disconnected: the broker deleted the tokens.' }
      return page(reply, flash === undefined ? {} : { flash })
    },
  )

  app.post('/demo/connect', { config: html }, async (request, reply) => {
    const answer = await api(request, '/v1/connect-sessions', { tenant_id: DEMO.tenantId, user_id: DEMO.userId, return_to: `${publicUrl}/demo` })
    if (answer.statusCode !== 201) {
      const call = describeError('POST /v1/connect-sessions', answer.statusCode, answer.json())
      return page(reply, { flash: { tone: 'error', text: 'The broker did not make a connect link.' }, calls: [call] }, 502)
    }
    return reply.header('cache-control', 'no-store').redirect((answer.json() as { url: string }).url, 303)
  })

  app.post('/demo/token', { config: html }, async (request, reply) => {
    const tokenRequest = { tenant_id: DEMO.tenantId, user_id: DEMO.userId }
    const label = `POST /v1/token ${JSON.stringify(tokenRequest)}`
    const answer = await api(request, '/v1/token', tokenRequest)
    if (answer.statusCode !== 200) return page(reply, { calls: [describeError(label, answer.statusCode, answer.json())] })
    const token = answer.json() as { access_token: string; expires_in: number; scope: string }
    const calls: DemoCall[] = [
      {
        request: label,
        status: 200,
        summary: `An access token that is good for ${token.expires_in} more seconds (scope ${token.scope}). The app keeps it to itself: it is not shown here.`,
      },
    ]
    const meUrl = `${oneup.apiUrl}/me`
    const me = await fetch(meUrl, { headers: { authorization: `Bearer ${token.access_token}` }, signal: AbortSignal.timeout(oneup.timeoutMs) }).then(
      async (response) => ({ status: response.status, body: (await response.json().catch(() => undefined)) as unknown }),
      () => undefined,
    )
    calls.push(
      me === undefined
        ? { request: `GET ${meUrl}`, status: 503, summary: 'OneUp could not be reached.' }
        : { request: `GET ${meUrl}`, status: me.status, summary: me.status === 200 ? 'OneUp answered with your profile:' : 'OneUp refused the token:', body: me.body },
    )
    return page(reply, { calls })
  })

  app.post('/demo/disconnect', { config: html }, async (request, reply) => {
    const answer = await api(request, `/v1/connections/${DEMO.tenantId}/${DEMO.userId}`, undefined, 'DELETE')
    // 404: already gone, which is what the user asked for.
    if (answer.statusCode !== 204 && answer.statusCode !== 404) {
      const call = describeError(`DELETE /v1/connections/${DEMO.tenantId}/${DEMO.userId}`, answer.statusCode, answer.json())
      return page(reply, { flash: { tone: 'error', text: 'The broker did not delete the connection.' }, calls: [call] }, 502)
    }
    return reply.redirect('/demo?status=disconnected', 303)
  })

  app.get('/assets/demo.css', async (_request, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(DEMO_STYLESHEET),
  )
}

/** An error answer of the broker, in the demo's words; the body holds no secret (the seed's error shape). */
function describeError(request: string, status: number, body: unknown): DemoCall {
  const code = (body as { error?: { code?: string } }).error?.code
  const words: Record<string, string> = {
    '2': 'No connection yet: press Connect OneUp first.',
    '7': 'OneUp refused the stored refresh token: connect OneUp again.',
    '8': 'OneUp is unavailable right now; the broker kept the tokens. Try again in a moment.',
  }
  return { request, status, summary: (code === undefined ? undefined : words[code]) ?? `The broker answered ${status}.`, body }
}
