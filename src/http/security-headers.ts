import type { FastifyHelmetOptions } from '@fastify/helmet'

type CspDirectives = Record<string, string[]>

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
 * Options of `@fastify/helmet` for the whole app: the strict CSP above,
 * `Referrer-Policy: no-referrer` (a callback URL carries a code and a state:
 * never leak it to the next site), `X-Frame-Options: DENY`, `nosniff`, and
 * HSTS when the broker is served over https.
 */
export function helmetOptions(publicUrl: string): FastifyHelmetOptions {
  return {
    global: true,
    contentSecurityPolicy: { useDefaults: false, directives: { ...STRICT_CSP } },
    referrerPolicy: { policy: 'no-referrer' },
    frameguard: { action: 'deny' },
    strictTransportSecurity: publicUrl.startsWith('https:') ? { maxAge: 31_536_000, includeSubDomains: true } : false,
  }
}

/**
 * The `helmet` route option for a route that needs a looser CSP than
 * {@link STRICT_CSP} (e.g. an OpenAPI UI at `/docs` that runs its own script):
 * the given directives replace those of the same name, every other directive
 * and every other header stay strict. Use it on that route only:
 *
 * ```ts
 * app.get('/docs', { helmet: relaxedCsp({ 'script-src': ["'self'"] }) }, handler)
 * ```
 */
export function relaxedCsp(directives: CspDirectives): { contentSecurityPolicy: { useDefaults: false; directives: CspDirectives } } {
  return { contentSecurityPolicy: { useDefaults: false, directives: { ...STRICT_CSP, ...directives } } }
}
