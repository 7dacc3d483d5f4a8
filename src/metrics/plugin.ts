import type { FastifyInstance } from 'fastify'
import type { BrokerEvents } from '../events.js'
import { createMetrics, type BrokerMetrics, type ScrapedSources } from './metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    metrics: BrokerMetrics
  }
}

/** The route label of requests no route matched: raw URLs would carry secrets and unbounded series. */
export const UNMATCHED_ROUTE = '(unmatched)'

/**
 * `GET /metrics` (Prometheus text, CONTRACT §6) and the hooks that count every
 * request by route pattern and status. Call before any route is registered, on
 * the root instance, so the hook sees every route. Metrics hold no tenant or
 * user id and no secret, only route patterns, outcomes and error ids.
 */
export function registerMetrics(app: FastifyInstance, events: BrokerEvents, sources: ScrapedSources): BrokerMetrics {
  const metrics = createMetrics(events, sources)
  app.decorate('metrics', metrics)
  app.addHook('onClose', async () => metrics.close())

  // prom-client hashes a label set on every call: keep each series' child instead (a few dozen at most).
  const series = new Map<string, { requests: { inc(): void }; duration: { observe(value: number): void } }>()
  app.addHook('onResponse', (request, reply, done) => {
    const route = request.routeOptions.url ?? UNMATCHED_ROUTE
    const status = String(reply.statusCode)
    const name = `${request.method} ${route} ${status}`
    let child = series.get(name)
    if (child === undefined) {
      child = { requests: metrics.httpRequests.labels(request.method, route, status), duration: metrics.httpDuration.labels(request.method, route) }
      series.set(name, child)
    }
    child.requests.inc()
    child.duration.observe(reply.elapsedTime / 1000)
    done()
  })

  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics',
        description: 'Prometheus text exposition: requests, hand-outs, refreshes, lock waits, OneUp errors, connect flows, Redis latency, Node.js.',
        tags: ['ops'],
      },
    },
    async (_request, reply) => reply.header('content-type', metrics.contentType).header('cache-control', 'no-store').send(await metrics.text()),
  )
  return metrics
}
