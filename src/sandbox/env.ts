import type { SandboxOptions } from './options.js'

/** Where and how the standalone sandbox runs. */
export interface SandboxProcessConfig {
  port: number
  host: string
  options: SandboxOptions
}

/**
 * Reads the standalone sandbox's configuration from the environment: `SANDBOX_PORT` (4010),
 * `SANDBOX_HOST` (127.0.0.1), `SANDBOX_CLIENT_ID` (sandbox-client), `SANDBOX_CLIENT_SECRET`
 * (sandbox-secret; comma-separated for several), `SANDBOX_REDIRECT_URIS` (comma-separated,
 * http://localhost:3000/oauth/callback), `SANDBOX_ACCESS_TOKEN_TTL`,
 * `SANDBOX_REFRESH_GRACE_SECONDS`, `SANDBOX_TOKEN_LATENCY_MS`.
 *
 * @throws TypeError naming every malformed variable at once.
 */
export function readSandboxEnv(env: NodeJS.ProcessEnv): SandboxProcessConfig {
  const problems: string[] = []
  const integer = (name: string, minimum: number, maximum = Number.MAX_SAFE_INTEGER): number | undefined => {
    const raw = env[name]
    if (raw === undefined || raw === '') return undefined
    const value = Number(raw)
    if (!/^\d+$/.test(raw) || value < minimum || value > maximum) {
      problems.push(`${name} must be an integer from ${minimum} to ${maximum}`)
      return undefined
    }
    return value
  }
  const list = (name: string, fallback: string): string[] =>
    (env[name] || fallback).split(',').map((item) => item.trim()).filter((item) => item.length > 0)

  const port = integer('SANDBOX_PORT', 0, 65535) ?? 4010
  const accessTokenTtl = integer('SANDBOX_ACCESS_TOKEN_TTL', 1)
  const refreshGraceSeconds = integer('SANDBOX_REFRESH_GRACE_SECONDS', 0)
  const tokenLatencyMs = integer('SANDBOX_TOKEN_LATENCY_MS', 0)
  const secrets = list('SANDBOX_CLIENT_SECRET', 'sandbox-secret')
  const redirectUris = list('SANDBOX_REDIRECT_URIS', 'http://localhost:3000/oauth/callback')
  if (secrets.length === 0) problems.push('SANDBOX_CLIENT_SECRET must hold at least one secret')
  for (const uri of redirectUris) {
    if (!URL.canParse(uri)) problems.push(`SANDBOX_REDIRECT_URIS holds a value that is not an absolute URL`)
  }
  if (problems.length > 0) throw new TypeError(`invalid sandbox environment: ${problems.join('; ')}`)

  return {
    port,
    host: env.SANDBOX_HOST || '127.0.0.1',
    options: {
      clients: [{ id: env.SANDBOX_CLIENT_ID || 'sandbox-client', secrets, redirectUris }],
      ...(accessTokenTtl !== undefined && { accessTokenTtl }),
      ...(refreshGraceSeconds !== undefined && { refreshGraceSeconds }),
      ...(tokenLatencyMs !== undefined && { tokenLatencyMs }),
    },
  }
}
