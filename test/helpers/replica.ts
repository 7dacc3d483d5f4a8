import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { redisEnv } from './redis.js'

/** What a helper needs to clean up after itself: a tap Test, or the soak's own list. */
export interface Cleanup {
  teardown(fn: () => unknown): void
}

export const SERVER_JS = fileURLToPath(new URL('../../dist/server.js', import.meta.url))

/** A free loopback port (the OS picks; released just before use). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface Replica {
  url: string
  process: ChildProcess
  /** Every stdout/stderr line so far. */
  output: string[]
  /** Resolves with the exit code (or signal) when the process ends. */
  exited: Promise<number | string>
  stop(signal?: NodeJS.Signals): Promise<number | string>
}

/**
 * Starts a broker replica as a real process from the built server (`npm run
 * build` first: `npm test` does it), and waits until it is listening.
 */
export async function startReplica(t: Cleanup, env: Record<string, string>): Promise<Replica> {
  if (!existsSync(SERVER_JS)) throw new Error('dist/server.js is missing: run `npm run build` (npm test does it)')
  const port = await freePort()
  const child = spawn(process.execPath, [SERVER_JS], {
    // Never the repository's own .broker-dev.json: a generated secret goes to a throw-away file.
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', DEV_SECRETS_FILE: join(tmpdir(), `broker-dev-${port}.json`), ...redisEnv(), ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const output: string[] = []
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)))
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line !== '') output.push(line)
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  const url = `http://127.0.0.1:${port}`
  let gone = false
  void exited.then(() => {
    gone = true
  })
  const ready = (async () => {
    for (const deadline = Date.now() + 15_000; Date.now() < deadline && !gone; ) {
      const ok = await fetch(`${url}/healthz`).then((r) => r.ok, () => false)
      if (ok) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error(`replica not ready (${gone ? 'exited' : 'timed out'}):\n${output.join('\n')}`)
  })()
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal)
    return exited
  }
  t.teardown(() => stop('SIGKILL'))
  await ready
  return { url, process: child, output, exited, stop }
}
