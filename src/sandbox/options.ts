/** A OneUp OAuth client as the sandbox knows it. Any listed secret is accepted. */
export interface SandboxClient {
  id: string
  secrets: string[]
  redirectUris: string[]
}

/** Options of the OneUp sandbox plugin. */
export interface SandboxOptions {
  clients: SandboxClient[]
  /** Seconds, default 3600 (the seed's `expires_in`). */
  accessTokenTtl?: number
  /** Seconds an authorization code (and a pending login) lives, default 600. */
  codeTtl?: number
  /** Default 0: strict Hydra refresh-token reuse detection. */
  refreshGraceSeconds?: number
  /** Default 0: artificial delay before answering a token call. */
  tokenLatencyMs?: number
  /** `/v1` calls per 15-minute window per user, default 3600 (the seed's bucket). */
  rateLimit?: number
  /** Clock seam in milliseconds, default `Date.now`. */
  now?: () => number
}

/** The settings that may change at run time, in the units the sandbox uses internally. */
export interface SandboxSettings {
  accessTokenTtl: number
  codeTtl: number
  refreshGraceSeconds: number
  tokenLatencyMs: number
  rateLimit: number
}

/** Options with every default applied and every value checked. */
export interface ResolvedSandboxOptions {
  clients: SandboxClient[]
  settings: SandboxSettings
  now: () => number
}

/**
 * Checks the options and applies the defaults.
 *
 * @throws TypeError naming every problem at once, so a bad configuration fails at boot.
 */
export function resolveSandboxOptions(options: SandboxOptions): ResolvedSandboxOptions {
  const problems: string[] = []
  const clients = checkClients(options.clients, problems)
  const settings: SandboxSettings = {
    accessTokenTtl: checkInteger('accessTokenTtl', options.accessTokenTtl, 3600, 1, problems),
    codeTtl: checkInteger('codeTtl', options.codeTtl, 600, 1, problems),
    refreshGraceSeconds: checkInteger('refreshGraceSeconds', options.refreshGraceSeconds, 0, 0, problems),
    tokenLatencyMs: checkInteger('tokenLatencyMs', options.tokenLatencyMs, 0, 0, problems),
    rateLimit: checkInteger('rateLimit', options.rateLimit, 3600, 1, problems),
  }
  if (options.now !== undefined && typeof options.now !== 'function') {
    problems.push('now must be a function returning milliseconds')
  }
  if (problems.length > 0) {
    throw new TypeError(`invalid sandbox options: ${problems.join('; ')}`)
  }
  return { clients, settings, now: options.now ?? Date.now }
}

function checkInteger(
  name: string,
  value: number | undefined,
  fallback: number,
  minimum: number,
  problems: string[],
): number {
  if (value === undefined) return fallback
  if (!Number.isSafeInteger(value) || value < minimum) {
    problems.push(`${name} must be an integer of at least ${minimum}`)
    return fallback
  }
  return value
}

function checkClients(clients: unknown, problems: string[]): SandboxClient[] {
  if (!Array.isArray(clients) || clients.length === 0) {
    problems.push('clients must list at least one client')
    return []
  }
  const seen = new Set<string>()
  return clients.map((client: SandboxClient, index) => {
    const where = `clients[${index}]`
    if (typeof client?.id !== 'string' || client.id.length === 0) problems.push(`${where}.id must be a non-empty string`)
    else if (seen.has(client.id)) problems.push(`${where}.id repeats ${client.id}`)
    else seen.add(client.id)
    if (!isNonEmptyStringList(client?.secrets)) problems.push(`${where}.secrets must list at least one non-empty secret`)
    if (!isNonEmptyStringList(client?.redirectUris) || !client.redirectUris.every((uri) => URL.canParse(uri))) {
      problems.push(`${where}.redirectUris must list at least one absolute URL`)
    }
    return { id: client?.id, secrets: [...(client?.secrets ?? [])], redirectUris: [...(client?.redirectUris ?? [])] }
  })
}

function isNonEmptyStringList(value: unknown): value is string[] {
  return Array.isArray(value) && value.length > 0 && value.every((item) => typeof item === 'string' && item.length > 0)
}
