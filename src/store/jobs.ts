import type { RedisClient } from './redis.js'

/** A background job's persisted state: flat string fields, so a crashed run can be resumed. */
export type JobFields = Record<string, string>

/**
 * One background job's record (a Redis hash): started only when none is
 * running, its cursor and counters saved after each batch.
 */
export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
  ) {}

  /** Starts a job with these fields (state = running) unless one is running: true when started. */
  async start(fields: JobFields): Promise<boolean> {
    return (await this.redis.obJobStart(this.key, ...Object.entries({ ...fields, state: 'running' }).flat())) === 1
  }

  async read(): Promise<JobFields | undefined> {
    const hash = await this.redis.hgetall(this.key)
    return hash.state === undefined ? undefined : hash
  }

  async update(fields: JobFields): Promise<void> {
    await this.redis.hset(this.key, fields)
  }
}
