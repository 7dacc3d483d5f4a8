import { isIP } from 'node:net'

/** proxy-addr's named ranges (Fastify's `trustProxy` understands them). */
const NAMED = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * Parses `TRUSTED_PROXIES`: a comma-separated list of addresses, CIDR ranges
 * (`10.0.0.0/8`, `fd00::/8`) or the names `loopback`, `linklocal`,
 * `uniquelocal`. Only a peer in this list may say who the client is through
 * `X-Forwarded-For`; from anyone else the header is ignored, so a client cannot
 * pick the address its rate limit is counted under. Returns the problems
 * instead of throwing so config can report all at once; a problem names the
 * entry's position, not its text.
 */
export function parseTrustedProxies(text: string): { proxies: string[]; problems: string[] } {
  const proxies: string[] = []
  const problems: string[] = []
  text.split(',').forEach((raw, index) => {
    const entry = raw.trim()
    if (NAMED.has(entry)) {
      proxies.push(entry)
      return
    }
    const [address = '', prefix, extra] = entry.split('/')
    const family = isIP(address)
    const maxPrefix = family === 6 ? 128 : 32
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= maxPrefix)
    if (family === 0 || !prefixOk || extra !== undefined) {
      problems.push(`TRUSTED_PROXIES entry ${index + 1}: expected an IP address, a CIDR range (10.0.0.0/8) or loopback, linklocal, uniquelocal`)
      return
    }
    proxies.push(entry)
  })
  return { proxies, problems }
}
