import { randomBytes } from 'node:crypto'
import type { AuditLog } from '../audit/log.js'
import type { BrokerEvents, ConnectionRef } from '../events.js'
import { onceEvery, type Log } from '../log.js'
import type { Delivery, StoredWebhook, WebhookStore } from '../store/webhooks.js'
import type { WebhookEvent, WebhookService } from './service.js'
import { signedHeaders } from './signing.js'

export interface DeliveryPolicy {
  /** Timeout of one delivery attempt (ms). */
  timeoutMs: number
  /** Attempts before a delivery is given up. */
  maxAttempts: number
  /** Wait before the 2nd attempt (ms); doubled each time, up to `maxBackoffMs`, with ±20% jitter. */
  baseBackoffMs: number
  maxBackoffMs: number
  /** How often each replica looks for due retries and deliveries queued elsewhere (ms). */
  pollMs: number
  /** A delivery pending this long under another consumer is taken over (that replica died). */
  staleMs: number
  /** Given-up deliveries kept for ops (about). */
  keepGivenUp: number
}

export function defaultDeliveryPolicy(timeoutMs: number, maxAttempts: number): DeliveryPolicy {
  return {
    timeoutMs,
    maxAttempts,
    baseBackoffMs: 1000,
    maxBackoffMs: 3_600_000,
    pollMs: 1000,
    // Longer than any live attempt, so a working replica's delivery is never taken from it.
    staleMs: 2 * timeoutMs + 5000,
    keepGivenUp: 10_000,
  }
}

/** The wait before attempt `attempt + 1`. */
export function backoff(policy: Pick<DeliveryPolicy, 'baseBackoffMs' | 'maxBackoffMs'>, attempt: number, random = Math.random): number {
  const plain = Math.min(policy.maxBackoffMs, policy.baseBackoffMs * 2 ** Math.max(0, attempt - 1))
  return Math.round(plain * (0.8 + 0.4 * random()))
}

/** Attempts in flight per replica. */
const MAX_IN_FLIGHT = 20
/**
 * Attempts in flight per endpoint and replica: a receiver that hangs holds this
 * many slots (each up to WEBHOOK_TIMEOUT_MS), never all of them, so the other
 * endpoints' deliveries go on at their own pace.
 */
const MAX_IN_FLIGHT_PER_ENDPOINT = 4
/** Longest wait for a slot of a busy endpoint before looking again. */
const MAX_DEFERRAL_MS = 60_000
/** Retries moved back to the queue per script call, and calls per poll at most (one script call stays short). */
const REQUEUE_BATCH = 100
const MAX_REQUEUE_ROUNDS = 100

export interface DispatcherDeps {
  store: WebhookStore
  service: WebhookService
  audit: AuditLog
  log: Log
  policy: DeliveryPolicy
  now?: () => number
  fetch?: typeof fetch
  /** Told how each attempt ended (metrics). */
  events?: BrokerEvents
}

/**
 * Lifecycle webhooks: turns the domain's connection events into deliveries
 * (one per subscribed endpoint whose app serves the tenant) queued in Redis,
 * and delivers them, at least once:
 * - an entry stays in the stream, pending, until a deliverer acknowledges it;
 * - a failed attempt moves atomically to the retry set, due after a backoff;
 * - a replica that dies mid-delivery leaves it pending, and another takes it
 *   over after `staleMs`; a restarted replica picks up the due retries.
 * Every attempt of one event carries the same `webhook-id` (the event id).
 */
export class WebhookDispatcher {
  private readonly consumer = `c-${randomBytes(6).toString('hex')}`
  private readonly now: () => number
  private timer: NodeJS.Timeout | undefined
  private ticking: Promise<void> | undefined
  private again = false
  private stopped = false
  /** The attempts in flight, ended when the process stops: a hanging receiver must not hold up the shutdown. */
  private readonly attempts = new Set<AbortController>()
  /** Wakes a round waiting for a free slot (an attempt ended, or something new was queued). */
  private nudge: (() => void) | undefined
  private readonly inFlight = new Map<string, number>()
  private lastRequeue = 0
  private readonly failureLogged = onceEvery(30_000)

  constructor(private readonly deps: DispatcherDeps) {
    this.now = deps.now ?? Date.now
  }

  /** Queues a delivery of every connection lifecycle event (never delays the domain). */
  subscribe(events: BrokerEvents): void {
    const on = (type: WebhookEvent) => (ref: ConnectionRef) => {
      this.publish(type, ref).catch((error: unknown) => this.deps.log.error({ err: error, event: type }, 'could not queue webhook deliveries'))
    }
    events.on('connection.created', on('connection.created'))
    events.on('connection.reauth_required', on('connection.reauth_required'))
    events.on('connection.deleted', on('connection.deleted'))
  }

  /** Queues one event for every endpoint that wants it; returns the event id. */
  async publish(type: WebhookEvent, ref: ConnectionRef): Promise<string> {
    const eventId = `evt_${randomBytes(12).toString('hex')}`
    const endpoints = (await this.deps.store.list()).filter(
      (w) => w.events.includes(type) && (w.tenants.includes('*') || w.tenants.includes(ref.tenantId)),
    )
    const body = JSON.stringify({
      id: eventId,
      type,
      created_at: new Date(this.now()).toISOString(),
      data: { tenant_id: ref.tenantId, user_id: ref.userId, app_id: ref.appId },
    })
    await this.deps.store.enqueue(endpoints.map((w) => ({ webhookId: w.id, eventId, type, body, attempt: 1 })))
    if (endpoints.length > 0) this.wake()
    return eventId
  }

  /** Starts delivering in the background (every replica does; the consumer group shares the work). */
  start(): void {
    if (this.timer !== undefined || this.stopped) return
    this.timer = setInterval(() => this.wake(), this.deps.policy.pollMs)
    this.timer.unref()
    // Replicas gone without a clean stop left their consumers in the group.
    this.deps.store.prune(this.consumer, this.pruneAfterMs).catch(() => undefined)
    this.wake()
  }

  /** A consumer with nothing pending and silent this long is gone (a live one reads every poll). */
  private get pruneAfterMs(): number {
    return Math.max(this.deps.policy.staleMs, 60_000)
  }

  /**
   * Stops: the attempts in flight are cut short and put back, due at once and not
   * counted, for another replica or the next start; then this consumer leaves the
   * group (unless something is still pending under it, to be taken over).
   */
  async stop(): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    for (const attempt of this.attempts) attempt.abort()
    this.nudge?.()
    await this.ticking
    await this.deps.store.prune(this.consumer, this.pruneAfterMs).catch((error: unknown) => this.deps.log.warn({ err: error }, 'could not leave the webhook consumer group'))
  }

  /** Runs a delivery round now (or has the running one look again). */
  wake(): void {
    if (this.stopped) return
    if (this.ticking !== undefined) {
      this.again = true
      this.nudge?.()
      return
    }
    this.ticking = this.round()
      .catch((error: unknown) => {
        if (this.failureLogged()) this.deps.log.error({ err: error }, 'webhook delivery round failed; retrying every round (logged once every 30 s)')
      })
      .finally(() => {
        this.ticking = undefined
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  /**
   * Delivers until the queue is empty, with up to MAX_IN_FLIGHT attempts at once:
   * a slot is refilled as soon as its attempt ends, not when the slowest of a batch does.
   */
  private async round(): Promise<void> {
    const { store, policy } = this.deps
    const running = new Set<Promise<void>>()
    try {
      for (;;) {
        if (this.stopped) break
        if (this.now() - this.lastRequeue >= policy.pollMs) {
          this.lastRequeue = this.now()
          await this.requeueAllDue()
        }
        const room = MAX_IN_FLIGHT - running.size
        const batch = room > 0 ? await store.take(this.consumer, room, policy.staleMs, this.now()) : []
        if (this.stopped) {
          // Taken while stop() began: put back, due at once, for another replica or the next start.
          await Promise.all(batch.map(({ entryId, delivery }) => store.retryAt(entryId, delivery, this.now())))
          break
        }
        for (const { entryId, delivery } of batch) {
          const attempt = this.run(entryId, delivery).finally(() => {
            running.delete(attempt)
            this.nudge?.()
          })
          running.add(attempt)
        }
        if (running.size === 0) break
        // A wake() while this round was busy with Redis: look again before waiting.
        if (this.again) {
          this.again = false
          continue
        }
        if (batch.length === 0 || running.size >= MAX_IN_FLIGHT) await this.slotOrNews()
      }
    } finally {
      // Even when Redis failed the round: no attempt outlives it (the next round starts clean).
      await Promise.all(running)
    }
  }

  /**
   * Moves every due retry back to the queue, a hundred at a time: a busy endpoint's
   * deferred backlog must not hold other endpoints' retries back for several polls.
   */
  private async requeueAllDue(): Promise<void> {
    for (let round = 0; round < MAX_REQUEUE_ROUNDS; round += 1) {
      if ((await this.deps.store.requeueDue(this.now(), REQUEUE_BATCH)) < REQUEUE_BATCH) return
    }
  }

  /** Resolves when an attempt ends or `wake` is called (a new event, the poll timer, stop). */
  private slotOrNews(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.nudge = resolve
    }).finally(() => {
      this.nudge = undefined
    })
  }

  /** One delivery, within its endpoint's share of the slots; never throws (the entry stays pending). */
  private async run(entryId: string, delivery: Delivery): Promise<void> {
    const { store, policy, log } = this.deps
    const busy = this.inFlight.get(delivery.webhookId) ?? 0
    try {
      if (busy >= MAX_IN_FLIGHT_PER_ENDPOINT) {
        // Its endpoint has its share in flight: this one waits in the retry set, as the same
        // attempt, a little longer each time, so that a hanging endpoint's backlog does not
        // cycle through Redis (ahead of other endpoints' retries) at every poll.
        const deferrals = (delivery.deferrals ?? 0) + 1
        const wait = backoff({ baseBackoffMs: policy.pollMs, maxBackoffMs: MAX_DEFERRAL_MS }, deferrals)
        await store.retryAt(entryId, { ...delivery, deferrals }, this.now() + wait)
        return
      }
      this.inFlight.set(delivery.webhookId, busy + 1)
      try {
        await this.deliver(entryId, delivery)
      } finally {
        const left = (this.inFlight.get(delivery.webhookId) ?? 1) - 1
        if (left === 0) this.inFlight.delete(delivery.webhookId)
        else this.inFlight.set(delivery.webhookId, left)
      }
    } catch (error) {
      // Redis unreachable mid-delivery: the entry stays pending and is taken over after staleMs.
      if (this.failureLogged()) log.error({ err: error }, 'webhook delivery failed; its entry stays queued (logged once every 30 s)')
    }
  }

  private async deliver(entryId: string, delivery: Delivery): Promise<void> {
    const { store, service, log, policy } = this.deps
    const webhook = await store.get(delivery.webhookId)
    if (webhook === undefined) {
      // The endpoint was deleted: nobody to tell.
      await store.done(entryId)
      return
    }
    const failure = await this.attempt(webhook, delivery)
    if (failure !== undefined && this.stopped) {
      // Cut short by the shutdown: not the receiver's fault, so not an attempt; due at once elsewhere.
      await store.retryAt(entryId, delivery, this.now())
      return
    }
    this.deps.events?.emit('webhook.attempt', { outcome: failure === undefined ? 'delivered' : delivery.attempt >= policy.maxAttempts ? 'given_up' : 'failed' })
    if (failure === undefined) {
      await store.done(entryId)
      log.info({ webhook_id: webhook.id, event_id: delivery.eventId, attempt: delivery.attempt }, 'webhook delivered')
      return
    }
    if (delivery.attempt >= policy.maxAttempts) {
      await store.bury(entryId, delivery, failure, this.now(), policy.keepGivenUp)
      log.warn({ webhook_id: webhook.id, event_id: delivery.eventId, attempt: delivery.attempt, reason: failure }, 'webhook delivery given up')
      await this.deps.audit
        .record('broker', 'webhook.given_up', { webhook_id: webhook.id, app_id: webhook.appId, event_id: delivery.eventId, event: delivery.type, reason: failure })
        .catch(() => undefined)
      return
    }
    const wait = backoff(policy, delivery.attempt)
    await store.retryAt(entryId, { ...delivery, attempt: delivery.attempt + 1, deferrals: 0 }, this.now() + wait)
    log.info({ webhook_id: webhook.id, event_id: delivery.eventId, attempt: delivery.attempt, reason: failure, retry_in_ms: wait }, 'webhook delivery failed; will retry')
  }

  /** One signed POST; undefined when the receiver took it (2xx), else why not. */
  private async attempt(webhook: StoredWebhook, delivery: Delivery): Promise<string | undefined> {
    let secrets: string[]
    try {
      secrets = await this.deps.service.secretsOf(webhook)
    } catch {
      return 'its signing secrets do not open with the configured encryption keys'
    }
    const headers = {
      ...signedHeaders(secrets, delivery.eventId, Math.floor(this.now() / 1000), delivery.body),
      'content-type': 'application/json',
      'user-agent': 'oneup-broker-webhooks/1',
    }
    // One controller per attempt, for its timeout and for stop() (on Node 20, AbortSignal.any
    // over a long-lived signal keeps every combined signal alive: a leak per attempt).
    // Stopping since this delivery was taken: not sent, put back by deliver() uncounted.
    if (this.stopped) return 'the broker is stopping'
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new DOMException('the receiver timed out', 'TimeoutError')), this.deps.policy.timeoutMs)
    this.attempts.add(controller)
    try {
      const response = await (this.deps.fetch ?? fetch)(webhook.url, {
        method: 'POST',
        headers,
        body: delivery.body,
        redirect: 'manual',
        signal: controller.signal,
      })
      await response.body?.cancel().catch(() => undefined)
      return response.status >= 200 && response.status < 300 ? undefined : `the receiver answered ${response.status}`
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error'
      const code = (error as { cause?: { code?: unknown } }).cause?.code
      return name === 'TimeoutError' ? 'the receiver timed out' : `the receiver could not be reached (${typeof code === 'string' ? code : name})`
    } finally {
      clearTimeout(timer)
      this.attempts.delete(controller)
    }
  }
}
