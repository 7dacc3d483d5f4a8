import { randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { pino } from 'pino'
import type { Test } from 'tap'
import { buildApp, type AppOptions } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config/config.js'
import { loggerOptions } from '../../src/logger.js'
import type { SandboxOptions } from '../../src/sandbox/plugin.js'
import { buildSandboxServer } from '../../src/sandbox/server.js'
import { throughOneUp, type ConnectOptions } from './oneup-browser.js'
import { deletePrefix, redisEnv, testPrefix } from './redis.js'
import type { Cleanup } from './replica.js'

export const CLIENT_ID = 'broker-under-test'
export const CLIENT_SECRET = 'broker-secret-under-test'
export const PUBLIC_URL = 'http://broker.test'
export const ADMIN_KEY = randomBytes(32).toString('base64url')
export const RETURN_ORIGIN = 'https://app.example.com'

/** A OneUp sandbox running in its own HTTP server, as OneUp would be. */
export interface RunningSandbox {
  base: string
  control(path: string, method?: string, body?: unknown): Promise<Response>
  counters(): Promise<{ code_exchanges: number; refresh_grants: number; reuse_detections: number; grace_reuses: number; token_requests: number; token_errors: number }>
  close(): Promise<void>
}

export async function startSandbox(t: Cleanup, options: Partial<SandboxOptions> = {}, redirectUri = `${PUBLIC_URL}/oauth/callback`): Promise<RunningSandbox> {
  const server = buildSandboxServer({
    clients: [{ id: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [redirectUri] }],
    ...options,
  })
  await server.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}/sandbox`
  t.teardown(() => server.close())
  const control = (path: string, method = 'POST', body?: unknown) =>
    fetch(`${base}/_control${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? null : JSON.stringify(body),
    })
  return {
    base,
    control,
    counters: async () => (await (await control('/counters', 'GET')).json()) as Awaited<ReturnType<RunningSandbox['counters']>>,
    close: () => server.close(),
  }
}

/** The environment of a broker that talks to a given sandbox, under its own key prefix. */
export function brokerEnv(sandboxBase: string, prefix: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PUBLIC_URL,
    ...redisEnv(),
    REDIS_KEY_PREFIX: prefix,
    ONEUP_SANDBOX: 'false',
    ONEUP_CLIENT_ID: CLIENT_ID,
    ONEUP_CLIENT_SECRET: CLIENT_SECRET,
    ONEUP_AUTHORIZATION_URL: `${sandboxBase}/oauth2/auth`,
    ONEUP_TOKEN_URL: `${sandboxBase}/oauth2/token`,
    ONEUP_API_URL: `${sandboxBase}/v1`,
    ONEUP_TIMEOUT_MS: '3000',
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    COOKIE_SECRET: randomBytes(32).toString('base64url'),
    BROKER_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'info',
    ...extra,
  }
}

export interface Harness {
  app: FastifyInstance
  config: Config
  sandbox: RunningSandbox
  prefix: string
  /** Every log line the broker wrote, raw. */
  logs: string[]
  /** Registers an app through the admin API; returns its key. */
  createApp(body?: Record<string, unknown>): Promise<{ id: string; key_id: string; key: string }>
  /** Calls the broker as an app. */
  asApp(key: string, method: string, url: string, body?: unknown): Promise<LightMyRequestResponse>
  /** Creates a connect session and walks the whole flow as a browser; returns the callback's answer. */
  connect(key: string, tenantId: string, userId: string, options?: ConnectOptions): Promise<ConnectResult>
}

export interface ConnectResult {
  callback: LightMyRequestResponse
  /** The callback URL OneUp sent the browser to (holds code and state). */
  callbackUrl: URL
  /** The browser's broker cookies after the connect step. */
  cookies: Record<string, string>
  connectUrl: string
}

export interface HarnessOptions {
  sandbox?: Partial<SandboxOptions>
  env?: Record<string, string>
  app?: Omit<AppOptions, 'config' | 'logger'>
}

/** A broker (in process, driven by inject) in front of a sandbox (real HTTP), on real Redis. */
export async function startHarness(t: Test, options: HarnessOptions = {}): Promise<Harness> {
  const sandbox = await startSandbox(t, options.sandbox)
  const prefix = testPrefix()
  const { config } = loadConfig(brokerEnv(sandbox.base, prefix, options.env))
  const logs: string[] = []
  const logger = pino(loggerOptions('debug'), { write: (line: string) => void logs.push(line) })
  const app = await buildApp({ config, logger, ...options.app })
  t.teardown(async () => {
    await app.close()
    await deletePrefix(prefix)
  })

  const asApp = (key: string, method: string, url: string, body?: unknown) =>
    app.inject({ method: method as 'GET', url, headers: { authorization: `Bearer ${key}` }, ...(body === undefined ? {} : { payload: body as object }) })

  const harness: Harness = {
    app,
    config,
    sandbox,
    prefix,
    logs,
    async createApp(body = {}) {
      const res = await app.inject({
        method: 'POST',
        url: '/v1/admin/apps',
        headers: { authorization: `Bearer ${ADMIN_KEY}` },
        payload: { name: 'test app', tenants: ['*'], return_origins: [RETURN_ORIGIN], ...body },
      })
      if (res.statusCode !== 201) throw new Error(`createApp: ${res.statusCode} ${res.body}`)
      return res.json()
    },
    asApp,
    async connect(key, tenantId, userId, connectOptions = {}) {
      const session = await asApp(key, 'POST', '/v1/connect-sessions', {
        tenant_id: tenantId,
        user_id: userId,
        ...(connectOptions.returnTo === undefined ? {} : { return_to: connectOptions.returnTo }),
      })
      if (session.statusCode !== 201) throw new Error(`connect-sessions: ${session.statusCode} ${session.body}`)
      const connectUrl = session.json().url as string
      const { callbackUrl, cookies } = await walkToCallback(app, connectUrl, connectOptions)
      const callback = await app.inject({ method: 'GET', url: callbackUrl.pathname + callbackUrl.search, cookies })
      return { callback, callbackUrl, cookies, connectUrl }
    },
  }
  return harness
}

/**
 * Plays the browser from the connect link to the moment OneUp redirects back:
 * the broker's redirect (keeping its cookie), the sandbox's login and consent pages.
 */
/** The OneUp user behind the token the broker hands out for a connection, or the hand-out's status. */
export async function oneupUserOf(h: Harness, key: string, tenantId: string, userId: string): Promise<string | number> {
  const token = await h.asApp(key, 'POST', '/v1/token', { tenant_id: tenantId, user_id: userId })
  if (token.statusCode !== 200) return token.statusCode
  const me = await fetch(`${h.sandbox.base}/v1/me`, { headers: { authorization: `Bearer ${token.json().access_token}` } })
  return ((await me.json()) as { username: string }).username
}

export async function walkToCallback(
  app: FastifyInstance,
  connectUrl: string,
  options: ConnectOptions = {},
  cookies: Record<string, string> = {},
): Promise<{ callbackUrl: URL; cookies: Record<string, string> }> {
  const start = await app.inject({ method: 'GET', url: new URL(connectUrl).pathname, cookies })
  if (start.statusCode !== 302) throw new Error(`connect: ${start.statusCode} ${start.body}`)
  const jar = { ...cookies }
  for (const cookie of start.cookies) jar[cookie.name] = cookie.value
  const callbackUrl = await throughOneUp(start.headers.location as string, options)
  return { callbackUrl, cookies: jar }
}


export { throughOneUp, type ConnectOptions }

/**
 * Marks a connection's stored access token expired, as if its time had run out: its next
 * hand-out must refresh (a token refreshed a moment ago is not refreshed again, whatever
 * OneUp's lifetime, so tests that need a refresh say so).
 */
export async function expireAccessToken(app: FastifyInstance, tenantId: string, userId: string): Promise<void> {
  const { connections, opener } = app.broker
  const record = await connections.read(tenantId, userId)
  if (record === undefined) throw new Error(`no connection ${tenantId}/${userId}`)
  const tokens = await opener.open(tenantId, userId, record.sealed)
  const { version: _version, createdAt: _createdAt, ...fields } = record
  const sealed = await opener.seal(tenantId, userId, { ...tokens, accessExpiresAt: 1 })
  const written = await connections.write(tenantId, userId, record.version, { ...fields, sealed, kid: opener.primaryKid, accessExpiresAt: 1 }, record.refreshedAt)
  if (written === undefined) throw new Error(`the connection ${tenantId}/${userId} changed meanwhile`)
}

/** A broker whose clock the test moves, with alice of acme connected; `token` asks for hers. */
export async function aliceConnected(t: Test, options: HarnessOptions = {}) {
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { ...options, app: { now: () => clock.ms, ...options.app } })
  const { key } = await h.createApp()
  const { callback } = await h.connect(key, 'acme', 'alice')
  t.equal(callback.statusCode, 200, 'connected')
  const token = (body: Record<string, unknown> = {}) => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice', ...body })
  return { h, key, clock, token }
}
