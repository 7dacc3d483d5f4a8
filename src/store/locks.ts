import { randomToken } from '../crypto/random.js'
import type { RedisClient } from './redis.js'

/**
 * A lease on a Redis key: taken with `SET NX PX` and an owner token, renewed
 * and released only by its owner (compare-and-set), so that one replica at a
 * time runs a background job, and a crashed holder's lease lapses by itself.
 */
export class Lease {
  readonly owner = randomToken(16)

  constructor(
    private readonly redis: RedisClient,
    readonly key: string,
    readonly ttlMs: number,
  ) {}

  /** True when this owner now holds the lease. */
  async acquire(): Promise<boolean> {
    return (await this.redis.set(this.key, this.owner, 'PX', this.ttlMs, 'NX')) === 'OK'
  }

  /** Extends the lease; false when it was lost (lapsed and taken by another). */
  async renew(): Promise<boolean> {
    return (await this.redis.obLockRenew(this.key, this.owner, this.ttlMs)) === 1
  }

  async release(): Promise<void> {
    await this.redis.obUnlock(this.key, this.owner)
  }
}
