import { createHash } from 'node:crypto'
import { randomToken, secretsEqual, sha256hex } from '../crypto/random.js'
import type { Sealer } from '../crypto/sealer.js'
import { SealError } from '../crypto/sealer.js'
import { fail } from '../errors.js'
import type { BrokerEvents } from '../events.js'
import type { Log } from '../log.js'
import type { OneUpClient } from '../oneup/client.js'
import type { AppStore } from '../store/apps.js'
import { OneUpError } from '../oneup/errors.js'
import { oneUpErrorId } from '../oneup/error-id.js'
import type { ConnectionStore } from '../store/connections.js'
import type { FlowStore } from '../store/flows.js'
import { isRedisUnavailable } from '../store/redis.js'
import { allowsTenant, type AuthenticatedApp } from '../apps/authenticator.js'
import type { TokenOpener } from '../tokens/token-set.js'
import { checkReturnTo } from './return-to.js'

/** How long a connect link works (CONTRACT §3). */
export const CONNECT_SESSION_TTL_MS = 30 * 60 * 1000
/** How long a started flow waits for its callback (CONTRACT §4). */
export const FLOW_TTL_MS = 10 * 60 * 1000
/** Lifetime OneUp's token answer implies when it omits `expires_in` (the seed's 3600). */
const DEFAULT_EXPIRES_IN = 3600

const SESSION_TOKEN = /^cs_[A-Za-z0-9_-]{43}$/

/** What the sealed flow state holds between the redirect and the callback. */
interface FlowState {
  verifier: string
  sessionHash: string
  appId: string
  tenantId: string
  userId: string
  returnTo: string | undefined
  /** SHA-256 of the browser-binding cookie's value. */
  browser: string
}

/** The result of a callback, for the page or redirect that tells the user. */
export type CallbackOutcome =
  | { kind: 'rejected'; reason: 'missing_state' | 'unknown_state' | 'other_browser' }
  | {
      kind: 'finished'
      status: 'connected' | 'error'
      /** OneUp's error id, or the broker's (`oneup_unavailable`, `invalid_callback`). */
      error?: string
      /** OneUp's words, to show escaped; never logged. */
      description?: string
      returnTo: string | undefined
      tenantId: string
      userId: string
    }

export interface ConnectDeps {
  flows: FlowStore
  apps: AppStore
  connections: ConnectionStore
  sealer: Sealer
  opener: TokenOpener
  oneup: OneUpClient
  publicUrl: string
  now?: () => number
  log: Log
  events: BrokerEvents
}

/**
 * The connect flow: connect sessions for apps, the redirect to OneUp with state
 * and PKCE, and the callback that exchanges the code and stores the tokens.
 */
export class ConnectService {
  private readonly now: () => number

  constructor(private readonly deps: ConnectDeps) {
    this.now = deps.now ?? Date.now
  }

  /** `POST /v1/connect-sessions`: a link for one user of one tenant, valid 30 minutes. */
  async createSession(
    app: AuthenticatedApp,
    input: { tenantId: string; userId: string; returnTo: string | undefined },
  ): Promise<{ token: string; url: string; expires_at: string }> {
    if (!allowsTenant(app, input.tenantId)) throw fail('TenantForbidden')
    const returnTo = input.returnTo === undefined ? undefined : checkReturnTo(input.returnTo, app.returnOrigins)
    const token = `cs_${randomToken(32)}`
    const expiresAt = this.now() + CONNECT_SESSION_TTL_MS
    await this.deps.flows.saveSession(
      sha256hex(token),
      { appId: app.id, keyId: app.keyId, tenantId: input.tenantId, userId: input.userId, returnTo, expiresAt },
      CONNECT_SESSION_TTL_MS,
    )
    return { token, url: `${this.deps.publicUrl}/connect/${token}`, expires_at: new Date(expiresAt).toISOString() }
  }

  /**
   * `GET /connect/:token`: stores a new state and PKCE verifier (sealed, 10
   * minutes) bound to this browser, and returns where to send it. `browser` is
   * the binding cookie's value if the browser has one (several tabs may run
   * flows at once); the returned `browser` is what the cookie must hold.
   */
  async start(token: string, browser: string | undefined, log: Log = this.deps.log): Promise<{ redirectTo: string; browser: string }> {
    const sessionHash = SESSION_TOKEN.test(token) ? sha256hex(token) : undefined
    const session = sessionHash === undefined ? undefined : await this.deps.flows.getSession(sessionHash)
    if (session === undefined || sessionHash === undefined) throw fail('NotFound', { reason: 'This connect link is unknown or has expired.' })

    const binding = browser ?? randomToken(32)
    const state = randomToken(32)
    // RFC 7636 §4.1: 32 random octets, base64url (43 characters).
    const verifier = randomToken(32)
    const stateHash = sha256hex(state)
    const flow: FlowState = {
      verifier,
      sessionHash,
      appId: session.appId,
      tenantId: session.tenantId,
      userId: session.userId,
      returnTo: session.returnTo,
      browser: sha256hex(binding),
    }
    const sealed = await this.deps.sealer.seal(flow, flowBinding(stateHash))
    // RFC 7636 §4.2: S256 challenge = BASE64URL(SHA256(verifier)).
    const codeChallenge = createHash('sha256').update(verifier).digest('base64url')
    await this.deps.flows.saveState(stateHash, sealed, FLOW_TTL_MS)
    log.info({ tenant_id: session.tenantId, user_id: session.userId, app_id: session.appId, flow: 'started' }, 'connect flow started')
    this.deps.events.emit('flow', { stage: 'started' })
    return { redirectTo: this.deps.oneup.authorizationUrl({ state, codeChallenge }), browser: binding }
  }

  /**
   * `GET /oauth/callback`: consumes the state exactly once, checks it belongs
   * to this browser, then exchanges the code (with the verifier) and stores
   * the tokens. A forged, replayed, expired or cookie-less state exchanges nothing.
   */
  async finish(
    params: { state?: string; code?: string; error?: string; error_description?: string; error_hint?: string },
    browser: string | undefined,
    log: Log = this.deps.log,
  ): Promise<CallbackOutcome> {
    const started = this.now()
    const rejected = (reason: 'missing_state' | 'unknown_state' | 'other_browser'): CallbackOutcome => {
      this.deps.events.emit('flow', { stage: 'rejected', error: reason })
      return { kind: 'rejected', reason }
    }
    if (params.state === undefined || params.state === '') return rejected('missing_state')
    const stateHash = sha256hex(params.state)
    const sealed = await this.deps.flows.consumeState(stateHash)
    if (sealed === undefined) return rejected('unknown_state')
    let flow: FlowState
    try {
      flow = await this.deps.sealer.open<FlowState>(sealed, flowBinding(stateHash))
    } catch (error) {
      if (error instanceof SealError) return rejected('unknown_state')
      throw error
    }
    // Login CSRF: a callback carried by a browser that did not start this flow.
    if (browser === undefined || !secretsEqual(sha256hex(browser), flow.browser)) {
      log.warn({ tenant_id: flow.tenantId, user_id: flow.userId, flow: 'rejected' }, 'callback from a browser that did not start the flow')
      return rejected('other_browser')
    }

    const finished: FinishFlow = (status, error, description, oneupError) => {
      const ms = this.now() - started
      log.info({ tenant_id: flow.tenantId, user_id: flow.userId, app_id: flow.appId, flow: status, error, ms }, 'connect flow finished')
      this.deps.events.emit('flow', {
        stage: status,
        ms,
        ...(error === undefined ? {} : { error }),
        ...(oneupError === undefined ? {} : { oneupError }),
      })
      const outcome: CallbackOutcome = { kind: 'finished', status, returnTo: flow.returnTo, tenantId: flow.tenantId, userId: flow.userId }
      if (error !== undefined) outcome.error = error
      if (description !== undefined) outcome.description = description
      return outcome
    }

    if (params.error !== undefined) {
      const description = [params.error_description, params.error_hint].filter((part) => part !== undefined && part !== '').join(' ')
      return finished('error', oneUpErrorId(params.error), description === '' ? undefined : description)
    }
    const { code } = params
    if (code === undefined || code === '') return finished('error', 'invalid_callback', 'OneUp sent neither a code nor an error.')
    try {
      return await this.exchangeAndStore(flow, params.state, code, finished)
    } catch (error) {
      // The state is spent, and perhaps the code: the browser cannot retry this callback, but it can
      // go back to the app with an answer (rather than a dead end) and connect again from there.
      if (!isRedisUnavailable(error)) throw error
      log.warn({ err: error, tenant_id: flow.tenantId, user_id: flow.userId }, 'Redis unavailable while finishing a connect flow')
      return finished('error', 'store_unavailable')
    }
  }

  /** Exchanges the code and stores the token set: the part of the callback that needs OneUp and Redis. */
  private async exchangeAndStore(
    flow: FlowState,
    state: string,
    code: string,
    finished: FinishFlow,
  ): Promise<CallbackOutcome> {
    // A link connects one OneUp account, once: a second browser's flow on the same link
    // (a forwarded or leaked link) must not replace the account the first one connected.
    const session = await this.deps.flows.getSession(flow.sessionHash)
    if (session === undefined) return finished('error', 'link_used')
    // Links made with a key revoked since (perhaps because it leaked) connect no account:
    // checked here rather than at the redirect, which stays one read, and before OneUp is asked.
    if (session.keyId !== undefined && !(await this.deps.apps.hasKey(session.appId, session.keyId))) return finished('error', 'link_revoked')

    let tokens
    try {
      tokens = await this.deps.oneup.exchangeCode({ code, state, verifier: flow.verifier })
    } catch (error) {
      if (error instanceof OneUpError && error.kind === 'oauth') {
        const id = oneUpErrorId(error.oauthError ?? 'oneup_error')
        return finished('error', id, error.description, id)
      }
      if (error instanceof OneUpError) return finished('error', 'oneup_unavailable', 'OneUp could not be reached. Please try again.', 'unavailable')
      throw error
    }
    if (tokens.refreshToken === undefined) {
      // Without a refresh token the broker could hand out this token for an hour and then nothing.
      return finished('error', 'no_refresh_token', 'OneUp did not grant offline access.')
    }

    // The check above spares OneUp a useless exchange; this one settles a race between two flows.
    if (!(await this.deps.flows.consumeSession(flow.sessionHash))) return finished('error', 'link_used')
    const now = this.now()
    const tokenSet = {
      accessToken: tokens.accessToken,
      refreshToken: tokens.refreshToken,
      accessExpiresAt: now + (tokens.expiresIn ?? DEFAULT_EXPIRES_IN) * 1000,
      scope: tokens.scope ?? 'offline_access',
    }
    await this.deps.connections.write(
      flow.tenantId,
      flow.userId,
      'any',
      {
        status: 'active',
        sealed: await this.deps.opener.seal(flow.tenantId, flow.userId, tokenSet),
        kid: this.deps.opener.primaryKid,
        scope: tokenSet.scope,
        appId: flow.appId,
        refreshedAt: now,
        accessExpiresAt: tokenSet.accessExpiresAt,
      },
      now,
    )
    this.deps.events.emit('connection.created', {
      tenantId: flow.tenantId,
      userId: flow.userId,
      appId: flow.appId,
      ...(session.keyId === undefined ? {} : { keyId: session.keyId }),
    })
    return finished('connected')
  }
}

/** Ends a flow: logs it, reports it, and says where the browser goes. */
type FinishFlow = (status: 'connected' | 'error', error?: string, description?: string, oneupError?: string) => CallbackOutcome

const flowBinding = (stateHash: string) => `flow:${stateHash}`
