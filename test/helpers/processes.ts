import type { Test } from 'tap'
import { ADMIN_KEY, brokerEnv, startSandbox, throughOneUp } from './harness.js'
import { deletePrefix, testPrefix } from './redis.js'
import { freePort, startReplica, type Replica } from './replica.js'

/** A broker process on its own sandbox and key prefix; `env` is its environment, `ops` what the CLI needs to reach it. */
export async function startBrokerProcess(t: Test, extra: Record<string, string> = {}): Promise<{ replica: Replica; env: Record<string, string>; ops: Record<string, string> }> {
  const publicUrl = `http://127.0.0.1:${await freePort()}`
  const sandbox = await startSandbox(t, {}, `${publicUrl}/oauth/callback`)
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  const env = { ...brokerEnv(sandbox.base, prefix), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn', ...extra }
  const replica = await startReplica(t, env)
  return { replica, env, ops: { BROKER_URL: replica.url, BROKER_ADMIN_KEY: ADMIN_KEY } }
}

/** Connects a user of tenant acme through a broker process, as a browser would (signing in to OneUp as `username`). */
export async function connectThrough(broker: string, appKey: string, userId: string, username = userId): Promise<number> {
  const session = (await (
    await fetch(`${broker}/v1/connect-sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${appKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tenant_id: 'acme', user_id: userId }),
    })
  ).json()) as { url: string }
  const start = await fetch(`${broker}${new URL(session.url).pathname}`, { redirect: 'manual' })
  const callback = await throughOneUp(start.headers.get('location') ?? '', { username })
  const done = await fetch(`${broker}${callback.pathname}${callback.search}`, { headers: { cookie: (start.headers.get('set-cookie') ?? '').split(';')[0] ?? '' } })
  return done.status
}
