import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { Redis } from 'ioredis'
import type { Cleanup } from './replica.js'

const SCRIPT = fileURLToPath(new URL('../../scripts/redis-cluster.sh', import.meta.url))
const run = promisify(execFile)

/** A Redis Cluster of the caller's own (three masters, three replicas), from scripts/redis-cluster.sh. */
export interface OwnCluster {
  /** `host:port,…` for REDIS_CLUSTER_NODES. */
  nodes: string
  ports: number[]
  /** The port of the master serving a key now. */
  masterOf(key: string): Promise<number>
  /** SIGKILL one node (a crash); its replica takes over after the node timeout. */
  kill(port: number): void
  /** Starts a killed node again; it rejoins (as a replica once failed over). */
  restart(port: number): Promise<void>
  /** Resolves once every slot is served again and `key` has a master other than `oldPort`. */
  failedOver(key: string, oldPort: number, timeoutMs?: number): Promise<number>
}

async function portFree(port: number): Promise<boolean> {
  const server = createServer()
  return new Promise((resolve) => {
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

export async function startOwnCluster(t: Cleanup, nodeTimeoutMs = 1000): Promise<OwnCluster> {
  let base = 0
  for (let attempt = 0; attempt < 20 && base === 0; attempt += 1) {
    const candidate = 20_000 + Math.floor(Math.random() * 9_000)
    const ports = Array.from({ length: 6 }, (_, i) => candidate + i)
    // Each node also listens on its port + 10000 (the cluster bus).
    if ((await Promise.all([...ports, ...ports.map((p) => p + 10_000)].map(portFree))).every(Boolean)) base = candidate
  }
  if (base === 0) throw new Error('no free ports for a cluster')
  const dir = mkdtempSync(join(tmpdir(), 'broker-cluster-'))
  const env = { ...process.env, REDIS_CLUSTER_PORT: String(base), REDIS_CLUSTER_DIR: dir, REDIS_CLUSTER_NODE_TIMEOUT: String(nodeTimeoutMs) }
  t.teardown(async () => {
    await run('bash', [SCRIPT, 'stop'], { env }).catch(() => undefined)
    rmSync(dir, { recursive: true, force: true })
  })
  const { stdout } = await run('bash', [SCRIPT, 'start'], { env })
  const nodes = stdout.trim().split('\n').at(-1)?.replace(/^REDIS_CLUSTER_NODES=/, '') ?? ''
  const ports = Array.from({ length: 6 }, (_, i) => base + i)
  const dead = new Set<number>()

  const ask = async <T>(fn: (redis: Redis) => Promise<T>): Promise<T> => {
    let last: unknown
    for (const port of ports.filter((p) => !dead.has(p))) {
      const redis = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      redis.on('error', () => undefined)
      try {
        await redis.connect()
        return await fn(redis)
      } catch (error) {
        last = error
      } finally {
        redis.disconnect()
      }
    }
    throw last
  }
  const masterOf = (key: string) =>
    ask(async (redis) => {
      const slot = (await redis.cluster('KEYSLOT', key)) as number
      const range = (await redis.cluster('SLOTS')).find(([start, end]) => slot >= start && slot <= end)
      const master = range?.[2]
      if (master === undefined) throw new Error(`slot ${slot} is not served`)
      return master[1]
    })

  return {
    nodes,
    ports,
    masterOf,
    kill(port) {
      dead.add(port)
      process.kill(Number(readFileSync(join(dir, String(port), 'redis.pid'), 'utf8').trim()), 'SIGKILL')
    },
    async restart(port) {
      await run('bash', [SCRIPT, 'start-node', String(port)], { env })
      dead.delete(port)
    },
    async failedOver(key, oldPort, timeoutMs = 30_000) {
      for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await new Promise((r) => setTimeout(r, 100))) {
        const state = await ask((redis) => redis.cluster('INFO')).catch(() => '')
        const master = await masterOf(key).catch(() => oldPort)
        if (String(state).includes('cluster_state:ok') && master !== oldPort) return master
      }
      throw new Error(`no failover of ${key} within ${timeoutMs} ms`)
    },
  }
}
