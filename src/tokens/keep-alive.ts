import { BrokerError } from '../errors.js'
import type { Log } from '../log.js'
import type { ConnectionStore, IndexCursor } from '../store/connections.js'
import type { Lease } from '../store/locks.js'
import type { RefreshCoordinator } from './refresh.js'

export interface KeepAlivePolicy {
  /** A connection not refreshed for this long is refreshed by the sweeper (ms); 0 turns it off. */
  staleAfterMs: number
  /** How often a sweep is due (ms); one replica sweeps per interval. */
  intervalMs: number
  /** Connections refreshed at once. */
  batchSize: number
}

export interface SweepResult {
  refreshed: number
  /** OneUp refused the refresh token (`invalid_grant`): now `reauth_required`. */
  reauthRequired: number
  /** OneUp unavailable, or the connection vanished: tried again at the next sweep. */
  failed: number
}

export interface KeepAliveDeps {
  store: ConnectionStore
  refresher: RefreshCoordinator
  /** The sweep lease; its lifetime is the interval, so one replica sweeps per interval. */
  lease: () => Lease
  policy: KeepAlivePolicy
  log: Log
  now?: () => number
}

/**
 * Keeps connections alive: OneUp's refresh tokens expire when unused (Hydra's
 * default refresh token lifespan is 720 hours, renewed by each refresh), so a
 * connection nobody asked a token for in weeks would die silently. Each
 * interval one replica (the one that takes the lease) refreshes, in small
 * batches, every active connection not refreshed for `staleAfterMs`, through
 * the refresh coordinator (so never at the same time as a hand-out's refresh).
 * `reauth_required` connections are not in the index it reads.
 */
export class KeepAlive {
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<SweepResult | undefined> | undefined
  private stopped = false

  constructor(private readonly deps: KeepAliveDeps) {
    this.now = deps.now ?? Date.now
  }

  /** Sweeps every interval (the first one interval after start). */
  start(): void {
    const { intervalMs, staleAfterMs } = this.deps.policy
    if (staleAfterMs <= 0 || this.timer !== undefined || this.stopped) return
    this.timer = setInterval(() => void this.sweepIfDue(), intervalMs)
    this.timer.unref()
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.sweeping
  }

  /** Sweeps if no other replica has this interval (takes the lease); undefined when it did not sweep. */
  sweepIfDue(): Promise<SweepResult | undefined> {
    this.sweeping ??= this.leasedSweep()
      .catch((error: unknown) => {
        this.deps.log.error({ err: error }, 'keep-alive sweep failed; the next interval tries again')
        return undefined
      })
      .finally(() => {
        this.sweeping = undefined
      })
    return this.sweeping
  }

  private async leasedSweep(): Promise<SweepResult | undefined> {
    const lease = this.deps.lease()
    // Not released at the end: the lease marks this interval as swept for every replica.
    if (!(await lease.acquire())) return undefined
    return this.sweep(() => lease.renew())
  }

  /**
   * Refreshes every active connection last refreshed before `now - staleAfterMs`.
   * `keepGoing` is asked between batches (the lease renewal).
   */
  async sweep(keepGoing: () => Promise<boolean> = async () => true): Promise<SweepResult> {
    const { store, refresher, policy, log } = this.deps
    const cutoff = this.now() - policy.staleAfterMs
    const result: SweepResult = { refreshed: 0, reauthRequired: 0, failed: 0 }
    if (policy.staleAfterMs <= 0) return result
    for (const tenantId of await store.tenants()) {
      let after: IndexCursor | undefined
      for (;;) {
        if (this.stopped) return result
        const batch = await store.page(tenantId, { statuses: ['active'], by: 'refreshed_at', direction: 'asc', max: cutoff - 1, after, limit: policy.batchSize })
        await Promise.all(
          batch.map(async ({ userId }) => {
            const record = await store.read(tenantId, userId)
            // Refreshed or gone since the index was read: nothing to do.
            if (record === undefined || record.status !== 'active' || record.refreshedAt >= cutoff) return
            try {
              await refresher.refresh(tenantId, userId, record)
              result.refreshed += 1
            } catch (error) {
              if (!(error instanceof BrokerError)) throw error
              if (error.kind === 'ReauthRequired') result.reauthRequired += 1
              else result.failed += 1
            }
          }),
        )
        const last = batch.at(-1)
        if (last === undefined || batch.length < policy.batchSize) break
        after = { score: last.score, userId: last.userId, mode: 'exact' }
        if (!(await keepGoing())) return result
      }
    }
    if (result.refreshed + result.reauthRequired + result.failed > 0) log.info({ ...result }, 'keep-alive sweep done')
    return result
  }
}
