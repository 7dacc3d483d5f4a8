import type { RedisClient } from './redis.js'

/** A background job's persisted state: flat string fields, so a crashed run can be resumed. */
export type JobFields = Record<string, string>

/**
 * What starting a job did: `started` a new one; `running` found one running for
 * the same target (left as it is); `replaced` a running one for another target
 * that nobody was running; `busy` found one for another target that a replica
 * is running right now (left as it is).
 */
export type JobStart = 'started' | 'running' | 'replaced' | 'busy'

const OUTCOMES: Record<number, JobStart> = { 1: 'started', 0: 'running', 2: 'replaced', [-1]: 'busy' }

/**
 * One background job's record (a Redis hash): started only when none is
 * running for the same target, its cursor and counters saved after each batch.
 * `lock` is the key of the lease its runner holds (same hash tag as the job).
 */
export class JobStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly key: string,
    private readonly lock: string,
    /** The field naming what the job works towards (a job for another target may be replaced). */
    private readonly targetField = 'target_kid',
  ) {}

  /** Starts a job with these fields (state = running); see JobStart for what happens to one running. */
  async start(fields: JobFields): Promise<JobStart> {
    const answer = await this.redis.obJobStart(this.key, this.lock, this.targetField, ...Object.entries({ ...fields, state: 'running' }).flat())
    const outcome = OUTCOMES[answer]
    if (outcome === undefined) throw new Error(`obJobStart answered ${answer}`)
    return outcome
  }

  async read(): Promise<JobFields | undefined> {
    const hash = await this.redis.hgetall(this.key)
    return hash.state === undefined ? undefined : hash
  }

  /**
   * Saves progress of job `id`, unless the job was replaced meanwhile (a job to another key,
   * started while this one's runner had lost its lease): false then, and nothing is written.
   */
  async update(id: string, fields: JobFields): Promise<boolean> {
    return (await this.redis.obJobUpdate(this.key, id, ...Object.entries(fields).flat())) === 1
  }
}
