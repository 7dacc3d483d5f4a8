import type { IncomingMessage, ServerResponse } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import helmet, { type HelmetOptions } from 'helmet'

type CspDirectives = Record<string, string[]>

declare module 'fastify' {
  interface FastifyContextConfig {
    /** CSP directives that replace the strict ones of the same name, on this route only ({@link relaxedCsp}). */
    csp?: CspDirectives
    /** Filled in at route registration: this route's precomputed security headers. */
    securityHeaders?: Record<string, string>
  }
}

/**
 * The broker's Content-Security-Policy, the one source of truth for every
 * answer (pages, redirects, JSON): no script at all (no `script-src`, so
 * `default-src 'none'` forbids every script, inline or not), the one
 * stylesheet from the broker itself, forms only back to the broker, never
 * framed (clickjacking), no `<base>` games.
 */
export const STRICT_CSP: Readonly<CspDirectives> = Object.freeze({
  'default-src': ["'none'"],
  'style-src': ["'self'"],
  'img-src': ["'self'"],
  'form-action': ["'self'"],
  'frame-ancestors': ["'none'"],
  'base-uri': ["'none'"],
})

/**
 * Options of `helmet` for the whole app: the strict CSP above,
 * `Referrer-Policy: no-referrer` (a callback URL carries a code and a state:
 * never leak it to the next site), `X-Frame-Options: DENY`, `nosniff`, and
 * HSTS when the broker is served over https.
 */
export function helmetOptions(publicUrl: string, directives: CspDirectives = STRICT_CSP): HelmetOptions {
  return {
    contentSecurityPolicy: { useDefaults: false, directives: { ...directives } },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    strictTransportSecurity: publicUrl.startsWith('https:') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  }
}

/**
 * The route `config` for a route that needs a looser CSP than
 * {@link STRICT_CSP} (e.g. an OpenAPI UI at `/docs` that runs its own script):
 * the given directives replace those of the same name, every other directive
 * and every other header stay strict. Use it on that route only:
 *
 * ```ts
 * app.get('/docs', { config: relaxedCsp({ 'script-src': ["'self'"] }) }, handler)
 * ```
 */
export function relaxedCsp(directives: CspDirectives): { csp: CspDirectives } {
  return { csp: directives }
}

/**
 * The headers helmet would set with these options, computed once. helmet's
 * headers depend on its options only (no nonces here), so running its
 * middleware on every request, as `@fastify/helmet` does, rebuilds the same
 * strings each time: measured as a third of the hand-out's cost.
 */
export function headersOf(options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const response = {
    setHeader: (name: string, value: string | number) => void (headers[name.toLowerCase()] = String(value)),
    removeHeader: () => undefined,
  }
  helmet(options)({} as IncomingMessage, response as unknown as ServerResponse, () => undefined)
  return headers
}

/**
 * helmet's headers that mean something for an answer that is not a page a
 * browser renders (JSON, the API's errors): the strict CSP, no referrer, no
 * framing, no sniffing, same-origin resource policy, HSTS. The others
 * (`Cross-Origin-Opener-Policy`, `Origin-Agent-Cluster`, `X-DNS-Prefetch-Control`,
 * `X-Download-Options`, `X-Permitted-Cross-Domain-Policies`, `X-XSS-Protection`)
 * only act on documents; the hand-out answers thousands of times a second and
 * does not carry them.
 */
const NON_DOCUMENT_HEADERS = [
  'content-security-policy',
  'cross-origin-resource-policy',
  'referrer-policy',
  'strict-transport-security',
  'x-content-type-options',
  'x-frame-options',
]

/**
 * Sets helmet's security headers on every answer (404s and errors included),
 * from strings computed at start-up: every helmet header on browser routes
 * (`config.html`), with a route's own CSP when its config relaxes it; the
 * non-document subset on the rest.
 */
export const securityHeadersPlugin = fp(
  async (app: FastifyInstance, { publicUrl }: { publicUrl: string }) => {
    const documents = headersOf(helmetOptions(publicUrl))
    const others = Object.fromEntries(Object.entries(documents).filter(([name]) => NON_DOCUMENT_HEADERS.includes(name)))
    app.addHook('onRoute', (route) => {
      const csp = route.config?.csp
      if (csp !== undefined) route.config = { ...route.config, securityHeaders: headersOf(helmetOptions(publicUrl, { ...STRICT_CSP, ...csp })) }
      else if (route.config?.html === true) route.config = { ...route.config, securityHeaders: documents }
    })
    app.addHook('onRequest', (request, reply, done) => {
      reply.headers(request.routeOptions.config.securityHeaders ?? others)
      done()
    })
  },
  { name: 'security-headers', fastify: '5.x' },
)
