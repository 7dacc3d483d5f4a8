import { SealError, type Sealer } from '../crypto/sealer.js'
import { BrokerError } from '../errors.js'
import type { StoredConnection } from '../store/connections.js'

/** What is sealed in a connection record. Never leaves the broker except the access token. */
export interface TokenSet {
  accessToken: string
  refreshToken: string
  /** ms since epoch */
  accessExpiresAt: number
  scope: string
}

/** A connection with its tokens opened. */
export interface OpenConnection {
  connection: StoredConnection
  tokens: TokenSet
}

/** What a sealed token set is bound to: its tenant and user. */
export const tokensBinding = (tenantId: string, userId: string): string => `tokens:${tenantId}:${userId}`

/**
 * Opens sealed token sets, remembering the last few thousand by their exact
 * ciphertext. A hit costs a map lookup instead of an AES-GCM open; it can never
 * serve a revoked or deleted connection, because the ciphertext is always the
 * one just read from Redis (gone or replaced there means a miss here).
 */
export class TokenOpener {
  private readonly cache = new Map<string, { binding: string; tokens: TokenSet }>()

  constructor(
    private readonly sealer: Sealer,
    private readonly maxEntries = 20_000,
  ) {}

  async open(tenantId: string, userId: string, sealed: string): Promise<TokenSet> {
    const binding = tokensBinding(tenantId, userId)
    const hit = this.cache.get(sealed)
    // A copied record under another key has the same ciphertext: check the binding even on a hit.
    if (hit !== undefined && hit.binding === binding) return hit.tokens
    let tokens: TokenSet
    try {
      tokens = await this.sealer.open<TokenSet>(sealed, binding)
    } catch (error) {
      // A key missing from TOKEN_ENCRYPTION_KEYS, or a record not sealed for this
      // tenant and user: never served, and loud (5xx are logged with their cause).
      // The log line (the cause) names the connection and why; the app is told only that.
      if (error instanceof SealError) throw new BrokerError('Unreadable', { cause: new SealError(`connection ${tenantId}/${userId}: ${error.message}`) })
      throw error
    }
    this.remember(sealed, binding, tokens)
    return tokens
  }

  async seal(tenantId: string, userId: string, tokens: TokenSet): Promise<string> {
    const binding = tokensBinding(tenantId, userId)
    const sealed = await this.sealer.seal(tokens, binding)
    this.remember(sealed, binding, tokens)
    return sealed
  }

  get primaryKid(): string {
    return this.sealer.primaryKid
  }

  private remember(sealed: string, binding: string, tokens: TokenSet): void {
    if (this.cache.size >= this.maxEntries) {
      // Maps iterate in insertion order: drop the oldest.
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.set(sealed, { binding, tokens })
  }
}
