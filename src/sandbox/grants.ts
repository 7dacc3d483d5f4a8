import type { PkceChallenge } from './pkce.js'
import { opaqueToken } from './random.js'

/** Hydra's default `ttl.refresh_token` (720h): spent tokens are kept this long for reuse detection. */
export const REFRESH_TOKEN_TTL_MS = 720 * 60 * 60 * 1000

/** An authorization code and what it is bound to. */
export interface IssuedCode {
  clientId: string
  redirectUri: string
  username: string
  scope: string
  pkce: PkceChallenge | undefined
  expiresAt: number
  /** Set once the code has been exchanged: the chain it started. */
  grantId: string | undefined
}

/** One authorization's chain: every access and refresh token descending from one code. */
export interface Grant {
  id: string
  clientId: string
  username: string
  scope: string
  accessTokens: Set<string>
  refreshTokens: Set<string>
}

/** A refresh token as stored. */
export interface RefreshRecord {
  grantId: string
  expiresAt: number
  /** When it was first used; a spent token presented again is a reuse. */
  spentAt: number | undefined
}

/** A newly issued access and refresh token. */
export interface TokenPair {
  accessToken: string
  refreshToken: string
}

/** Codes, chains and tokens, in memory. Knows nothing of OAuth errors: callers decide. */
export class GrantStore {
  readonly #codes = new Map<string, IssuedCode>()
  readonly #grants = new Map<string, Grant>()
  readonly #access = new Map<string, { grantId: string; expiresAt: number }>()
  readonly #refresh = new Map<string, RefreshRecord>()
  readonly #now: () => number

  constructor(now: () => number) {
    this.#now = now
  }

  /** Issues a single-use code that lives `ttlMs`. */
  issueCode(binding: Omit<IssuedCode, 'expiresAt' | 'grantId'>, ttlMs: number): string {
    const code = opaqueToken('ory_ac_')
    this.#codes.set(code, { ...binding, expiresAt: this.#now() + ttlMs, grantId: undefined })
    return code
  }

  /** A code that has not expired, exchanged or not. */
  findCode(code: string): IssuedCode | undefined {
    const issued = this.#codes.get(code)
    return issued && issued.expiresAt > this.#now() ? issued : undefined
  }

  /** Starts the chain of a code being exchanged, and marks the code as used. */
  openGrant(issued: IssuedCode): Grant {
    const grant: Grant = {
      id: opaqueToken(''),
      clientId: issued.clientId,
      username: issued.username,
      scope: issued.scope,
      accessTokens: new Set(),
      refreshTokens: new Set(),
    }
    this.#grants.set(grant.id, grant)
    issued.grantId = grant.id
    return grant
  }

  /** Issues an access token living `accessTtlMs` and a refresh token in the chain. */
  issueTokens(grant: Grant, accessTtlMs: number): TokenPair {
    const now = this.#now()
    const accessToken = opaqueToken('ory_at_')
    const refreshToken = opaqueToken('ory_rt_')
    this.#access.set(accessToken, { grantId: grant.id, expiresAt: now + accessTtlMs })
    this.#refresh.set(refreshToken, { grantId: grant.id, expiresAt: now + REFRESH_TOKEN_TTL_MS, spentAt: undefined })
    grant.accessTokens.add(accessToken)
    grant.refreshTokens.add(refreshToken)
    return { accessToken, refreshToken }
  }

  /** A refresh token that has not expired, spent or not, with its chain. */
  findRefresh(token: string): { record: RefreshRecord; grant: Grant } | undefined {
    const record = this.#refresh.get(token)
    const grant = record && this.#grants.get(record.grantId)
    if (!record || !grant || record.expiresAt <= this.#now()) return undefined
    return { record, grant }
  }

  /** Marks a refresh token as used now. */
  spend(record: RefreshRecord): void {
    record.spentAt = this.#now()
  }

  /** Ends every access token of a chain. */
  revokeAccessTokens(grant: Grant): void {
    for (const token of grant.accessTokens) this.#access.delete(token)
    grant.accessTokens.clear()
  }

  /** The chain behind an access token that is neither expired nor revoked. */
  findActiveAccess(token: string): Grant | undefined {
    const record = this.#access.get(token)
    if (!record || record.expiresAt <= this.#now()) return undefined
    return this.#grants.get(record.grantId)
  }

  /** Revokes a whole chain: its tokens are then unknown. */
  revokeGrant(grantId: string): void {
    const grant = this.#grants.get(grantId)
    if (!grant) return
    this.revokeAccessTokens(grant)
    for (const token of grant.refreshTokens) this.#refresh.delete(token)
    this.#grants.delete(grantId)
  }

  /** Revokes every chain, or those of one user. Returns how many. */
  revokeGrants(username?: string): number {
    let revoked = 0
    for (const grant of [...this.#grants.values()]) {
      if (username !== undefined && grant.username !== username) continue
      this.revokeGrant(grant.id)
      revoked += 1
    }
    return revoked
  }

  /** Makes every current access token, or one user's, expire now. Returns how many. */
  expireAccessTokens(username?: string): number {
    const now = this.#now()
    let expired = 0
    for (const record of this.#access.values()) {
      if (record.expiresAt <= now) continue
      if (username !== undefined && this.#grants.get(record.grantId)?.username !== username) continue
      record.expiresAt = now
      expired += 1
    }
    return expired
  }

  /** Forgets expired codes and tokens, and chains left with no token. */
  sweep(): void {
    const now = this.#now()
    for (const [code, issued] of this.#codes) {
      if (issued.expiresAt <= now) this.#codes.delete(code)
    }
    for (const [token, record] of this.#access) {
      if (record.expiresAt > now) continue
      this.#access.delete(token)
      this.#grants.get(record.grantId)?.accessTokens.delete(token)
    }
    for (const [token, record] of this.#refresh) {
      if (record.expiresAt > now) continue
      this.#refresh.delete(token)
      this.#grants.get(record.grantId)?.refreshTokens.delete(token)
    }
    for (const [id, grant] of this.#grants) {
      if (grant.accessTokens.size === 0 && grant.refreshTokens.size === 0) this.#grants.delete(id)
    }
  }

  /** How much is held, for tests of the sweep. */
  get sizes(): { codes: number; grants: number; accessTokens: number; refreshTokens: number } {
    return {
      codes: this.#codes.size,
      grants: this.#grants.size,
      accessTokens: this.#access.size,
      refreshTokens: this.#refresh.size,
    }
  }
}
