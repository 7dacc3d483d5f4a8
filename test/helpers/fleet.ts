import type { SandboxOptions } from '../../src/sandbox/plugin.js'
import { ADMIN_KEY, brokerEnv, startSandbox, type RunningSandbox } from './harness.js'
import { connectOverHttp } from './oneup-browser.js'
import { deletePrefix, testPrefix } from './redis.js'
import { freePort, type Cleanup } from './replica.js'

/**
 * Talking to broker replicas (real processes) over HTTP, as a load balancer's
 * clients would: register an app, connect users, ask for tokens.
 */

/** Registers an app on any replica; returns its key. */
export async function createAppVia(replicaUrl: string, name = 'fleet'): Promise<string> {
  const created = await fetch(`${replicaUrl}/v1/admin/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, tenants: ['*'], return_origins: [] }),
  })
  if (created.status !== 201) throw new Error(`create app: ${created.status} ${await created.text()}`)
  return ((await created.json()) as { key: string }).key
}

/** `POST /v1/token` on a replica. */
export function tokenVia(replicaUrl: string, key: string, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${replicaUrl}/v1/token`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  })
}

/**
 * Connects a user: the connect link from one replica, the callback through
 * another (any replica may get it behind a load balancer). Returns the callback's answer.
 */
export function connectVia(
  startUrl: string,
  callbackUrl: string,
  key: string,
  tenantId: string,
  userId: string,
  username = 'alice',
): Promise<Response> {
  return connectOverHttp({ brokerUrl: startUrl, callbackUrl, appKey: key, tenantId, userId, options: { username } })
}

/**
 * What replicas behind one (unserved) public URL need: a sandbox that redirects there,
 * a key prefix of their own (deleted afterwards) and their environment.
 */
export async function startFleetBase(
  t: Cleanup,
  sandboxOptions: Partial<SandboxOptions> = {},
  extraEnv: Record<string, string> = {},
): Promise<{ sandbox: RunningSandbox; prefix: string; env: Record<string, string> }> {
  const publicUrl = `http://127.0.0.1:${await freePort()}`
  const sandbox = await startSandbox(t, sandboxOptions, `${publicUrl}/oauth/callback`)
  const prefix = testPrefix()
  t.teardown(() => deletePrefix(prefix))
  return { sandbox, prefix, env: { ...brokerEnv(sandbox.base, prefix), PUBLIC_URL: publicUrl, LOG_LEVEL: 'warn', ...extraEnv } }
}
