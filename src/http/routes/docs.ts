import type { FastifyPluginAsync } from 'fastify'
import { DOCS_STYLESHEET, renderDocsPage, type OpenApiDocument } from '../docs-page.js'
import { PAGE_HEADERS } from '../pages.js'

/**
 * The API's documentation: `/openapi.json` (OpenAPI 3.1, from the route
 * schemas) and `/docs` (the same as a page). Both are built once, on first
 * request: every route is known by then.
 */
export const docsRoutes: FastifyPluginAsync = async (app) => {
  let json: string | undefined
  let page: string | undefined
  const document = (): string => (json ??= JSON.stringify(app.swagger()))

  app.get('/openapi.json', async (_request, reply) =>
    reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-cache').send(document()),
  )
  app.get('/docs', { config: { html: true } }, async (_request, reply) => {
    page ??= renderDocsPage(JSON.parse(document()) as OpenApiDocument)
    return reply.headers(PAGE_HEADERS).header('cache-control', 'no-cache').send(page)
  })
  app.get('/assets/docs.css', async (_request, reply) =>
    reply.header('content-type', 'text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(DOCS_STYLESHEET),
  )
}
