import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Test } from 'tap'
import { ADMIN_KEY, brokerEnv, startSandbox, throughOneUp } from './harness.js'
import { deletePrefix, testPrefix } from './redis.js'
import { freePort, startReplica, type Replica } from './replica.js'

export const CLI_JS = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url))

export interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the built CLI as ops would, with only the environment given (and PATH). */
export function cli(args: string[], env: Record<string, string>, stdin?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_JS, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin ?? '')
  })
}


/** A broker process on its own sandbox and key prefix, for the CLI to talk to; `env` is its environment. */
export async function cliBroker(t: Test, extra: Record<string, string> = {}): Promise<{ replica: Replica; env: Record<string, string>; ops: Record<string, string> }> {
  const publicUrl = `http://127.0.0.1:${await freePort()}`
  const sandbox = await startSandbox(t, {}, `${publicUrl}/oauth/callback`)
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const env = { ...brokerEnv(sandbox.base, prefix), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn', ...extra }
  const replica = await startReplica(t, env)
  return { replica, env, ops: { BROKER_URL: replica.url, BROKER_ADMIN_KEY: ADMIN_KEY } }
}

/** Connects a user of tenant acme through a broker process, as a browser would. */
export async function connectThrough(broker: string, appKey: string, userId: string): Promise<number> {
  const session = (await (
    await fetch(`${broker}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant_id: 'acme', user_id: userId }),
    })
  ).json()) as { url: string }
  const start = await fetch(`${broker}${new URL(session.url).pathname}`, { redirect: 'manual' })
  const callback = await throughOneUp(start.headers.get('location') ?? '', { username: userId })
  const done = await fetch(`${broker}${callback.pathname}${callback.search}`, { headers: { cookie: (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '' } })
  return done.status
}
