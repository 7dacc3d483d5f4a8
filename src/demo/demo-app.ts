import { BrokerError } from '../errors.js'
import { MAX_KEYS_PER_APP, type AppService } from '../apps/service.js'

/** Who the demo is: one internal app, one tenant, one signed-in user. */
export const DEMO = {
  appName: 'Demo SaaS app (sandbox mode)',
  tenantId: 'demo',
  userId: 'demo-user',
} as const

/**
 * The demo app's key for this process, made through the app service like any
 * app's. The app is found again after a restart (by name and return origin);
 * each process takes a fresh key, which it never shows, revoking the oldest
 * first when the app already holds the most it may (so two processes sharing a
 * Redis both keep working).
 */
export async function demoAppKey(apps: AppService, origin: string): Promise<string> {
  const existing = (await apps.list()).find((app) => app.name === DEMO.appName && app.return_origins.includes(origin))
  if (existing === undefined) {
    const created = await apps.create({ name: DEMO.appName, tenants: [DEMO.tenantId], returnOrigins: [origin] })
    return created.key
  }
  for (let attempt = 0; ; attempt++) {
    const keys = [...existing.keys].sort((a, b) => a.created_at.localeCompare(b.created_at))
    if (keys.length >= MAX_KEYS_PER_APP && keys[0] !== undefined) {
      await apps.revokeKey(existing.id, keys[0].key_id).catch(ignoreNotFound)
    }
    try {
      return (await apps.addKey(existing.id)).key
    } catch (error) {
      // Another process took the free slot first: make room again, once.
      if (attempt > 0 || !(error instanceof BrokerError) || error.kind !== 'BusinessRule') throw error
      const fresh = (await apps.list()).find((app) => app.id === existing.id)
      if (fresh === undefined) throw error
      existing.keys = fresh.keys
    }
  }
}

/** Someone else revoked it first: what we wanted anyway. */
function ignoreNotFound(error: unknown): void {
  if (!(error instanceof BrokerError) || error.kind !== 'NotFound') throw error
}
