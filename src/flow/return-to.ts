import { fail } from '../errors.js'

const MAX_RETURN_TO = 2048

/**
 * Checks a `return_to` against the app's allowed origins and returns it as the
 * URL parser serialises it (so what is stored is exactly what the check saw),
 * except for its query string, kept as sent when the parser reads it the same way
 * (the parser would encode a `'`, breaking a signature over the raw query).
 * Refuses anything that is not an absolute http(s) URL on one of the origins:
 * other hosts, `//evil`, `javascript:`, userinfo tricks and encoded forms all
 * end up with another origin, or none, once parsed.
 */
export function checkReturnTo(returnTo: string, allowedOrigins: readonly string[]): string {
  const refuse = () =>
    fail('InvalidField', { reason: 'return_to must be an absolute URL on one of the app\'s return_origins' })
  if (returnTo.length > MAX_RETURN_TO || /[\u0000-\u001f\u007f]/.test(returnTo)) throw refuse()
  let url: URL
  try {
    url = new URL(returnTo)
  } catch {
    throw refuse()
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw refuse()
  if (url.username !== '' || url.password !== '') throw refuse()
  if (!allowedOrigins.includes(url.origin)) throw refuse()
  url.hash = ''
  return `${url.origin}${url.pathname}${rawQuery(returnTo, url) ?? url.search}`
}

/** Printable ASCII less the URL parser's query percent-encode set (space, `"`, `#`, `<`, `>`). */
const URL_SAFE = /^[!$-;=?-~]*$/

/**
 * The query string exactly as sent (`?…`, up to any fragment), if the parser
 * would only have encoded its `'`s; else undefined. For an http(s) URL without
 * userinfo, the first `?` is where the query starts.
 */
function rawQuery(sent: string, parsed: URL): string | undefined {
  const start = sent.indexOf('?')
  if (start === -1) return undefined
  const end = sent.indexOf('#', start)
  const raw = sent.slice(start, end === -1 ? undefined : end)
  if (raw === '?' || !URL_SAFE.test(raw)) return undefined
  return raw.replaceAll("'", '%27') === parsed.search ? raw : undefined
}

/** The parameters the broker adds to `return_to` (`error` only on failure). */
const OUTCOME_PARAMETERS = ['status', 'error']

/**
 * `return_to` with the broker's outcome parameters added. Its own query string is
 * kept byte for byte (an app may sign its URL, or read its raw query), except
 * pairs named `status` or `error`, always dropped: the app reads only the broker's.
 */
export function withOutcome(returnTo: string, outcome: Record<string, string>): string {
  const start = returnTo.indexOf('?')
  const [base, query] = start === -1 ? [returnTo, ''] : [returnTo.slice(0, start), returnTo.slice(start + 1)]
  const kept = query
    .split('&')
    .filter((pair) => pair !== '' && !OUTCOME_PARAMETERS.includes(pairName(pair)) && !Object.hasOwn(outcome, pairName(pair)))
  // Built as a string: the URL parser's `search` setter would encode what the app sent.
  return `${base}?${[...kept, new URLSearchParams(outcome).toString()].join('&')}`
}

/** The decoded name of a `name=value` query pair (as the app's framework will read it). */
function pairName(pair: string): string {
  const end = pair.indexOf('=')
  const raw = end === -1 ? pair : pair.slice(0, end)
  try {
    return decodeURIComponent(raw.replaceAll('+', ' '))
  } catch {
    return raw
  }
}
