import { randomBytes } from 'node:crypto'
import { resolve } from 'node:path'
import { Value } from 'typebox/value'
import { EnvSchema, type Env } from './env.js'
import { parseKeySpecs, type KeySpec } from './keyring-spec.js'
import { loadDevSecrets, type DevSecrets, type DevSecretValues } from './dev-secrets.js'
import { parseTrustedProxies } from './trusted-proxies.js'

export type { KeySpec }

/** The broker's configuration, derived from the environment by {@link loadConfig}. */
export interface Config {
  production: boolean
  port: number
  host: string
  /** External base URL, without a trailing slash. */
  publicUrl: string
  redis: {
    url: string
    clusterNodes: Array<{ host: string; port: number }> | undefined
    keyPrefix: string
  }
  oneup: {
    clientId: string
    clientSecret: string
    clientSecretPrevious: string | undefined
    authorizationUrl: string
    tokenUrl: string
    apiUrl: string
    redirectUri: string
    timeoutMs: number
  }
  /** Mount the OneUp simulator at `/sandbox`. */
  sandbox: boolean
  /** The first seals, all open. */
  encryptionKeys: KeySpec[]
  cookieSecret: string
  adminKey: string | undefined
  logLevel: Env['LOG_LEVEL']
  /** Peers whose `X-Forwarded-For` is believed (addresses, CIDR ranges, proxy-addr names); empty: nobody's. */
  trustedProxies: string[]
  /** Per client IP, per 15-minute window (SECURITY.md). */
  ipLimits: {
    /** Calls to each browser route (`/connect/:token`, `/oauth/callback`). */
    browser: number
    /** Failed authentications (wrong app or admin key) before every unverified key from that IP gets 429. */
    authFailures: number
  }
  /** The sweeper that refreshes connections nobody used for a while (0 ms: off). */
  keepAlive: { staleAfterMs: number; intervalMs: number; batchSize: number }
  webhooks: { timeoutMs: number; maxAttempts: number }
  audit: { maxEntries: number }
}

/** True for an http(s) URL whose host is this machine's loopback interface. */
function isLoopback(url: string): boolean {
  try {
    const { hostname } = new URL(url)
    return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
  } catch {
    return false
  }
}

/**
 * With REDIS_CLUSTER_NODES, REDIS_URL gives every node its user, password and
 * scheme (store/redis.ts); a db index it cannot give (a cluster has db 0
 * only) is refused rather than dropped.
 */
function clusterUrlProblems(url: string): string[] {
  const { pathname } = new URL(url)
  if (['', '/', '/0'].includes(pathname)) return []
  return ['REDIS_URL names a db index, but Redis Cluster has only db 0 (with REDIS_CLUSTER_NODES only its user, password and scheme are used)']
}

/**
 * The integer variables whose value is not plain digits. Value.Convert would
 * make `0.5` 0, `true` 1 and `0x10` 16: a different, valid value ops never
 * wrote (KEEPALIVE_AFTER_HOURS=0.5 turning the sweeper off).
 */
function notDigits(raw: Record<string, string>): string[] {
  return Object.entries(EnvSchema.properties)
    .filter(([name, schema]) => (schema as { type?: unknown }).type === 'integer' && raw[name] !== undefined && !/^\d+$/.test(raw[name]))
    .map(([name]) => name)
}

/** Thrown at boot with every problem found, one per line; never holds a secret. */
export class ConfigError extends Error {
  readonly problems: string[]
  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
    this.problems = problems
  }
}

export interface LoadOptions {
  /**
   * Outside production, generate missing secrets once and keep them in
   * `DEV_SECRETS_FILE` (git-ignored). Off by default: then missing secrets are
   * an error in every mode.
   */
  devSecrets?: boolean
}

export interface Loaded {
  config: Config
  /** Things ops should know, e.g. that dev secrets were generated. */
  warnings: string[]
}

/** The sandbox's own client, known to the built-in simulator. */
export const SANDBOX_CLIENT = { id: 'sandbox-client', secret: 'sandbox-secret' } as const

/**
 * Reads and validates the whole environment at once: every problem is collected
 * into one {@link ConfigError}, so ops fix them in one go.
 */
export function loadConfig(source: Record<string, string | undefined>, options: LoadOptions = {}): Loaded {
  const problems: string[] = []
  const warnings: string[] = []

  // An empty variable (`FOO=` in an env file) means unset.
  const raw: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value.trim() !== '') raw[key] = value.trim()
  }
  // Each malformed variable is reported once, then treated as unset so the
  // checks below still run and every problem comes out in one go.
  const malformed = new Set<string>()
  for (const name of notDigits(raw)) {
    malformed.add(name)
    problems.push(`${name} must be a whole number written in digits (0-9)`)
  }
  let env = Value.Convert(EnvSchema, Value.Default(EnvSchema, Value.Clone(raw))) as Env
  const errorsByName = new Map<string, Array<{ message: string; keyword?: string; params?: unknown }>>()
  for (const error of Value.Errors(EnvSchema, env)) {
    const name = error.instancePath.split('/')[1] ?? 'environment'
    if (malformed.has(name)) continue
    errorsByName.set(name, [...(errorsByName.get(name) ?? []), error])
  }
  for (const [name, errors] of errorsByName) {
    malformed.add(name)
    // Report the rule, never the value: it may be a secret.
    problems.push(`${name} ${ruleBroken(errors)}`)
  }
  if (malformed.size > 0) {
    for (const name of malformed) delete raw[name]
    env = Value.Convert(EnvSchema, Value.Default(EnvSchema, Value.Clone(raw))) as Env
  }
  const missing = (name: keyof Env, message: string) => {
    if (!malformed.has(name)) problems.push(message)
  }

  const production = env.NODE_ENV === 'production'
  // A typo (`prod`) would otherwise run a production deploy as development, on generated secrets.
  if (env.NODE_ENV !== undefined && !['production', 'development', 'test'].includes(env.NODE_ENV)) {
    warnings.push('NODE_ENV is neither production, development nor test: running as development (generated secrets, the sandbox when no OneUp client is set)')
  }
  const sandbox = env.ONEUP_SANDBOX ?? (env.ONEUP_CLIENT_ID === undefined && !production)
  if (sandbox && production) warnings.push('ONEUP_SANDBOX is on in production: the OneUp simulator is mounted at /sandbox')

  // A sandbox on another port than 3000 links to itself there unless told otherwise (PORT 0: the
  // port is not known yet, so the default stays).
  const derivedPublicUrl = raw.PUBLIC_URL === undefined && sandbox && !production && env.PORT !== 0 ? `http://localhost:${env.PORT}` : env.PUBLIC_URL
  const publicUrl = derivedPublicUrl.replace(/\/+$/, '')
  // In production the default (http://localhost:3000) would put connect links and the OAuth callback on localhost.
  if (production && raw.PUBLIC_URL === undefined) missing('PUBLIC_URL', 'PUBLIC_URL is required in production: connect links and the OAuth callback are built on it')
  // Server-to-server calls to the built-in sandbox go to the listen address: the
  // public URL may be a proxy the process itself cannot reach.
  const self = `http://${env.HOST === '0.0.0.0' || env.HOST === '::' ? '127.0.0.1' : env.HOST}:${env.PORT}`

  let dev: DevSecrets | undefined
  const devSecret = (name: keyof DevSecretValues, generate: () => string): string | undefined => {
    if (production || options.devSecrets !== true) return undefined
    dev ??= loadDevSecrets(resolve(env.DEV_SECRETS_FILE), warnings)
    return dev.get(name, generate)
  }

  if (!sandbox) {
    // In production the simulator is no way out: OneUp's real client is what is missing.
    const orSandbox = production ? 'in production (the client OneUp registered for the broker)' : '(or set ONEUP_SANDBOX=true to use the simulator)'
    if (env.ONEUP_CLIENT_ID === undefined) missing('ONEUP_CLIENT_ID', `ONEUP_CLIENT_ID is required ${orSandbox}`)
    if (env.ONEUP_CLIENT_SECRET === undefined) missing('ONEUP_CLIENT_SECRET', `ONEUP_CLIENT_SECRET is required ${orSandbox}`)
  }

  const keysText =
    env.TOKEN_ENCRYPTION_KEYS ?? devSecret('TOKEN_ENCRYPTION_KEYS', () => `dev1:${randomBytes(32).toString('base64url')}`)
  let encryptionKeys: KeySpec[] = []
  if (keysText === undefined) missing('TOKEN_ENCRYPTION_KEYS', 'TOKEN_ENCRYPTION_KEYS is required in production (kid:base64url-32-bytes[,kid:key…])')
  else {
    const parsed = parseKeySpecs(keysText)
    problems.push(...parsed.problems)
    encryptionKeys = parsed.keys
  }

  const cookieSecret = env.COOKIE_SECRET ?? devSecret('COOKIE_SECRET', () => randomBytes(32).toString('base64url'))
  if (cookieSecret === undefined) missing('COOKIE_SECRET', 'COOKIE_SECRET is required in production (at least 32 characters)')

  // bearer() reads one run of visible characters: a key with a space (or a character a header
  // cannot carry) would be accepted here and then never authenticate.
  if (env.BROKER_ADMIN_KEY !== undefined && !/^[!-~]+$/.test(env.BROKER_ADMIN_KEY)) {
    problems.push('BROKER_ADMIN_KEY must be visible ASCII characters only, no spaces: it is sent as a bearer token')
  }
  // In sandbox mode a newcomer needs an admin key to create the first app.
  const adminKey = env.BROKER_ADMIN_KEY ?? (sandbox ? devSecret('BROKER_ADMIN_KEY', () => randomBytes(32).toString('base64url')) : undefined)

  let clusterNodes: Config['redis']['clusterNodes']
  if (env.REDIS_CLUSTER_NODES !== undefined) {
    clusterNodes = env.REDIS_CLUSTER_NODES.split(',').map((node) => {
      const colon = node.lastIndexOf(':')
      return { host: node.slice(0, colon), port: Number(node.slice(colon + 1)) }
    })
  }

  // ioredis reads REDIS_URL with the WHATWG URL parser, which would throw (echoing the URL, password included) at start.
  if (!malformed.has('REDIS_URL') && !URL.canParse(env.REDIS_URL)) {
    problems.push('REDIS_URL is not a valid URL (percent-encode any / # ? @ in the password)')
  } else if (clusterNodes !== undefined) {
    problems.push(...clusterUrlProblems(env.REDIS_URL))
  }

  // Real OneUp is https-only (seed, "Security and Authentication"); a plain-http OneUp URL in
  // production would send the client secret, codes and refresh tokens in clear. Loopback
  // never leaves the host (an egress proxy beside the broker, the benchmark's OneUp).
  if (production && !sandbox) {
    for (const name of ['ONEUP_AUTHORIZATION_URL', 'ONEUP_TOKEN_URL', 'ONEUP_API_URL', 'ONEUP_REDIRECT_URI'] as const) {
      const value = env[name]
      if (value?.startsWith('http:') === true && !isLoopback(value)) problems.push(`${name} must be https in production (or http on loopback)`)
    }
    // The same rule for the callback derived from an http PUBLIC_URL: OneUp's codes would travel in clear.
    if (env.ONEUP_REDIRECT_URI === undefined && raw.PUBLIC_URL !== undefined && publicUrl.startsWith('http:') && !isLoopback(publicUrl)) {
      problems.push('PUBLIC_URL must be https in production (or http on loopback): ONEUP_REDIRECT_URI, derived from it, carries OneUp\'s codes')
    }
  }
  const trusted = env.TRUSTED_PROXIES === undefined ? { proxies: [], problems: [] } : parseTrustedProxies(env.TRUSTED_PROXIES)
  problems.push(...trusted.problems)

  if (problems.length > 0) throw new ConfigError(problems)

  const sandboxBase = `${publicUrl}/sandbox`
  const config: Config = {
    production,
    port: env.PORT,
    host: env.HOST,
    publicUrl,
    redis: { url: env.REDIS_URL, clusterNodes, keyPrefix: env.REDIS_KEY_PREFIX },
    oneup: {
      clientId: env.ONEUP_CLIENT_ID ?? SANDBOX_CLIENT.id,
      clientSecret: env.ONEUP_CLIENT_SECRET ?? SANDBOX_CLIENT.secret,
      clientSecretPrevious: env.ONEUP_CLIENT_SECRET_PREVIOUS,
      authorizationUrl:
        env.ONEUP_AUTHORIZATION_URL ??
        (sandbox ? `${sandboxBase}/oauth2/auth` : 'https://oauth-staging.oneup.com/oauth2/auth'),
      tokenUrl: env.ONEUP_TOKEN_URL ?? (sandbox ? `${self}/sandbox/oauth2/token` : 'https://oauth-staging.oneup.com/oauth2/token'),
      apiUrl: env.ONEUP_API_URL ?? (sandbox ? `${self}/sandbox/v1` : 'https://api.oneup.com/v1'),
      redirectUri: env.ONEUP_REDIRECT_URI ?? `${publicUrl}/oauth/callback`,
      timeoutMs: env.ONEUP_TIMEOUT_MS,
    },
    sandbox,
    encryptionKeys,
    cookieSecret: cookieSecret as string,
    adminKey,
    logLevel: env.LOG_LEVEL,
    trustedProxies: trusted.proxies,
    ipLimits: { browser: env.IP_RATE_LIMIT, authFailures: env.AUTH_FAILURE_LIMIT },
    keepAlive: {
      staleAfterMs: env.KEEPALIVE_AFTER_HOURS * 3_600_000,
      intervalMs: env.KEEPALIVE_INTERVAL_SECONDS * 1000,
      batchSize: env.KEEPALIVE_BATCH,
    },
    webhooks: { timeoutMs: env.WEBHOOK_TIMEOUT_MS, maxAttempts: env.WEBHOOK_MAX_ATTEMPTS },
    audit: { maxEntries: env.AUDIT_MAX_ENTRIES },
  }
  return { config, warnings }
}

/** What a variable must be, in words an operator can act on (the schema's own say "must be equal to constant"). */
function ruleBroken(errors: Array<{ message: string; keyword?: string; params?: unknown }>): string {
  const allowed = errors.flatMap((error) => (error.keyword === 'const' ? [String((error.params as { allowedValue?: unknown }).allowedValue)] : []))
  if (allowed.length > 0) return `must be one of ${allowed.join(', ')}`
  const first = errors[0]
  if (first?.keyword === 'type' && (first.params as { type?: unknown }).type === 'boolean') return 'must be true or false'
  return first?.message ?? 'is invalid'
}
