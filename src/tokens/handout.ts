import { BrokerError, fail } from '../errors.js'
import type { BrokerEventMap, BrokerEvents } from '../events.js'
import type { Log } from '../log.js'
import { enforce, overLimit, rateState, tightest, type RateState } from '../limits.js'
import type { ConnectionStore } from '../store/connections.js'
import type { HandoutStore } from '../store/handout.js'
import { rateWindow } from '../store/window.js'
import { allowsTenant, type AppAuthenticator, type AuthenticatedApp } from '../apps/authenticator.js'
import type { RefreshCoordinator } from './refresh.js'
import type { TokenOpener, TokenSet } from './token-set.js'

/** OneUp's own per-user budget (seed: 3600 calls every 15 minutes); an app never needs more tokens for one user. */
export const CONNECTION_RATE_LIMIT = 3600

/** Tokens are refreshed when they have less than this left, whatever `min_ttl` says (CONTRACT §3). */
export const MIN_REMAINING_SECONDS = 60

/**
 * `force_refresh` on a token set obtained less than this long ago returns that
 * fresh set instead of refreshing again. OneUp (Hydra) revokes the previous
 * access token at each refresh, so right after one, every app still holding the
 * old token gets a 401 and asks to force a refresh: without this, each of them
 * would revoke the token the others just received, a refresh loop.
 */
export const FORCE_REFRESH_MIN_AGE_MS = 5_000

export interface TokenAnswer {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  expires_at: string
  scope: string
}

export interface HandoutRequest {
  tenantId: string
  userId: string
  minTtl: number
  forceRefresh: boolean
}

export interface HandoutDeps {
  reads: HandoutStore
  /** Re-reads a record on the (rare) path that serves a token its failed refresh left. */
  connections: Pick<ConnectionStore, 'read'>
  authenticator: AppAuthenticator
  opener: TokenOpener
  refresher: RefreshCoordinator
  now?: () => number
  events: BrokerEvents
}

/**
 * The hot path: hand a valid access token to an internal app. One Redis round
 * trip for a still-valid token (the app's and the connection's counters and the
 * record's read are pipelined together); OneUp only when it must be refreshed.
 */
export class TokenService {
  private readonly now: () => number

  constructor(private readonly deps: HandoutDeps) {
    this.now = deps.now ?? Date.now
  }

  /**
   * Returns the rate-limit state to report and the outcome (an answer or the
   * error to send): the caller sets headers from the first in either case.
   */
  async handout(app: AuthenticatedApp, request: HandoutRequest, log?: Log): Promise<{ rate: RateState; outcome: TokenAnswer | BrokerError }> {
    try {
      const result = await this.serve(app, request, log)
      this.deps.events.emit('handout', { outcome: result.refreshed ? 'refreshed' : outcomeOf(result.outcome) })
      return { rate: result.rate, outcome: result.outcome }
    } catch (error) {
      this.deps.events.emit('handout', { outcome: 'failed' })
      throw error
    }
  }

  /** Whether the record is still the active one of this version (false when Redis cannot say). */
  private async stillCurrent(tenantId: string, userId: string, version: number): Promise<boolean> {
    const record = await this.deps.connections.read(tenantId, userId).catch(() => undefined)
    return record?.version === version && record.status === 'active'
  }

  private async serve(app: AuthenticatedApp, request: HandoutRequest, log: Log | undefined): Promise<{ rate: RateState; outcome: TokenAnswer | BrokerError; refreshed?: boolean }> {
    const { tenantId, userId } = request
    const now = this.now()
    const window = rateWindow(now)
    if (!allowsTenant(app, tenantId)) {
      // Counted against the app, but never against a connection it may not touch.
      const rate = await this.deps.authenticator.count(app, window)
      return { rate, outcome: overLimit(rate, now, 'app') ?? fail('TenantForbidden') }
    }
    const read = await this.deps.reads.read(app, tenantId, userId, window)
    const appRate = this.deps.authenticator.settle(app, read.appUsed, window)
    const { connection } = read
    const connectionRate = rateState(CONNECTION_RATE_LIMIT, read.connectionUsed, window)
    // With no connection the call was not counted in a connection's window: the app's is the one to report.
    const rate = connection === undefined ? appRate : tightest([appRate, connectionRate])
    try {
      enforce(appRate, now, 'app')
      enforce(connectionRate, now, 'connection')
      if (connection === undefined) throw fail('NotFound', { reason: 'No connection for this tenant and user.' })
      if (connection.status !== 'active') throw fail('ReauthRequired', { reason: 'Send the user through a new connect session.' })

      const tokens = await this.deps.opener.open(tenantId, userId, connection.sealed)
      const needMs = Math.max(request.minTtl, MIN_REMAINING_SECONDS) * 1000
      const forced = request.forceRefresh && now - connection.refreshedAt >= FORCE_REFRESH_MIN_AGE_MS
      if (forced || refreshDue(tokens, connection.refreshedAt, needMs, now)) {
        try {
          const refreshed = await this.deps.refresher.refresh(tenantId, userId, connection, log)
          return { rate, outcome: answer(refreshed.tokens, this.now()), refreshed: true }
        } catch (error) {
          // A refresh ahead of time failed for OneUp being out of reach: the token held still
          // works, so it is served (its own expires_in says how long) rather than a 503. Not
          // after force_refresh: the app has just heard from OneUp that it does not work.
          // Nor once the connection was deleted or replaced meanwhile: its tokens are not to be served.
          const servedAt = this.now()
          if (!forced && isOneUpUnavailable(error) && tokens.accessExpiresAt > servedAt && (await this.stillCurrent(tenantId, userId, connection.version))) {
            return { rate, outcome: answer(tokens, servedAt) }
          }
          throw error
        }
      }
      return { rate, outcome: answer(tokens, now) }
    } catch (error) {
      if (error instanceof BrokerError) return { rate, outcome: error }
      throw error
    }
  }
}

/**
 * Whether a token set with less than `needMs` left must be refreshed before it is handed out.
 * The contract's rule: when less than `needMs` is left. But when OneUp grants tokens that
 * live not much longer than `needMs`, or less (a `min_ttl` near or above OneUp's lifetime, or
 * a lifetime near the 60 s floor), a fresh token already misses the need, and since OneUp
 * revokes the previous access token at each refresh, refreshing at every hand-out would
 * revoke the token handed out a moment before. So a token is refreshed once less than
 * `needMs` or half its lifetime is left, whichever is less (or once it has expired): the
 * contract's rule whenever OneUp's lifetime is at least twice the need (60 s against 3600),
 * and every caller gets at least half of what OneUp grants.
 */
function refreshDue(tokens: TokenSet, refreshedAt: number, needMs: number, now: number): boolean {
  const remaining = tokens.accessExpiresAt - now
  const lifetime = tokens.accessExpiresAt - refreshedAt
  return remaining <= 0 || remaining < Math.min(needMs, lifetime / 2)
}

const isOneUpUnavailable = (error: unknown): boolean => error instanceof BrokerError && error.kind === 'OneUpUnavailable'

const OUTCOMES: Record<string, BrokerEventMap['handout'][0]['outcome']> = {
  NotFound: 'not_found',
  ReauthRequired: 'reauth_required',
  RateLimited: 'rate_limited',
  TenantForbidden: 'forbidden',
}

function outcomeOf(outcome: TokenAnswer | BrokerError): BrokerEventMap['handout'][0]['outcome'] {
  return outcome instanceof BrokerError ? (OUTCOMES[outcome.kind] ?? 'failed') : 'served'
}

function answer(tokens: TokenSet, now: number): TokenAnswer {
  return {
    access_token: tokens.accessToken,
    token_type: 'Bearer',
    expires_in: Math.max(0, Math.floor((tokens.accessExpiresAt - now) / 1000)),
    expires_at: new Date(tokens.accessExpiresAt).toISOString(),
    scope: tokens.scope,
  }
}
