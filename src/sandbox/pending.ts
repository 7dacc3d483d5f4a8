import type { PkceChallenge } from './pkce.js'
import { opaqueToken } from './random.js'

/** A checked authorization request waiting for the user to sign in and consent. */
export interface AuthorizationRequest {
  clientId: string
  redirectUri: string
  state: string
  scope: string
  pkce: PkceChallenge | undefined
}

interface Pending {
  request: AuthorizationRequest
  stage: 'login' | 'consent'
  username: string | undefined
  expiresAt: number
}

/**
 * Authorizations between `/oauth2/auth` and the redirect back to the client, reached through
 * opaque single-use challenge ids like Hydra's `login_challenge` and `consent_challenge`.
 */
export class PendingAuthorizations {
  readonly #byChallenge = new Map<string, Pending>()
  readonly #now: () => number
  readonly #maxEntries: number

  /**
   * `maxEntries` bounds the memory a flood of authorization requests can take (the
   * sandbox runs inside the broker in development): past it, the oldest is forgotten.
   */
  constructor(now: () => number, maxEntries = 10_000) {
    this.#now = now
    this.#maxEntries = maxEntries
  }

  /** Keeps a checked request for `ttlMs` and returns the login challenge that refers to it. */
  openLogin(request: AuthorizationRequest, ttlMs: number): string {
    return this.#open({ request, stage: 'login', username: undefined, expiresAt: this.#now() + ttlMs })
  }

  /** The request behind a live login challenge, without spending it (a mistyped name may retry). */
  peekLogin(challenge: string): AuthorizationRequest | undefined {
    return this.#live(challenge, 'login')?.request
  }

  /** Spends a login challenge and returns the consent challenge for the signed-in user. */
  signIn(challenge: string, username: string): string | undefined {
    const pending = this.#live(challenge, 'login')
    if (!pending) return undefined
    this.#byChallenge.delete(challenge)
    return this.#open({ ...pending, stage: 'consent', username })
  }

  /** Spends a consent challenge: the request and the user who signed in. */
  takeConsent(challenge: string): { request: AuthorizationRequest; username: string } | undefined {
    const pending = this.#live(challenge, 'consent')
    if (pending?.username === undefined) return undefined
    this.#byChallenge.delete(challenge)
    return { request: pending.request, username: pending.username }
  }

  /** Forgets expired authorizations. */
  sweep(): void {
    const now = this.#now()
    for (const [challenge, pending] of this.#byChallenge) {
      if (pending.expiresAt <= now) this.#byChallenge.delete(challenge)
    }
  }

  get size(): number {
    return this.#byChallenge.size
  }

  #open(pending: Pending): string {
    if (this.#byChallenge.size >= this.#maxEntries) {
      // Maps iterate in insertion order: the first key is the oldest request.
      const oldest = this.#byChallenge.keys().next().value
      if (oldest !== undefined) this.#byChallenge.delete(oldest)
    }
    const challenge = opaqueToken('')
    this.#byChallenge.set(challenge, pending)
    return challenge
  }

  #live(challenge: string, stage: Pending['stage']): Pending | undefined {
    const pending = this.#byChallenge.get(challenge)
    if (!pending || pending.stage !== stage) return undefined
    if (pending.expiresAt <= this.#now()) {
      this.#byChallenge.delete(challenge)
      return undefined
    }
    return pending
  }
}
