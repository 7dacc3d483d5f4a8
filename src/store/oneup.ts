import type { RedisKeys } from './keys.js'
import type { RedisClient } from './redis.js'

/** What every replica has seen of the OneUp client, shared in Redis. */
export interface OneUpFacts {
  /** Calls OneUp accepted only with ONEUP_CLIENT_SECRET_PREVIOUS. */
  previousSecretUses: number
  previousSecretLastUsedAt: number | undefined
}

/** Broker-wide counters about the OneUp client (shared by every replica, kept across restarts). */
export class OneUpFactsStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async countPreviousSecretUse(at: number): Promise<void> {
    const key = this.keys.oneup()
    await Promise.all([this.redis.hincrby(key, 'previous_secret_uses', 1), this.redis.hset(key, 'previous_secret_last_used_at', String(at))])
  }

  async read(): Promise<OneUpFacts> {
    const hash = await this.redis.hgetall(this.keys.oneup())
    const last = hash.previous_secret_last_used_at
    return { previousSecretUses: Number(hash.previous_secret_uses ?? 0), previousSecretLastUsedAt: last === undefined ? undefined : Number(last) }
  }
}
