import { randomBytes } from 'node:crypto'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import { pino } from 'pino'
import type { Test } from 'tap'
import { buildApp, type AppOptions } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { loggerOptions } from '../../src/logger.js'
import { ADMIN_KEY, brokerEnv, type Harness } from './harness.js'

export const admin = { authorization: `Bearer ${ADMIN_KEY}` }

/** A fresh `kid:key` entry for TOKEN_ENCRYPTION_KEYS. */
export const newKey = (kid: string): string => `${kid}:${randomBytes(32).toString('base64url')}`

/**
 * Another broker "replica" in this process, on the harness's Redis prefix and
 * sandbox, with its own configuration (a rolling deploy's next version).
 */
export async function replicaOf(t: Test, h: Harness, env: Record<string, string>, options: Omit<AppOptions, 'config' | 'logger'> = {}): Promise<Replica> {
  const { config } = loadConfig(brokerEnv(h.sandbox.base, h.prefix, env))
  const logs: string[] = []
  const app = await buildApp({ config, logger: pino(loggerOptions('info'), { write: (line: string) => void logs.push(line) }), ...options })
  await app.ready()
  t.teardown(() => app.close())
  return Object.assign(app, { logs })
}

/** Waits until the re-encryption job seen through `app` is done; returns `GET /v1/admin/encryption`. */
export async function reencryptionDone(app: FastifyInstance) {
  for (let i = 0; ; i += 1) {
    const status = (await app.inject({ method: 'GET', url: '/v1/admin/encryption', headers: admin })).json()
    if (status.job?.state === 'done') return status
    if (i > 500) throw new Error(`the job did not finish: ${JSON.stringify(status)}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** An in-process replica and every log line it wrote. */
export type Replica = FastifyInstance & { logs: string[] }

export interface LoadResult {
  total: number
  /** Every answer that was not a 200, with the step it happened in. */
  failures: Array<{ status: number; code: string | undefined; step: string }>
}

/**
 * Keeps requesting tokens (workers × users, round-robin over the current
 * targets) while `steps` run one after another; after each step it waits
 * until every worker has finished `settle` more requests, so each phase
 * really carries traffic. Bounded by the steps, not by time.
 */
export async function underLoad(
  targets: () => { app: FastifyInstance; key: string }[],
  users: Array<{ tenantId: string; userId: string }>,
  steps: Array<[string, () => Promise<void>]>,
  settle = 5,
): Promise<LoadResult> {
  const result: LoadResult = { total: 0, failures: [] }
  let step = 'start'
  let stop = false
  const workers = 4
  const progress = Array.from({ length: workers }, () => 0)
  const run = async (worker: number) => {
    for (let i = 0; !stop; i += 1) {
      const current = targets()
      const target = current[(worker + i) % current.length]
      const user = users[(worker + i) % users.length]
      if (target === undefined || user === undefined) throw new Error('no target or user')
      const res = await target.app.inject({
        method: 'POST',
        url: '/v1/token',
        headers: { authorization: `Bearer ${target.key}` },
        payload: { tenant_id: user.tenantId, user_id: user.userId },
      })
      result.total += 1
      if (res.statusCode !== 200) result.failures.push({ status: res.statusCode, code: (res.json() as { error?: { code?: string } }).error?.code, step })
      progress[worker] = (progress[worker] ?? 0) + 1
    }
  }
  const settled = async () => {
    const start = [...progress]
    while (progress.some((n, w) => n - (start[w] ?? 0) < settle)) await new Promise((resolve) => setTimeout(resolve, 10))
  }
  const running = Array.from({ length: workers }, (_, w) => run(w))
  try {
    await settled()
    for (const [name, action] of steps) {
      step = name
      await action()
      await settled()
    }
  } finally {
    stop = true
    await Promise.all(running)
  }
  return result
}

/** One request a webhook receiver got. */
export interface Received {
  url: string
  headers: IncomingHttpHeaders
  body: string
  status: number
  /** When it arrived (ms). */
  at: number
}

/**
 * A webhook receiver on a loopback port: answers each request with the next
 * status of `script` (then 200 for ever; 0 holds the request unanswered), and
 * records every request. The script may be extended as the test goes.
 */
export async function startReceiver(
  t: Test,
  script: number[] = [],
  port = 0,
): Promise<{ url: string; port: number; script: number[]; received: Received[]; close(): Promise<void>; waitFor(n: number): Promise<void> }> {
  const received: Received[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const status = script.shift() ?? 200
      received.push({ url: request.url ?? '', headers: request.headers, body: Buffer.concat(chunks).toString(), status, at: Date.now() })
      if (status !== 0) response.writeHead(status).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  const actual = (server.address() as AddressInfo).port
  let closed = false
  const close = async () => {
    if (closed) return
    closed = true
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  }
  t.teardown(close)
  return {
    url: `http://127.0.0.1:${actual}/hooks`,
    port: actual,
    script,
    received,
    close,
    async waitFor(n) {
      for (let i = 0; received.length < n; i += 1) {
        if (i > 3000) throw new Error(`the receiver got ${received.length} requests, not ${n}`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
  }
}
