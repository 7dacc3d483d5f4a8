import { createHash } from 'node:crypto'
import diagnostics from 'node:diagnostics_channel'
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { BrokerEventMap, BrokerEvents } from '../events.js'
import { SCRIPT_SOURCES } from '../store/scripts.js'

/** Every metric the broker defines starts with this. */
export const METRIC_PREFIX = 'oneup_broker_'

/** Hand-out outcomes, always exported (a zero is an answer too). */
const HANDOUT_OUTCOMES: Array<BrokerEventMap['handout'][0]['outcome']> = [
  'served',
  'refreshed',
  'not_found',
  'reauth_required',
  'rate_limited',
  'forbidden',
  'failed',
]
const FLOW_STAGES: Array<BrokerEventMap['flow'][0]['stage']> = ['started', 'connected', 'error', 'rejected']
const REFRESH_OUTCOMES: Array<BrokerEventMap['refresh'][0]['outcome']> = ['refreshed', 'reauth_required', 'failed', 'superseded']
/**
 * Series the alert rules (ops/alerts.yml) watch with rate() or increase(), which
 * cannot see a series' first sample: exported at 0 from the start, so the first
 * `invalid_client` of a replica counts too.
 */
const WATCHED_ONEUP_ERRORS = [
  { operation: 'refresh', kind: 'invalid_client' },
  { operation: 'code_exchange', kind: 'invalid_client' },
  { operation: 'refresh', kind: 'unauthorized_client' },
  { operation: 'code_exchange', kind: 'unauthorized_client' },
  { operation: 'refresh', kind: 'invalid_grant' },
  { operation: 'refresh', kind: 'unavailable' },
  { operation: 'refresh', kind: 'server_error' },
  { operation: 'refresh', kind: 'temporarily_unavailable' },
  { operation: 'code_exchange', kind: 'unavailable' },
]
const WATCHED_FLOW_FAILURES = ['oneup_unavailable', 'store_unavailable', 'oneup_error', 'invalid_grant']
/**
 * The hand-out's failed answers, which OneupBrokerHandoutsFailing counts from the
 * answers rather than from the hand-outs: a call whose app key Redis cannot check is
 * answered 503 before any hand-out is counted.
 */
const WATCHED_ANSWERS = ['500', '503'].map((status) => ({ method: 'POST', route: '/v1/token', status }))
const WEBHOOK_OUTCOMES: Array<BrokerEventMap['webhook.attempt'][0]['outcome']> = ['delivered', 'failed', 'given_up']
const WEBHOOK_QUEUE_STATES = ['queued', 'retrying', 'given_up'] as const

/** What the metrics read when they are scraped, rather than count from events. */
export interface ScrapedSources {
  /** Whether this replica's Redis client is connected and ready (nothing is sent). */
  redisReady(): boolean
  /**
   * Whether Redis answers this replica now (what /readyz asks). A client can stay
   * connected and ready to a Redis that answers nothing: frozen, paused, or behind a
   * network that drops packets.
   */
  redisAnswers(): Promise<boolean>
  /** The webhook queue's depths: in Redis, so the same on every replica. */
  webhookQueue(): Promise<Record<(typeof WEBHOOK_QUEUE_STATES)[number], number>>
}

/**
 * Error ids a label may carry. They come from OneUp's redirect or answer (or an
 * attacker's forged callback), so anything else is `other`: a label must never
 * let the outside world mint new time series.
 */
const KNOWN_ERRORS = new Set([
  // RFC 6749 §4.1.2.1 and §5.2, and what Hydra (OneUp) adds.
  'access_denied',
  'invalid_request',
  'invalid_client',
  'invalid_grant',
  'invalid_scope',
  'unauthorized_client',
  'unsupported_grant_type',
  'unsupported_response_type',
  'server_error',
  'temporarily_unavailable',
  'login_required',
  'consent_required',
  'request_forbidden',
  'request_unauthorized',
  'invalid_state',
  // The broker's own.
  'oneup_unavailable',
  'oneup_error',
  'no_refresh_token',
  'invalid_callback',
  'link_used',
  'link_revoked',
  'store_unavailable',
  'unavailable',
  // Rejected callbacks.
  'missing_state',
  'unknown_state',
  'other_browser',
])

/** A bounded label value for an error id. */
export const errorLabel = (error: string | undefined): string => (error !== undefined && KNOWN_ERRORS.has(error) ? error : 'other')

/** The broker's own metrics (one set per app), fed by the domain's events and by HTTP hooks. */
export interface BrokerMetrics {
  registry: Registry
  httpRequests: Counter<'method' | 'route' | 'status'>
  httpDuration: Histogram<'method' | 'route'>
  /** The whole exposition: this app's metrics, then the process's (Node.js, Redis commands). */
  text(): Promise<string>
  contentType: string
  /** Stops listening to the events. */
  close(): void
}

/**
 * Creates the broker's metrics on a registry of their own (tests build several
 * apps in one process), subscribes them to the domain's events, and reads
 * `sources` at each scrape.
 */
export function createMetrics(events: BrokerEvents, sources: ScrapedSources): BrokerMetrics {
  const registry = new Registry()
  const registers = [registry]
  const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`

  const httpRequests = new Counter({
    name: name('http_requests_total'),
    help: 'HTTP requests answered, by method, route pattern and status.',
    labelNames: ['method', 'route', 'status'] as const,
    registers,
  })
  const httpDuration = new Histogram({
    name: name('http_request_duration_seconds'),
    help: 'Time to answer an HTTP request, by method and route pattern.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  })
  const handouts = new Counter({
    name: name('token_handouts_total'),
    help: 'POST /v1/token answers by outcome: served from the store, refreshed first, or not served (and why).',
    labelNames: ['outcome'] as const,
    registers,
  })
  const refreshes = new Histogram({
    name: name('refresh_duration_seconds'),
    help: "Refreshes this replica ran against OneUp, by outcome (refreshed, reauth_required, failed, superseded), with their duration.",
    labelNames: ['outcome'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 30],
    registers,
  })
  const lockWaits = new Histogram({
    name: name('refresh_lock_wait_seconds'),
    help: "Waits on another replica's refresh of the same connection (the cross-replica lock), with their duration.",
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15],
    registers,
  })
  const oneupErrors = new Counter({
    name: name('oneup_errors_total'),
    help: 'Errors from OneUp by operation (refresh, code_exchange) and kind (its OAuth error id, or unavailable).',
    labelNames: ['operation', 'kind'] as const,
    registers,
  })
  const flows = new Counter({
    name: name('connect_flows_total'),
    help: 'Connect flows by stage: started (redirected to OneUp), connected, error (OneUp or the broker said no), rejected (a bad callback).',
    labelNames: ['stage'] as const,
    registers,
  })
  const flowFailures = new Counter({
    name: name('connect_flow_failures_total'),
    help: 'Connect flows that ended in error or were rejected, by error id.',
    labelNames: ['error'] as const,
    registers,
  })
  const previousSecret = new Counter({
    name: name('oneup_previous_secret_used_total'),
    help: 'Times OneUp refused ONEUP_CLIENT_SECRET and accepted ONEUP_CLIENT_SECRET_PREVIOUS: when it stays flat, the old secret can go.',
    registers,
  })
  const webhookAttempts = new Counter({
    name: name('webhook_deliveries_total'),
    help: 'Webhook attempts by this replica, by outcome: delivered, failed (to be retried), given_up (the last attempt failed).',
    labelNames: ['outcome'] as const,
    registers,
  })
  new Gauge({
    name: name('redis_up'),
    help: '1 when Redis answers this replica (a PING at each scrape, as /readyz sends), else 0.',
    registers,
    async collect() {
      this.set((await sources.redisAnswers()) ? 1 : 0)
    },
  })
  new Gauge({
    name: name('webhook_queue'),
    help: 'Webhook deliveries in Redis, shared by every replica (aggregate with max): queued, retrying (waiting for their next attempt), given_up (kept for ops, capped).',
    labelNames: ['state'] as const,
    registers,
    async collect() {
      // Absent rather than stale or zero when Redis cannot say (oneup_broker_redis_up tells why).
      this.reset()
      if (!sources.redisReady()) return
      const depths = await sources.webhookQueue().catch(() => undefined)
      if (depths !== undefined) for (const state of WEBHOOK_QUEUE_STATES) this.set({ state }, depths[state])
    },
  })
  for (const outcome of HANDOUT_OUTCOMES) handouts.inc({ outcome }, 0)
  for (const outcome of WEBHOOK_OUTCOMES) webhookAttempts.inc({ outcome }, 0)
  for (const outcome of REFRESH_OUTCOMES) refreshes.zero({ outcome })
  for (const labels of WATCHED_ONEUP_ERRORS) oneupErrors.inc(labels, 0)
  for (const error of WATCHED_FLOW_FAILURES) flowFailures.inc({ error }, 0)
  for (const stage of FLOW_STAGES) flows.inc({ stage }, 0)
  for (const labels of WATCHED_ANSWERS) httpRequests.inc(labels, 0)
  previousSecret.inc(0)

  const listeners = {
    handout: ({ outcome }: BrokerEventMap['handout'][0]) => handouts.inc({ outcome }),
    refresh: ({ outcome, ms, oneupError }: BrokerEventMap['refresh'][0]) => {
      refreshes.observe({ outcome }, ms / 1000)
      if (outcome === 'reauth_required' || outcome === 'failed') {
        oneupErrors.inc({ operation: 'refresh', kind: errorLabel(oneupError ?? 'unavailable') })
      }
    },
    'refresh.waited': ({ ms }: BrokerEventMap['refresh.waited'][0]) => lockWaits.observe(ms / 1000),
    flow: ({ stage, error, oneupError }: BrokerEventMap['flow'][0]) => {
      flows.inc({ stage })
      if (stage === 'error' || stage === 'rejected') flowFailures.inc({ error: errorLabel(error) })
      if (oneupError !== undefined) oneupErrors.inc({ operation: 'code_exchange', kind: errorLabel(oneupError) })
    },
    'oneup.previous_secret_used': () => previousSecret.inc(),
    'webhook.attempt': ({ outcome }: BrokerEventMap['webhook.attempt'][0]) => webhookAttempts.inc({ outcome }),
  }
  events.on('handout', listeners.handout)
  events.on('refresh', listeners.refresh)
  events.on('refresh.waited', listeners['refresh.waited'])
  events.on('flow', listeners.flow)
  events.on('oneup.previous_secret_used', listeners['oneup.previous_secret_used'])
  events.on('webhook.attempt', listeners['webhook.attempt'])

  const shared = processMetrics()
  return {
    registry,
    httpRequests,
    httpDuration,
    contentType: registry.contentType,
    async text() {
      return (await registry.metrics()) + (await shared.metrics())
    },
    close() {
      events.off('handout', listeners.handout)
      events.off('refresh', listeners.refresh)
      events.off('refresh.waited', listeners['refresh.waited'])
      events.off('flow', listeners.flow)
      events.off('oneup.previous_secret_used', listeners['oneup.previous_secret_used'])
      events.off('webhook.attempt', listeners['webhook.attempt'])
    },
  }
}

let shared: Registry | undefined

/**
 * What describes the process rather than one app: the default Node.js metrics
 * and Redis command latency. Both are process-wide by nature (prom-client's
 * collectors install event-loop and GC observers that are never removed;
 * ioredis reports commands on a process-wide diagnostics channel), so they are
 * made once per process, whatever number of apps it builds.
 */
export function processMetrics(): Registry {
  if (shared !== undefined) return shared
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  const redisCommands = new Histogram({
    name: `${METRIC_PREFIX}redis_command_duration_seconds`,
    help: 'Redis command latency seen by this process (write to reply), by command or broker script name.',
    labelNames: ['command'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const byCommand = new Map<string, { observe(value: number): void }>()
  traceRedisCommands((command, seconds) => {
    let child = byCommand.get(command)
    if (child === undefined) {
      child = redisCommands.labels(command)
      byCommand.set(command, child)
    }
    child.observe(seconds)
  })
  shared = registry
  return registry
}

/**
 * Broker scripts by what names them in a command: `EVAL` carries the source
 * (ioredis sends it the first time on a connection), `EVALSHA` its SHA-1.
 */
const scriptNames = new Map(
  Object.entries(SCRIPT_SOURCES).flatMap(([scriptName, lua]) => [
    [lua, scriptName],
    [createHash('sha1').update(lua).digest('hex'), scriptName],
  ]),
)

interface CommandContext {
  command: string
  args: string[]
}

/**
 * Subscribes to ioredis' `ioredis:command` tracing channel (ioredis ≥ 6): each
 * command's context object is the same from `start` to `asyncEnd`, so its start
 * time is kept against it. Arguments are only read to name a script.
 */
function traceRedisCommands(observe: (command: string, seconds: number) => void): void {
  const started = new WeakMap<object, bigint>()
  const done = (context: object) => {
    const start = started.get(context)
    if (start === undefined) return
    started.delete(context)
    const { command, args } = context as CommandContext
    const label = command === 'evalsha' || command === 'eval' ? (scriptNames.get(args[0] ?? '') ?? command) : command
    observe(label, Number(process.hrtime.bigint() - start) / 1e9)
  }
  diagnostics.tracingChannel('ioredis:command').subscribe({
    start: (context: object) => void started.set(context, process.hrtime.bigint()),
    end: () => {},
    asyncStart: () => {},
    asyncEnd: done,
    error: () => {},
  })
}
