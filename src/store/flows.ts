import type { RedisClient } from './redis.js'
import type { RedisKeys } from './keys.js'

/** What a connect session holds: who is connecting, for which app, and where to go back. */
export interface ConnectSession {
  appId: string
  /** The key that made the link: revoking it ends the link (absent on links made before it was kept). */
  keyId?: string
  tenantId: string
  userId: string
  returnTo: string | undefined
  expiresAt: number
}

/**
 * Connect sessions and flow states, each named by the SHA-256 of its secret so
 * that a copy of Redis gives no usable link or state. Flow states arrive here
 * already sealed (they hold the PKCE verifier).
 */
export class FlowStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  async saveSession(tokenHash: string, session: ConnectSession, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.connectSession(tokenHash), JSON.stringify(session), 'PX', ttlMs)
  }

  async getSession(tokenHash: string): Promise<ConnectSession | undefined> {
    const text = await this.redis.get(this.keys.connectSession(tokenHash))
    return text === null ? undefined : (JSON.parse(text) as ConnectSession)
  }

  /** Deletes a session and says whether it was still there: of two flows finishing one link, one wins. */
  async consumeSession(tokenHash: string): Promise<boolean> {
    return (await this.redis.del(this.keys.connectSession(tokenHash))) === 1
  }

  async saveState(stateHash: string, sealed: string, ttlMs: number): Promise<void> {
    await this.redis.set(this.keys.flow(stateHash), sealed, 'PX', ttlMs)
  }

  /** Reads and deletes in one command: of two callbacks with one state, one wins. */
  async consumeState(stateHash: string): Promise<string | undefined> {
    return (await this.redis.getdel(this.keys.flow(stateHash))) ?? undefined
  }
}
