import { setTimeout as sleep } from 'node:timers/promises'
import { randomBytes } from 'node:crypto'
import { sealedKid } from '../crypto/sealer.js'
import { BrokerError, fail } from '../errors.js'
import { onceEvery, type Log } from '../log.js'
import { byteOrder, type ConnectionStore } from '../store/connections.js'
import type { JobFields, JobStore } from '../store/jobs.js'
import type { Lease } from '../store/locks.js'
import type { TokenOpener } from '../tokens/token-set.js'

/** Other things sealed with the encryption keys (webhook signing secrets): counted and moved too. */
export interface SealedHolder {
  /** How many of its secrets each key id seals. */
  kidCounts(): Promise<Record<string, number>>
  /** Re-seals every secret not sealed with `kid`; returns how many moved and how many did not open. */
  reseal(kid: string): Promise<{ moved: number; failed: number }>
}

/** The job as `GET /v1/admin/encryption` shows it. */
export interface JobView {
  id: string
  state: 'running' | 'done'
  /** The key every record is being moved to. */
  target_kid: string
  /** Records looked at so far, of `total` (the sealed records when the job started). */
  done: number
  total: number
  /** Records re-sealed by the job (others were on the target key already, or moved by a refresh). */
  moved: number
  /** Records that did not open (sealed with a key no longer configured): still on their old key. */
  failed: number
  started_at: string
  finished_at: string | null
}

/** What `POST /v1/admin/encryption/reencrypt` did. */
export interface JobStarted {
  job: JobView
  /** `started` a new job; `running` found it running already; `replaced` a job for another key that nobody ran. */
  outcome: 'started' | 'running' | 'replaced'
  /** The job replaced, when `outcome` is `replaced`. */
  replaced?: JobView
}

export interface EncryptionStatus {
  primary_kid: string
  /** The key ids this replica can open, the sealing one first. */
  kids: string[]
  /** Sealed records per key id: connections' token sets and webhook signing secrets. */
  records: Record<string, number>
  job: JobView | null
}

export interface ReencryptDeps {
  store: ConnectionStore
  opener: TokenOpener
  /** Every key id configured, the primary first. */
  kids: string[]
  holders: SealedHolder[]
  jobs: JobStore
  /** Held while running, so one replica at a time runs the job. */
  lease: () => Lease
  log: Log
  now?: () => number
  /** Records per batch: progress is saved and the lease renewed after each. */
  batchSize?: number
}

/** A position in the walk: tenant by tenant, each by (created_at, user id). */
interface WalkCursor {
  tenantId: string
  score: number
  userId: string
}

/**
 * Encryption key rotation: counts sealed records per key id, and the job that
 * moves every record to the primary key. The job is
 * - safe under traffic: each record is re-sealed and written with
 *   compare-and-set on its version, so a refresh that wins the race is kept
 *   (and it re-seals with the primary key by itself);
 * - one at a time: a replica runs it only while holding a lease in Redis;
 * - resumable: its cursor and counters are saved after every batch, and any
 *   replica resumes a running job whose lease has lapsed (a crash, a restart).
 */
export class Reencryption {
  private readonly now: () => number
  private readonly batchSize: number
  private running: Promise<void> | undefined
  private stopping = false
  private warnedKid: string | undefined
  private readonly failureLogged = onceEvery(30_000)

  constructor(private readonly deps: ReencryptDeps) {
    this.now = deps.now ?? Date.now
    this.batchSize = deps.batchSize ?? 100
  }

  get primaryKid(): string {
    return this.deps.opener.primaryKid
  }

  async status(): Promise<EncryptionStatus> {
    const [records, job] = await Promise.all([this.countRecords(), this.deps.jobs.read()])
    return { primary_kid: this.primaryKid, kids: this.deps.kids, records, job: job === undefined ? null : view(job) }
  }

  /**
   * Starts the job to this replica's primary key (or returns the one already
   * running for it) and runs it here if no replica does. A job running for
   * another key was started by a replica whose first key differed (a rollout
   * under way, or since rolled back or forward): if nobody runs it, it may be
   * stuck for ever (replicas run only jobs for their own primary key), so this
   * one replaces it; if a replica runs it right now, the fleet disagrees on the
   * first key and the caller is told so (409) rather than shown a job it did
   * not start.
   */
  async start(): Promise<JobStarted> {
    const records = await this.countRecords()
    const total = Object.values(records).reduce((sum, n) => sum + n, 0)
    const previous = await this.deps.jobs.read()
    const outcome = await this.deps.jobs.start({
      id: `job_${randomBytes(6).toString('hex')}`,
      target_kid: this.primaryKid,
      total: String(total),
      done: '0',
      moved: '0',
      failed: '0',
      started_at: String(this.now()),
    })
    if (outcome === 'busy') throw this.busy(await this.deps.jobs.read())
    this.kick()
    const job = await this.deps.jobs.read()
    if (job === undefined) throw new Error('the re-encryption job vanished as it started')
    if (outcome !== 'replaced') return { job: view(job), outcome }
    this.deps.log.warn(
      { job: job.id, target_kid: this.primaryKid, replaced_job: previous?.id, replaced_target_kid: previous?.target_kid },
      'a running re-encryption job for another key, run by no replica, was replaced by one to this replica\'s first key',
    )
    return { job: view(job), outcome, ...(previous === undefined ? {} : { replaced: view(previous) }) }
  }

  /** The 409 for a job to another key that a replica is running now. */
  private busy(job: JobFields | undefined): BrokerError {
    return fail('Conflict', {
      reason:
        `re-encryption job ${job?.id ?? '?'} to key ${job?.target_kid ?? '?'} is being run by a replica that seals with that key, ` +
        `but this replica seals with ${this.primaryKid}: finish rolling out TOKEN_ENCRYPTION_KEYS (a replica stops the job as it leaves), then start again`,
    })
  }

  /** Runs a pending job here, in the background, unless it is running in this process already. */
  kick(): void {
    if (this.running !== undefined || this.stopping) return
    this.running = this.runIfPending()
      .catch((error: unknown) => {
        if (this.failureLogged()) this.deps.log.error({ err: error }, 're-encryption job stopped; it resumes later (logged once every 30 s)')
      })
      .finally(() => {
        this.running = undefined
      })
  }

  /** Stops after the current record (the job stays `running` for another replica, or this one after a restart). */
  async stop(): Promise<void> {
    this.stopping = true
    await this.running
  }

  /** Resolves when this process' run (if any) has ended. */
  async idle(): Promise<void> {
    await this.running
  }

  private async runIfPending(): Promise<void> {
    const job = await this.deps.jobs.read()
    if (job?.state !== 'running') return
    if (job.target_kid !== this.primaryKid) {
      // A replica sealing with another key would undo the job: it must not run it.
      if (this.warnedKid !== job.target_kid) {
        this.warnedKid = job.target_kid
        this.deps.log.warn({ target_kid: job.target_kid, primary_kid: this.primaryKid }, 'a re-encryption job targets another key than this replica seals with; not running it here')
      }
      return
    }
    const lease = this.deps.lease()
    if (!(await lease.acquire())) return
    try {
      // The job may have been replaced (by one to another key) between the read
      // and the lease: only the job read under the lease is ours to run.
      const held = await this.deps.jobs.read()
      if (held?.state !== 'running' || held.id !== job.id) return
      await this.walk(held, lease)
    } finally {
      await lease.release().catch(() => undefined)
    }
  }

  private async walk(job: JobFields, lease: Lease): Promise<void> {
    const { store, jobs, log } = this.deps
    const target = this.primaryKid
    const counters = { done: Number(job.done ?? 0), moved: Number(job.moved ?? 0), failed: Number(job.failed ?? 0) }
    let cursor: WalkCursor | undefined = job.cursor_tenant === undefined
      ? undefined
      : { tenantId: job.cursor_tenant, score: Number(job.cursor_score), userId: job.cursor_user ?? '' }
    log.info({ job: job.id, resumed: cursor !== undefined }, 're-encryption job running')

    for (const tenantId of await store.tenants()) {
      if (cursor !== undefined && byteOrder(tenantId, cursor.tenantId) < 0) continue
      for (;;) {
        const after = cursor?.tenantId === tenantId ? { score: cursor.score, userId: cursor.userId, mode: 'exact' as const } : undefined
        // Active records are the only ones holding a sealed token set.
        const batch = await store.page(tenantId, { statuses: ['active'], by: 'created_at', direction: 'asc', after, limit: this.batchSize })
        for (const { userId, score } of batch) {
          if (this.stopping) return
          const outcome = await this.move(tenantId, userId, target)
          counters.done += 1
          if (outcome === 'moved') counters.moved += 1
          if (outcome === 'failed') counters.failed += 1
          cursor = { tenantId, score, userId }
        }
        if (cursor !== undefined) {
          const saved = await jobs.update(job.id ?? '', {
            done: String(counters.done),
            moved: String(counters.moved),
            failed: String(counters.failed),
            cursor_tenant: cursor.tenantId,
            cursor_score: String(cursor.score),
            cursor_user: cursor.userId,
          })
          if (!saved) return this.replaced(job)
        }
        if (!(await lease.renew())) {
          log.warn({ job: job.id }, 're-encryption lease lost; another replica goes on')
          return
        }
        if (batch.length < this.batchSize) break
        // Let the hand-outs of this process go first between batches.
        await sleep(0)
      }
    }
    for (const holder of this.deps.holders) {
      const { moved, failed } = await holder.reseal(target)
      counters.moved += moved
      counters.failed += failed
    }
    const total = Number(job.total ?? 0)
    const finished = await jobs.update(job.id ?? '', {
      state: 'done',
      done: String(Math.max(total, counters.done)),
      total: String(Math.max(total, counters.done)),
      moved: String(counters.moved),
      failed: String(counters.failed),
      finished_at: String(this.now()),
    })
    if (!finished) return this.replaced(job)
    log.info({ job: job.id, moved: counters.moved, failed: counters.failed }, 're-encryption job done')
  }

  /** Another job took this one's place (it had lost its lease): its progress is not the new job's. */
  private replaced(job: JobFields): void {
    this.deps.log.warn({ job: job.id }, 're-encryption job replaced by another while it ran; this run stops')
  }

  /** Re-seals one record with the target key, compare-and-set on its version (retried if a refresh won). */
  private async move(tenantId: string, userId: string, target: string): Promise<'moved' | 'kept' | 'failed'> {
    const { store, opener, log } = this.deps
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const record = await store.read(tenantId, userId)
      if (record === undefined || record.status !== 'active' || record.sealed === '') return 'kept'
      if (sealedKid(record.sealed) === target) return 'kept'
      let sealed: string
      try {
        sealed = await opener.seal(tenantId, userId, await opener.open(tenantId, userId, record.sealed))
      } catch (error) {
        // The opener reports a record it cannot open (a retired key, a record not sealed
        // for this connection) as Unreadable: one such record must not stop the job.
        if (!(error instanceof BrokerError && error.kind === 'Unreadable')) throw error
        log.warn({ tenant_id: tenantId, user_id: userId, kid: record.kid }, 'a record does not open with the configured keys; left as it is')
        return 'failed'
      }
      if (await store.reseal(tenantId, userId, record.version, sealed, target)) return 'moved'
    }
    // Written over five times in a row: refreshes this busy re-seal it with the primary key themselves.
    return 'kept'
  }

  private async countRecords(): Promise<Record<string, number>> {
    const { store, holders } = this.deps
    const tenants = await store.tenants()
    const counts = await Promise.all([...tenants.map((t) => store.kidCounts(t)), ...holders.map((h) => h.kidCounts())])
    const records: Record<string, number> = {}
    for (const count of counts) for (const [kid, n] of Object.entries(count)) records[kid] = (records[kid] ?? 0) + n
    return records
  }
}

function view(job: JobFields): JobView {
  const total = Number(job.total ?? 0)
  const finished = job.finished_at === undefined ? null : new Date(Number(job.finished_at)).toISOString()
  return {
    id: job.id ?? '',
    state: job.state === 'running' ? 'running' : 'done',
    target_kid: job.target_kid ?? '',
    done: Math.min(Number(job.done ?? 0), total),
    total,
    moved: Number(job.moved ?? 0),
    failed: Number(job.failed ?? 0),
    started_at: new Date(Number(job.started_at ?? 0)).toISOString(),
    finished_at: finished,
  }
}
