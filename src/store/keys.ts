/**
 * Every Redis key the broker uses, under one prefix. The part in braces is the
 * hash tag (Redis Cluster hashes only that part), so everything a script or a
 * multi-key command touches lives in one slot: a tenant's connections, locks,
 * counters and index together; an app with its counters; each flow alone.
 *
 * `tenant_id` and `user_id` never contain `{`, `}` or `:` (their charset is
 * checked at every door), so they cannot break out of their place in a key.
 */
export function redisKeys(prefix: string) {
  const tenant = (tenantId: string) => `${prefix}{t:${tenantId}}`
  const app = (appId: string) => `${prefix}{app:${appId}}`
  return {
    /** Hash: the connection record (sealed tokens + metadata). */
    connection: (tenantId: string, userId: string) => `${tenant(tenantId)}:c:${userId}`,
    /** Sorted set: the tenant's user ids, scored by last refresh (ms). */
    tenantIndex: (tenantId: string) => `${tenant(tenantId)}:conns`,
    /** String: owner token of the one refresh in flight for a connection. */
    refreshLock: (tenantId: string, userId: string) => `${tenant(tenantId)}:lock:${userId}`,
    /** String with a TTL: OneUp failed recently, do not try again yet. */
    refreshCooldown: (tenantId: string, userId: string) => `${tenant(tenantId)}:cool:${userId}`,
    /** Counter of the connection's 15-minute window. */
    connectionRate: (tenantId: string, userId: string, window: number) => `${tenant(tenantId)}:rl:${userId}:${window}`,
    /** Hash: an internal app, its settings and its active keys. */
    app,
    /** Counter of the app's 15-minute window. */
    appRate: (appId: string, window: number) => `${app(appId)}:rl:${window}`,
    /** String: `<appId> <keyId>` for the SHA-256 of an app key. */
    appKey: (keyHash: string) => `${prefix}{ak:${keyHash}}`,
    /** Set: every app id. */
    appIndex: () => `${prefix}{apps}`,
    /** String: a connect session, named by the SHA-256 of its token. */
    connectSession: (tokenHash: string) => `${prefix}{cs:${tokenHash}}`,
    /** String: a sealed flow state (holds the PKCE verifier), named by the SHA-256 of its state. */
    flow: (stateHash: string) => `${prefix}{fl:${stateHash}}`,
  }
}

export type RedisKeys = ReturnType<typeof redisKeys>
