import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { Config } from '../config/config.js'
import { defineScripts } from './scripts.js'

/** A standalone or cluster client: the store code works with either. */
export type RedisClient = Redis | Cluster

export interface RedisClientOptions {
  /** Bound on every command, so a dead Redis turns into a quick 503, never a hang. */
  commandTimeoutMs?: number
  connectionName?: string
}

/**
 * Connects to Redis (or Redis Cluster when nodes are given) with the broker's
 * Lua scripts defined. Auto-pipelining batches commands issued in the same tick
 * into one write, which is how the hand-out reads and counts in one round trip.
 */
export function createRedisClient(redis: Config['redis'], options: RedisClientOptions = {}): RedisClient {
  const common: RedisOptions = {
    lazyConnect: true,
    enableAutoPipelining: true,
    connectTimeout: 2_000,
    commandTimeout: options.commandTimeoutMs ?? 2_000,
    maxRetriesPerRequest: 1,
    connectionName: options.connectionName ?? 'oneup-broker',
  }
  const client: RedisClient =
    redis.clusterNodes === undefined
      ? new Redis(redis.url, common)
      : new Cluster(redis.clusterNodes, {
          lazyConnect: true,
          enableAutoPipelining: true,
          scaleReads: 'master',
          redisOptions: { ...common, ...clusterNodeOptions(redis.url) },
        })
  defineScripts(client)
  return client
}

/**
 * How every node of a cluster is reached: with REDIS_URL's user and password
 * (AUTH), over TLS when its scheme is `rediss:`. Its host and port are not
 * used (REDIS_CLUSTER_NODES names the nodes), so one variable still holds the
 * Redis credentials whichever the topology.
 */
export function clusterNodeOptions(url: string): Pick<RedisOptions, 'username' | 'password' | 'tls'> {
  const parsed = new URL(url)
  return {
    ...(parsed.username === '' ? {} : { username: decoded(parsed.username) }),
    ...(parsed.password === '' ? {} : { password: decoded(parsed.password) }),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  }
}

/** A URL's user or password as written, percent-decoded when it decodes (a stray `%` is kept). */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    return part
  }
}

/** True for errors that mean Redis is unreachable or too slow, not a bug. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false
  if (['MaxRetriesPerRequestError', 'ClusterAllFailedError'].includes(error.name)) return true
  const code = (error as { code?: unknown }).code
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EPIPE'].includes(code)) return true
  // During a cluster failover: `Too many Cluster redirections` (ioredis gave up following a
  // slot), and `MOVED`/`ASK` replies that an auto-pipeline hit alongside a closed connection
  // hands back as they are. Each means "this slot is moving: try again shortly". And a Redis
  // that answers but cannot take the command now: full (`OOM`, under `noeviction`), running a
  // slow script (`BUSY`), unable to persist (`MISCONF`), short of replicas (`NOREPLICAS`).
  return /^(Command timed out|Connection is closed|Stream isn't writeable|Failed to refresh slots cache|Cluster is disconnected|Too many Cluster redirections|MOVED |ASK |CLUSTERDOWN|LOADING|TRYAGAIN|MASTERDOWN|READONLY|OOM |BUSY |MISCONF |NOREPLICAS )/.test(error.message)
}
