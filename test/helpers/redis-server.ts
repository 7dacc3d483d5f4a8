import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, type Cleanup } from './replica.js'

/**
 * A redis-server of the test's own on a free loopback port, for fault tests
 * that stop Redis (never the shared one on 6379). It keeps an append-only file
 * with `appendfsync always` in a temporary directory, so a restart (even after
 * SIGKILL) brings back every acknowledged write.
 */
export interface OwnRedis {
  port: number
  url: string
  /** SIGKILL: the server vanishes mid-load, as a crash or an OOM kill would. */
  kill(): Promise<void>
  /** Starts it again on the same port and data directory; resolves once it answers. */
  start(): Promise<void>
}

export async function startOwnRedis(t: Cleanup, extraArgs: string[] = []): Promise<OwnRedis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'broker-redis-'))
  let child: ChildProcess | undefined
  let exited: Promise<void> = Promise.resolve()

  const start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir]
    args.push('--appendonly', 'yes', '--appendfsync', 'always', ...extraArgs)
    const spawned = spawn('redis-server', args, { stdio: 'ignore' })
    child = spawned
    exited = new Promise((resolve) => spawned.once('exit', () => resolve()))
    for (let i = 0; i < 100; i += 1) {
      if (await answers(port)) return
      if (spawned.exitCode !== null) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`redis-server on ${port} did not start`)
  }
  const kill = async () => {
    child?.kill('SIGKILL')
    await exited
  }
  t.teardown(async () => {
    await kill()
    rmSync(dir, { recursive: true, force: true })
  })
  await start()
  return { port, url: `redis://127.0.0.1:${port}`, kill, start }
}

async function answers(port: number): Promise<boolean> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  probe.on('error', () => undefined)
  try {
    await probe.connect()
    return (await probe.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    probe.disconnect()
  }
}
