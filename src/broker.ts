import { AppAuthenticator } from './apps/authenticator.js'
import { AppService } from './apps/service.js'
import type { Config } from './config/config.js'
import { createSealer } from './crypto/sealer.js'
import { BrokerEvents } from './events.js'
import { ConnectService } from './flow/connect.js'
import type { Log } from './log.js'
import { createOneUpClient } from './oneup/client.js'
import { KeyUsage } from './apps/key-usage.js'
import { createOps, type OpsOptions } from './ops.js'
import { AppStore } from './store/apps.js'
import { ConnectionStore } from './store/connections.js'
import { FlowStore } from './store/flows.js'
import { HandoutStore } from './store/handout.js'
import { redisKeys } from './store/keys.js'
import type { RedisClient } from './store/redis.js'
import { TokenService } from './tokens/handout.js'
import { defaultRefreshPolicy, RefreshCoordinator, type RefreshPolicy } from './tokens/refresh.js'
import { TokenOpener } from './tokens/token-set.js'

export interface BrokerDeps {
  config: Config
  redis: RedisClient
  log: Log
  /** Where domain events go (metrics, webhooks); a new bus by default. */
  events?: BrokerEvents
  /** Seams for tests: OneUp's fetch, the clock, the refresh policy. */
  fetch?: typeof fetch
  now?: () => number
  refreshPolicy?: Partial<RefreshPolicy>
  /** Seams for tests of the ops side (webhook delivery, keep-alive, re-encryption). */
  ops?: Pick<OpsOptions, 'deliveryPolicy' | 'keepAlivePolicy' | 'reencryptLeaseMs'>
}

/**
 * The broker's domain, wired from config and a Redis client: no Fastify here.
 * `src/app.ts` puts HTTP in front of it; the benchmark and tests build it directly.
 */
export function createBroker(deps: BrokerDeps) {
  const { config, redis, log } = deps
  const now = deps.now ?? Date.now
  const events = deps.events ?? new BrokerEvents()
  const keys = redisKeys(config.redis.keyPrefix)
  const connections = new ConnectionStore(redis, keys)
  const apps = new AppStore(redis, keys)
  const flows = new FlowStore(redis, keys)
  const sealer = createSealer(config.encryptionKeys)
  const opener = new TokenOpener(sealer)
  const oneupOptions: Parameters<typeof createOneUpClient>[1] = {
    onPreviousSecretUsed: () => {
      log.warn('OneUp refused ONEUP_CLIENT_SECRET and accepted ONEUP_CLIENT_SECRET_PREVIOUS')
      events.emit('oneup.previous_secret_used')
    },
  }
  if (deps.fetch !== undefined) oneupOptions.fetch = deps.fetch
  const oneup = createOneUpClient(config.oneup, oneupOptions)
  const refresher = new RefreshCoordinator({
    store: connections,
    opener,
    oneup,
    policy: { ...defaultRefreshPolicy(config.oneup.timeoutMs), ...deps.refreshPolicy },
    now,
    log,
    events,
  })
  const authenticator = new AppAuthenticator(apps, now, new KeyUsage(apps, log, now).seen)
  const core = {
    config,
    redis,
    events,
    /** The clock every part uses (a seam for tests). */
    now,
    keys,
    connections,
    apps,
    flows,
    sealer,
    opener,
    oneup,
    refresher,
    authenticator,
    appService: new AppService(apps, now),
    tokens: new TokenService({ reads: new HandoutStore(redis, keys), connections, authenticator, opener, refresher, now, events }),
    connect: new ConnectService({ flows, apps, connections, sealer, opener, oneup, publicUrl: config.publicUrl, now, log, events }),
  }
  return { ...core, ...createOps(core, { log, now, fetch: deps.fetch, ...deps.ops }) }
}

export type Broker = ReturnType<typeof createBroker>
