import type { RedisKeys } from './keys.js'
import type { RedisClient } from './redis.js'

/** A webhook endpoint as stored: its signing secrets are sealed (JWE), never in clear. */
export interface StoredWebhook {
  id: string
  appId: string
  url: string
  events: string[]
  /** The app's tenants when the endpoint was made (an app's tenants never change). */
  tenants: string[]
  createdAt: number
  secrets: Array<{ secretId: string; sealed: string; createdAt: number }>
}

/** A delivery waiting in the queue or for its retry. */
export interface Delivery {
  webhookId: string
  eventId: string
  type: string
  /** The exact body to send (the same bytes on every attempt). */
  body: string
  attempt: number
  /** Times it waited for a slot of its endpoint (not attempts: nothing was sent). */
  deferrals?: number
}

/** Given-up entries kept when an unreadable one is set aside (the dispatcher's policy keeps as many). */
const UNREADABLE_KEPT = 10_000

/** Consumer group of every replica's deliverer. */
export const DELIVERERS = 'deliverers'

function parse(id: string, hash: Record<string, string>): StoredWebhook | undefined {
  if (hash.url === undefined) return undefined
  const secrets: StoredWebhook['secrets'] = []
  for (const [field, value] of Object.entries(hash)) {
    if (!field.startsWith('key:')) continue
    const [sealed = '', createdAt = '0'] = value.split(' ')
    secrets.push({ secretId: field.slice(4), sealed, createdAt: Number(createdAt) })
  }
  secrets.sort((a, b) => a.createdAt - b.createdAt)
  return {
    id,
    appId: hash.app_id ?? '',
    url: hash.url,
    events: JSON.parse(hash.events ?? '[]') as string[],
    tenants: JSON.parse(hash.tenants ?? '[]') as string[],
    createdAt: Number(hash.created_at ?? 0),
    secrets,
  }
}

const isBusyGroup = (error: unknown) => error instanceof Error && error.message.startsWith('BUSYGROUP')

/**
 * Webhook endpoints and their delivery queue, all under one hash tag: the
 * queue is a stream read by a consumer group (an entry stays pending until a
 * deliverer acknowledges it, so a crash loses none), retries wait in a sorted
 * set scored by when they are due, and given-up deliveries go to a capped stream.
 */
export class WebhookStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Stores a new endpoint unless its app has `max` already; false when full. */
  async create(webhook: Omit<StoredWebhook, 'secrets'>, secret: { secretId: string; sealed: string; createdAt: number }, max: number): Promise<boolean> {
    const fields = {
      app_id: webhook.appId,
      url: webhook.url,
      events: JSON.stringify(webhook.events),
      tenants: JSON.stringify(webhook.tenants),
      created_at: String(webhook.createdAt),
      [`key:${secret.secretId}`]: `${secret.sealed} ${secret.createdAt}`,
    }
    const created = await this.redis.obWebhookCreate(this.keys.webhooks(), this.keys.webhook(webhook.id), webhook.id, webhook.appId, max, ...Object.entries(fields).flat())
    return Number(created) === 1
  }

  async get(id: string): Promise<StoredWebhook | undefined> {
    return parse(id, await this.redis.hgetall(this.keys.webhook(id)))
  }

  async list(): Promise<StoredWebhook[]> {
    const ids = (await this.redis.smembers(this.keys.webhooks())).sort()
    const all = await Promise.all(ids.map((id) => this.get(id)))
    return all.filter((w): w is StoredWebhook => w !== undefined)
  }

  /** Deletes an endpoint and the retries waiting for it; what is still in the queue is dropped when read. */
  async delete(id: string): Promise<boolean> {
    const [deleted] = await Promise.all([
      this.redis.del(this.keys.webhook(id)),
      this.redis.srem(this.keys.webhooks(), id),
      this.redis.obWebhookForget(this.keys.webhookRetries(), id),
    ])
    return deleted === 1
  }

  /** Adds a signing secret unless the endpoint has `max` already. */
  async addSecret(id: string, secret: { secretId: string; sealed: string; createdAt: number }, max: number): Promise<'added' | 'full' | 'none'> {
    const result = await this.redis.obAppAddKey(this.keys.webhook(id), secret.secretId, `${secret.sealed} ${secret.createdAt}`, max)
    return result === 1 ? 'added' : result === 0 ? 'full' : 'none'
  }

  /** Revokes a signing secret unless it is the last one. */
  async revokeSecret(id: string, secretId: string): Promise<'revoked' | 'last' | 'none'> {
    const result = await this.redis.obRevokeUnlessLast(this.keys.webhook(id), secretId)
    return result === 1 ? 'revoked' : result === 0 ? 'last' : 'none'
  }

  /** Replaces a sealed secret only if it is unchanged since it was read (re-encryption). */
  async swapSecret(id: string, secret: { secretId: string; sealed: string; createdAt: number }, next: string): Promise<boolean> {
    const field = `key:${secret.secretId}`
    return (await this.redis.obFieldSwap(this.keys.webhook(id), field, `${secret.sealed} ${secret.createdAt}`, `${next} ${secret.createdAt}`)) === 1
  }

  /** Queues deliveries (creating the consumer group on first use, from the stream's start). */
  async enqueue(deliveries: Delivery[]): Promise<void> {
    if (deliveries.length === 0) return
    const queue = this.keys.webhookQueue()
    await this.createGroup()
    await Promise.all(deliveries.map((d) => this.redis.xadd(queue, '*', 'd', JSON.stringify(d))))
  }

  private async createGroup(): Promise<void> {
    await this.redis.xgroup('CREATE', this.keys.webhookQueue(), DELIVERERS, '0', 'MKSTREAM').catch((error: unknown) => {
      if (!isBusyGroup(error)) throw error
    })
  }

  /**
   * New deliveries for this consumer, then ones another consumer left pending longer
   * than `staleMs` (it died). `now` (the dispatcher's clock) dates an entry set aside.
   */
  async take(consumer: string, count: number, staleMs: number, now: number): Promise<Array<{ entryId: string; delivery: Delivery }>> {
    const queue = this.keys.webhookQueue()
    let claimed: unknown
    let fresh: unknown
    try {
      claimed = await this.redis.xautoclaim(queue, DELIVERERS, consumer, staleMs, '0-0', 'COUNT', count)
      // At most `count` in all: what was taken over first, then new ones.
      const left = count - ((claimed as [string, unknown[]] | null)?.[1]?.length ?? 0)
      fresh = left > 0 ? await this.redis.xreadgroup('GROUP', DELIVERERS, consumer, 'COUNT', left, 'STREAMS', queue, '>') : null
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOGROUP'))) throw error
      // No group: nothing was ever queued, or the group (or the whole stream) was lost (a
      // failover, an eviction, a hand-made XGROUP DESTROY). Made again from the stream's
      // start, so what it holds, retries moved back included, is delivered at the next look.
      await this.createGroup()
      return []
    }
    const entries = [
      ...(((claimed as [string, Array<[string, string[]] | null>] | null)?.[1] ?? []) as Array<[string, string[]] | null>),
      ...(((fresh as Array<[string, Array<[string, string[]]>]> | null)?.[0]?.[1] ?? []) as Array<[string, string[]]>),
    ]
    const out: Array<{ entryId: string; delivery: Delivery }> = []
    for (const entry of entries) {
      // A claimed entry deleted meanwhile comes back as null.
      if (entry === null || entry[1] === null) continue
      const delivery = parseDelivery(entry[1][1])
      if (delivery !== undefined) out.push({ entryId: entry[0], delivery })
      // Unreadable (written by hand, or by another version): set aside for ops, so that it
      // neither blocks the entries read with it nor comes back at every takeover.
      else await this.setAside(entry[0], entry[1][1] ?? '', now)
    }
    return out
  }

  /** Moves retries that are due back onto the queue. */
  async requeueDue(now: number, max: number): Promise<number> {
    return Number(await this.redis.obWebhookDue(this.keys.webhookRetries(), this.keys.webhookQueue(), now, max))
  }

  /**
   * Removes `self` from the consumer group, and any other consumer silent for
   * `idleMs`, each only when nothing is pending under it (a consumer that
   * reads again is simply made anew). Returns how many were removed.
   */
  async prune(self: string, idleMs: number): Promise<number> {
    return Number(await this.redis.obWebhookPrune(this.keys.webhookQueue(), DELIVERERS, self, idleMs))
  }

  async done(entryId: string): Promise<void> {
    await this.redis.obWebhookDone(this.keys.webhookQueue(), DELIVERERS, entryId)
  }

  async retryAt(entryId: string, delivery: Delivery, due: number): Promise<void> {
    await this.redis.obWebhookRetry(this.keys.webhookQueue(), this.keys.webhookRetries(), DELIVERERS, entryId, due, JSON.stringify(delivery))
  }

  /**
   * Gives a delivery up: kept (capped) for ops to see and removed from the queue in
   * one transaction (the keys share the `{wh}` slot), so it is never in both or lost.
   */
  async bury(entryId: string, delivery: Delivery, reason: string, at: number, keep: number): Promise<void> {
    await this.moveToDead(entryId, { ...delivery, reason, at }, keep)
  }

  /** An entry that is no delivery goes where given-up ones go, as it was (cut short). */
  private async setAside(entryId: string, raw: string, at: number): Promise<void> {
    await this.moveToDead(entryId, { reason: 'an unreadable queue entry', at, raw: raw.slice(0, 2048) }, UNREADABLE_KEPT)
  }

  private async moveToDead(entryId: string, record: object, keep: number): Promise<void> {
    const replies = await this.redis
      .multi()
      .xadd(this.keys.webhookDead(), 'MAXLEN', '~', keep, '*', 'd', JSON.stringify(record))
      .obWebhookDone(this.keys.webhookQueue(), DELIVERERS, entryId)
      .exec()
    const failed = replies?.find(([error]) => error !== null)?.[0]
    if (replies === null || failed) throw failed ?? new Error('the transaction was aborted')
  }

  /** Queue depths, for ops. */
  async depths(): Promise<{ queued: number; retrying: number; given_up: number }> {
    const [queued, retrying, dead] = await Promise.all([
      this.redis.xlen(this.keys.webhookQueue()),
      this.redis.zcard(this.keys.webhookRetries()),
      this.redis.xlen(this.keys.webhookDead()),
    ])
    return { queued: Number(queued), retrying: Number(retrying), given_up: Number(dead) }
  }
}

/** A queue entry's delivery, or undefined when it is not one. */
function parseDelivery(payload: string | undefined): Delivery | undefined {
  try {
    const delivery = JSON.parse(payload ?? '') as Partial<Delivery> | null
    return typeof delivery?.webhookId === 'string' && typeof delivery.eventId === 'string' && typeof delivery.attempt === 'number' ? (delivery as Delivery) : undefined
  } catch {
    return undefined
  }
}
