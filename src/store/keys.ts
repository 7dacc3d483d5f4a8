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
    /**
     * Sorted set: the tenant's user ids with one status, scored by one time
     * field (ms). Four per tenant, kept by the connection scripts together with
     * the records, so listing, sorting and the status filter never scan.
     */
    connectionIndex: (tenantId: string, status: ConnectionIndexStatus, by: ConnectionIndexField) =>
      `${tenant(tenantId)}:ix:${status === 'active' ? 'a' : 'x'}:${by === 'refreshed_at' ? 'r' : 'c'}`,
    /**
     * Counter: the tenant's record versions. Every write takes the next one, so a
     * version is never seen twice for a key, even across a delete and a new connection.
     */
    versions: (tenantId: string) => `${tenant(tenantId)}:v`,
    /** Hash: how many of the tenant's records are sealed with each key id. */
    tenantKids: (tenantId: string) => `${tenant(tenantId)}:kids`,
    /** Set: every tenant that ever had a connection (cross-tenant listing, sweeps, re-encryption). */
    tenants: () => `${prefix}{tenants}`,
    /** Hash: broker-wide OneUp client facts (previous secret use). */
    oneup: () => `${prefix}{oneup}`,
    /** Hash: the encryption key re-encryption job (state, cursor, progress). */
    reencryptJob: () => `${prefix}{reenc}`,
    /** String: owner token of the replica running the re-encryption job. */
    reencryptLock: () => `${prefix}{reenc}:lock`,
    /** String: owner token of the replica sweeping stale connections this interval. */
    sweepLock: () => `${prefix}{sweep}:lock`,
    /** Stream, capped: admin actions and lifecycle events. */
    audit: () => `${prefix}{audit}`,
    /** Set: every webhook endpoint id. */
    webhooks: () => `${prefix}{wh}:endpoints`,
    /** Hash: one webhook endpoint, its settings and its sealed signing secrets (`key:<id>`). */
    webhook: (webhookId: string) => `${prefix}{wh}:ep:${webhookId}`,
    /** Stream: webhook deliveries waiting (consumer group `deliverers`). */
    webhookQueue: () => `${prefix}{wh}:queue`,
    /** Sorted set: deliveries waiting for their next attempt, scored by when (ms). */
    webhookRetries: () => `${prefix}{wh}:retry`,
    /** Stream, capped: deliveries given up after their last attempt. */
    webhookDead: () => `${prefix}{wh}:dead`,
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

/** The statuses a connection index is kept for. */
export type ConnectionIndexStatus = 'active' | 'reauth_required'
/** The time fields a connection index is scored by. */
export type ConnectionIndexField = 'refreshed_at' | 'created_at'
