import { AuditLog } from './audit/log.js'
import type { Config } from './config/config.js'
import { ConnectionService } from './connections/service.js'
import type { Sealer } from './crypto/sealer.js'
import { Reencryption } from './encryption/reencrypt.js'
import type { BrokerEvents } from './events.js'
import type { Log } from './log.js'
import { checkClient, type ClientCheck } from './oneup/check-client.js'
import type { AppStore } from './store/apps.js'
import type { ConnectionStore } from './store/connections.js'
import { JobStore } from './store/jobs.js'
import type { RedisKeys } from './store/keys.js'
import { Lease } from './store/locks.js'
import { OneUpFactsStore } from './store/oneup.js'
import type { RedisClient } from './store/redis.js'
import { WebhookStore } from './store/webhooks.js'
import { KeepAlive, type KeepAlivePolicy } from './tokens/keep-alive.js'
import type { RefreshCoordinator } from './tokens/refresh.js'
import type { TokenOpener } from './tokens/token-set.js'
import { defaultDeliveryPolicy, WebhookDispatcher, type DeliveryPolicy } from './webhooks/delivery.js'
import { WebhookService } from './webhooks/service.js'

/** How long a replica holds the re-encryption lease between renewals: a crashed one's job resumes elsewhere after this. */
export const REENCRYPT_LEASE_MS = 30_000
/** How often each replica looks for a re-encryption job to run or resume. */
export const REENCRYPT_POLL_MS = 5_000

/** What the ops side needs of the broker's core. */
export interface OpsCore {
  config: Config
  redis: RedisClient
  events: BrokerEvents
  keys: RedisKeys
  connections: ConnectionStore
  apps: AppStore
  sealer: Sealer
  opener: TokenOpener
  refresher: RefreshCoordinator
}

export interface OpsOptions {
  log: Log
  now: () => number
  fetch?: typeof fetch | undefined
  /** Seams for tests. */
  deliveryPolicy?: Partial<DeliveryPolicy> | undefined
  keepAlivePolicy?: Partial<KeepAlivePolicy> | undefined
  reencryptLeaseMs?: number | undefined
}

/** The check-client answer for one secret. */
export type SecretCheck = ClientCheck & { secret: 'current' | 'previous' | 'given' }

/**
 * The operations side of the broker, wired over its core: connection
 * listing and deletion, the audit log, lifecycle webhooks, encryption key
 * re-encryption, the keep-alive sweeper, and what ops see of the OneUp client.
 * Its background workers (webhook delivery, the re-encryption job, the sweeper)
 * start and stop with the app.
 */
export function createOps(core: OpsCore, options: OpsOptions) {
  const { config, redis, events, keys } = core
  const { log, now } = options

  const oneupFacts = new OneUpFactsStore(redis, keys)
  events.on('oneup.previous_secret_used', () => {
    oneupFacts.countPreviousSecretUse(now()).catch((error: unknown) => log.warn({ err: error }, 'could not count a use of the previous OneUp secret'))
  })

  const audit = new AuditLog(redis, keys, config.audit.maxEntries, now)
  audit.subscribe(events, log)

  const webhookStore = new WebhookStore(redis, keys)
  const webhooks = new WebhookService({ store: webhookStore, apps: core.apps, sealer: core.sealer, now })
  const dispatcher = new WebhookDispatcher({
    store: webhookStore,
    service: webhooks,
    audit,
    log,
    now,
    fetch: options.fetch,
    events,
    policy: { ...defaultDeliveryPolicy(config.webhooks.timeoutMs, config.webhooks.maxAttempts), ...options.deliveryPolicy },
  })
  dispatcher.subscribe(events)

  const reencryption = new Reencryption({
    store: core.connections,
    opener: core.opener,
    kids: config.encryptionKeys.map((k) => k.kid),
    holders: [webhooks],
    jobs: new JobStore(redis, keys.reencryptJob(), keys.reencryptLock()),
    lease: () => new Lease(redis, keys.reencryptLock(), options.reencryptLeaseMs ?? REENCRYPT_LEASE_MS),
    log,
    now,
  })

  const keepAlivePolicy = { ...config.keepAlive, ...options.keepAlivePolicy }
  const keepAlive = new KeepAlive({
    store: core.connections,
    refresher: core.refresher,
    // A little shorter than the interval: a timer that fires a millisecond early must not
    // find this replica's own lease from the last sweep and skip one.
    lease: () => new Lease(redis, keys.sweepLock(), keepAlivePolicy.intervalMs - Math.min(1000, Math.floor(keepAlivePolicy.intervalMs / 10))),
    policy: keepAlivePolicy,
    log,
    now,
  })

  let reencryptPoll: NodeJS.Timeout | undefined

  return {
    connectionService: new ConnectionService({ store: core.connections, events }),
    audit,
    webhooks,
    webhookQueue: webhookStore,
    dispatcher,
    reencryption,
    keepAlive,
    oneupStatus: {
      facts: () => oneupFacts.read(),
      /** Asks OneUp about the configured secrets (current, then previous), or about one given secret. */
      async check(given?: { clientId?: string | undefined; secret: string }): Promise<{ client_id: string; results: SecretCheck[] }> {
        const { oneup } = config
        const ask = (clientId: string, secret: string) => checkClient(oneup.tokenUrl, { id: clientId, secret }, { fetch: options.fetch, timeoutMs: oneup.timeoutMs })
        if (given !== undefined) {
          const clientId = given.clientId ?? oneup.clientId
          return { client_id: clientId, results: [{ secret: 'given', ...(await ask(clientId, given.secret)) }] }
        }
        const results: SecretCheck[] = [{ secret: 'current', ...(await ask(oneup.clientId, oneup.clientSecret)) }]
        if (oneup.clientSecretPrevious !== undefined) results.push({ secret: 'previous', ...(await ask(oneup.clientId, oneup.clientSecretPrevious)) })
        return { client_id: oneup.clientId, results }
      },
    },
    workers: {
      start(): void {
        dispatcher.start()
        keepAlive.start()
        reencryption.kick()
        reencryptPoll = setInterval(() => reencryption.kick(), REENCRYPT_POLL_MS)
        reencryptPoll.unref()
      },
      async stop(): Promise<void> {
        clearInterval(reencryptPoll)
        await Promise.all([dispatcher.stop(), keepAlive.stop(), reencryption.stop()])
      },
    },
  }
}

export type Ops = ReturnType<typeof createOps>
