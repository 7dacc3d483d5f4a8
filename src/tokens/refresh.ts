import { setTimeout as sleep } from 'node:timers/promises'
import { randomToken } from '../crypto/random.js'
import { fail } from '../errors.js'
import type { BrokerEventMap, BrokerEvents } from '../events.js'
import type { Log } from '../log.js'
import type { OneUpClient, OneUpTokens } from '../oneup/client.js'
import { OneUpError } from '../oneup/errors.js'
import type { ConnectionFields, ConnectionStore, StoredConnection } from '../store/connections.js'
import { isRedisUnavailable } from '../store/redis.js'
import type { OpenConnection, TokenOpener, TokenSet } from './token-set.js'

export interface RefreshPolicy {
  /** How long one refresh may take in all, retries included (ms). */
  budgetMs: number
  /** Lifetime of the cross-replica lock; outlasts the budget so it never lapses under a live holder. */
  lockTtlMs: number
  /** After OneUp failed, how long callers get 503 before anyone tries again (ms). */
  cooldownMs: number
  /** How often a caller waiting on another replica's refresh looks again (ms). */
  pollMs: number
  /** Attempts per refresh when OneUp fails transiently. */
  maxAttempts: number
  /** Per-attempt worst case (OneUp timeout): no retry is started that could not finish in budget. */
  attemptTimeoutMs: number
  /** Lifetime assumed when OneUp's answer has no `expires_in` (seconds; OneUp's default). */
  defaultExpiresIn: number
}

export function defaultRefreshPolicy(oneupTimeoutMs: number): RefreshPolicy {
  const budgetMs = oneupTimeoutMs + 5_000
  return {
    budgetMs,
    lockTtlMs: budgetMs + 5_000,
    cooldownMs: 5_000,
    pollMs: 20,
    maxAttempts: 3,
    attemptTimeoutMs: oneupTimeoutMs,
    defaultExpiresIn: 3600,
  }
}

export interface RefreshDeps {
  store: ConnectionStore
  opener: TokenOpener
  oneup: OneUpClient
  policy: RefreshPolicy
  now?: () => number
  log: Log
  events: BrokerEvents
}

/**
 * Refreshes connections so that at most one refresh per connection is in flight
 * across every replica:
 * - callers in one process that read the same record share one promise (a
 *   caller that read a newer one, e.g. after a reconnect, does not join a
 *   refresh of the old one);
 * - across processes a Redis lock with an owner token decides who calls OneUp,
 *   released by compare-and-delete; the others poll the same script (one small
 *   answer per interval per process) until the record changes, and take it;
 * - taking the lock checks, in the same step, that the record is still the
 *   one the caller saw (another replica may have just refreshed it) and reads
 *   it; the write is a compare-and-set, so an older token set never
 *   overwrites a newer one.
 */
export class RefreshCoordinator {
  private readonly inflight = new Map<string, Promise<OpenConnection>>()
  private readonly now: () => number

  constructor(private readonly deps: RefreshDeps) {
    this.now = deps.now ?? Date.now
  }

  /**
   * A token set newer than `seen` (the record the caller read). Throws
   * BrokerError NotFound, ReauthRequired or OneUpUnavailable. `log` is the
   * logger of the request that asked (its lines carry the request id).
   */
  refresh(tenantId: string, userId: string, seen: { version: number }, log: Log = this.deps.log): Promise<OpenConnection> {
    const key = `${tenantId}\n${userId}\n${seen.version}`
    let running = this.inflight.get(key)
    if (running === undefined) {
      running = this.run(tenantId, userId, seen.version, log).finally(() => this.inflight.delete(key))
      this.inflight.set(key, running)
    }
    return running
  }

  private async run(tenantId: string, userId: string, seenVersion: number, log: Log): Promise<OpenConnection> {
    const { store, policy } = this.deps
    const started = this.now()
    const deadline = started + policy.budgetMs
    let waited = false
    for (;;) {
      const owner = randomToken(16)
      const start = await store.beginRefresh(tenantId, userId, seenVersion, owner, policy.lockTtlMs)
      switch (start.kind) {
        case 'missing':
          throw fail('NotFound', { reason: 'No connection for this tenant and user.' })
        case 'changed':
          if (waited) this.deps.events.emit('refresh.waited', { ms: this.now() - started })
          return this.opened(tenantId, userId, start.connection)
        case 'cooling':
          throw unavailable(start.ms)
        case 'acquired':
          try {
            return await this.refreshHoldingLock(tenantId, userId, start.connection, deadline, log)
          } finally {
            // Not awaited: the new token set is stored, so no one needs the lock, and the
            // callers should not wait one more round trip for its release.
            store.unlock(tenantId, userId, owner).catch((error: unknown) => {
              // It lapses by itself; say so, do not fail the caller who already has a token.
              log.warn({ err: error }, 'could not release a refresh lock')
            })
          }
        case 'locked':
          // Another replica is refreshing: wait for its result.
          if (this.now() + policy.pollMs > deadline) throw unavailable(policy.cooldownMs)
          waited = true
          await sleep(policy.pollMs)
      }
    }
  }

  /** Refreshes `connection`, read under the lock just taken. */
  private async refreshHoldingLock(tenantId: string, userId: string, connection: StoredConnection, deadline: number, log: Log): Promise<OpenConnection> {
    const { store, opener, events } = this.deps
    const started = this.now()
    if (connection.status !== 'active') throw reauthRequired()
    const tokens = await opener.open(tenantId, userId, connection.sealed)

    let answer: OneUpTokens
    const attempts = { answerMaybeLost: false }
    try {
      answer = await this.callOneUp(tokens.refreshToken, deadline, attempts)
    } catch (error) {
      const failure = error instanceof OneUpError ? error : new OneUpError('unavailable', 'refresh failed', { cause: error })
      if (failure.isInvalidGrant) {
        if (!(await this.markReauthRequired(tenantId, userId, connection))) {
          // Deleted or connected again while OneUp answered: the refusal was the old connection's.
          log.info({ tenant_id: tenantId, user_id: userId, outcome: 'superseded' }, 'refresh refused for a connection replaced meanwhile')
          events.emit('refresh', { tenantId, userId, outcome: 'superseded', ms: this.now() - started })
          return this.current(tenantId, userId)
        }
        const ms = this.now() - started
        log.warn({ tenant_id: tenantId, user_id: userId, outcome: 'reauth_required', ms }, 'refresh refused by OneUp: the user must connect again')
        if (attempts.answerMaybeLost) {
          // README, "When the answer to a refresh is lost": OneUp had most likely rotated the
          // token already, so the retry met its reuse detection. Only OneUp can prevent this.
          log.warn(
            { tenant_id: tenantId, user_id: userId },
            'an earlier refresh attempt got no answer and its retry was refused: OneUp likely rotated the refresh token and revoked the chain on reuse; a refresh-token grace period at OneUp avoids this',
          )
        }
        events.emit('refresh', { tenantId, userId, outcome: 'reauth_required', ms, oneupError: 'invalid_grant' })
        events.emit('connection.reauth_required', { tenantId, userId, appId: connection.appId })
        throw reauthRequired()
      }
      const ms = this.now() - started
      const cooldownMs = this.cooldownAfter(failure)
      if (failure.unusableAnswer) {
        await this.afterUnusableAnswer(tenantId, userId, connection, tokens, failure, ms, deadline, log)
      } else {
        await store.coolDown(tenantId, userId, connection.version, cooldownMs)
        log.warn({ tenant_id: tenantId, user_id: userId, outcome: 'failed', ms, oneup: failure.message }, 'refresh failed; the stored refresh token is kept')
      }
      const failed: BrokerEventMap['refresh'][0] = { tenantId, userId, outcome: 'failed', ms }
      if (failure.oauthError !== undefined) failed.oneupError = failure.oauthError
      events.emit('refresh', failed)
      throw unavailable(cooldownMs)
    }

    const now = this.now()
    const next: TokenSet = {
      accessToken: answer.accessToken,
      // OneUp rotates on every refresh; an answer without one keeps the old (RFC 6749 §6).
      refreshToken: answer.refreshToken ?? tokens.refreshToken,
      accessExpiresAt: now + (answer.expiresIn ?? this.deps.policy.defaultExpiresIn) * 1000,
      scope: answer.scope ?? tokens.scope,
    }
    const sealed = await opener.seal(tenantId, userId, next)
    const fields = {
      status: 'active' as const,
      sealed,
      kid: opener.primaryKid,
      scope: next.scope,
      appId: connection.appId,
      refreshedAt: now,
      accessExpiresAt: next.accessExpiresAt,
    }
    const version = await this.writeRotated(tenantId, userId, connection.version, fields, now, deadline, log)
    if (version === undefined) {
      // Deleted or reconnected while we refreshed: what is stored now wins.
      log.info({ tenant_id: tenantId, user_id: userId, outcome: 'superseded' }, 'refresh result dropped: the connection changed meanwhile')
      events.emit('refresh', { tenantId, userId, outcome: 'superseded', ms: now - started })
      return this.current(tenantId, userId)
    }
    log.info({ tenant_id: tenantId, user_id: userId, outcome: 'refreshed', ms: now - started }, 'refreshed')
    events.emit('refresh', { tenantId, userId, outcome: 'refreshed', ms: now - started })
    return { connection: { ...connection, ...fields, version }, tokens: next }
  }

  /**
   * OneUp answered the refresh 2xx but the broker cannot use the answer: OneUp rotated, so
   * the stored refresh token is spent and the access token revoked. The record is written
   * again with the access token marked expired, so that it is never served again (nor by
   * the hand-out's fallback, which serves only the record it read), and with the refresh
   * token found in the answer, the live one, when there is one, so the next refresh
   * presents it. Either way callers get 503 for the cooldown.
   */
  private async afterUnusableAnswer(
    tenantId: string,
    userId: string,
    connection: StoredConnection,
    tokens: TokenSet,
    failure: OneUpError,
    ms: number,
    deadline: number,
    log: Log,
  ): Promise<void> {
    const { opener, store, policy } = this.deps
    const rotated = failure.rotatedRefreshToken
    const now = this.now()
    const next: TokenSet = { ...tokens, refreshToken: rotated ?? tokens.refreshToken, accessExpiresAt: now }
    const fields = { ...connection, sealed: await opener.seal(tenantId, userId, next), kid: opener.primaryKid, accessExpiresAt: now }
    const version = await this.writeRotated(tenantId, userId, connection.version, fields, now, deadline, log)
    if (version !== undefined) await store.coolDown(tenantId, userId, version, policy.cooldownMs)
    log.warn(
      { tenant_id: tenantId, user_id: userId, outcome: 'failed', ms, oneup: failure.message },
      rotated === undefined
        ? 'refresh failed: OneUp answered but not with a usable token answer; the stored refresh token may be spent (a refresh-token grace period at OneUp forgives it)'
        : 'refresh failed: OneUp answered with a rotated refresh token but no usable access token; the rotated refresh token is stored',
    )
  }

  /**
   * One refresh grant, retried on transient failures ({@link retryWait}), within the deadline.
   * A failure with no HTTP answer (timeout, reset) may hide a refresh OneUp did perform: it is
   * retried at once all the same, with the same refresh token, because that token is all the
   * broker has; `attempts.answerMaybeLost` records it so a refusal can be explained.
   */
  private async callOneUp(refreshToken: string, deadline: number, attempts: { answerMaybeLost: boolean }): Promise<OneUpTokens> {
    const { oneup, policy } = this.deps
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await oneup.refresh(refreshToken)
      } catch (error) {
        if (!(error instanceof OneUpError)) throw error
        if (error.kind === 'unavailable' && error.httpStatus === undefined) attempts.answerMaybeLost = true
        const wait = this.retryWait(error, attempt)
        if (wait === undefined || attempt >= policy.maxAttempts || this.now() + wait + policy.attemptTimeoutMs > deadline) throw error
        await sleep(wait)
      }
    }
  }

  /**
   * How long no replica asks OneUp again for this connection after a failed refresh (and
   * the `Retry-After` callers get): the cooldown, or what OneUp asked for with a 429,
   * capped at a minute so that an outlandish `Retry-After` cannot hold a user back for long.
   */
  private cooldownAfter(failure: OneUpError): number {
    const { cooldownMs } = this.deps.policy
    if (failure.httpStatus !== 429 || failure.retryAfterMs === undefined) return cooldownMs
    return Math.min(MAX_RATE_LIMITED_COOLDOWN_MS, Math.max(cooldownMs, failure.retryAfterMs))
  }

  /**
   * How long to wait before trying a failed refresh grant again, or undefined not to:
   * - no answer, or a 5xx: OneUp being unwell, retried after a jittered backoff;
   * - Hydra's `invalid_request` to concurrent refreshes of one token: transient, likewise;
   * - 429: after OneUp's `Retry-After` (the caller's deadline decides whether that fits),
   *   never at once, and not at all when OneUp does not say when;
   * - any other answer (a 2xx the broker cannot use, a 4xx): OneUp's verdict, not repeated.
   */
  private retryWait(error: OneUpError, attempt: number): number | undefined {
    if (error.httpStatus === 429) return error.retryAfterMs
    const transient = (error.kind === 'unavailable' && (error.httpStatus === undefined || error.httpStatus >= 500)) || error.oauthError === 'invalid_request'
    return transient ? 100 * 2 ** attempt * (0.5 + Math.random()) : undefined
  }

  /**
   * Writes a token set OneUp just rotated: it holds the only copy of the new refresh token,
   * and the stored one is spent. So a Redis briefly out of reach (a blip, a cluster
   * failover) is waited for, under the lock, until the refresh's deadline; giving up at
   * the first error would leave the spent token to be presented again.
   */
  private async writeRotated(
    tenantId: string,
    userId: string,
    expected: number,
    fields: ConnectionFields,
    now: number,
    deadline: number,
    log: Log,
  ): Promise<number | undefined> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.deps.store.write(tenantId, userId, expected, fields, now)
      } catch (error) {
        // The attempt cap also bounds the loop under a clock that does not move (tests).
        if (!isRedisUnavailable(error) || attempt >= MAX_WRITE_ATTEMPTS || this.now() + WRITE_RETRY_MS > deadline) throw error
        log.warn({ tenant_id: tenantId, user_id: userId, attempt }, 'Redis unavailable while storing a refreshed token set: retrying')
        await sleep(WRITE_RETRY_MS)
      }
    }
  }

  /** Marks the record refused by OneUp; false when it changed meanwhile (a new connection: not this one's fate). */
  private async markReauthRequired(tenantId: string, userId: string, connection: StoredConnection): Promise<boolean> {
    const now = this.now()
    const version = await this.deps.store.write(
      tenantId,
      userId,
      connection.version,
      { ...connection, status: 'reauth_required', sealed: '', accessExpiresAt: 0 },
      now,
    )
    return version !== undefined
  }

  private async current(tenantId: string, userId: string): Promise<OpenConnection> {
    const connection = await this.deps.store.read(tenantId, userId)
    if (connection === undefined) throw fail('NotFound', { reason: 'No connection for this tenant and user.' })
    return this.opened(tenantId, userId, connection)
  }

  private async opened(tenantId: string, userId: string, connection: StoredConnection): Promise<OpenConnection> {
    if (connection.status !== 'active') throw reauthRequired()
    return { connection, tokens: await this.deps.opener.open(tenantId, userId, connection.sealed) }
  }
}

/** Pause between attempts to store a rotated token set while Redis is unreachable (ms). */
/** The longest OneUp's `Retry-After` to a refresh holds the connection's refreshes back. */
const MAX_RATE_LIMITED_COOLDOWN_MS = 60_000
const WRITE_RETRY_MS = 250
/** A cap on those attempts, besides the deadline. */
const MAX_WRITE_ATTEMPTS = 40

const reauthRequired = () => fail('ReauthRequired', { reason: 'Send the user through a new connect session.' })
const unavailable = (ms: number) => fail('OneUpUnavailable', { retryAfter: Math.max(1, Math.ceil(ms / 1000)) })
