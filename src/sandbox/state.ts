import { FaultQueue } from './faults.js'
import { GrantStore } from './grants.js'
import type { ResolvedSandboxOptions, SandboxClient, SandboxSettings } from './options.js'
import { PendingAuthorizations } from './pending.js'
import { RateLimiter } from './rate-limit.js'

/** What the sandbox has seen, for tests and demos (`GET /_control/counters`). */
export interface SandboxCounters {
  /** Authorization codes exchanged for tokens. */
  code_exchanges: number
  /** Refresh grants that issued tokens (grace-period reuses included). */
  refresh_grants: number
  /** Spent refresh tokens presented again, each of which revoked its chain. */
  reuse_detections: number
  /** Spent refresh tokens presented again within the grace period (served, and counted in refresh_grants). */
  grace_reuses: number
  /** Every call to the token endpoint. */
  token_requests: number
  /** Every token call answered with an error, injected faults included. */
  token_errors: number
}

function zeroCounters(): SandboxCounters {
  return { code_exchanges: 0, refresh_grants: 0, reuse_detections: 0, grace_reuses: 0, token_requests: 0, token_errors: 0 }
}

/** Everything one simulated OneUp holds in memory. No HTTP in here. */
export class SandboxState {
  readonly now: () => number
  readonly settings: SandboxSettings
  readonly pending: PendingAuthorizations
  readonly grants: GrantStore
  readonly faults = new FaultQueue()
  readonly rateLimits: RateLimiter
  #counters = zeroCounters()
  readonly #clients = new Map<string, SandboxClient>()

  constructor(options: ResolvedSandboxOptions) {
    this.now = options.now
    this.settings = { ...options.settings }
    this.pending = new PendingAuthorizations(options.now)
    this.grants = new GrantStore(options.now)
    this.rateLimits = new RateLimiter(options.now)
    for (const client of options.clients) {
      this.#clients.set(client.id, { ...client, secrets: [...client.secrets], redirectUris: [...client.redirectUris] })
    }
  }

  /** The registered client with this id. */
  client(id: string): SandboxClient | undefined {
    return this.#clients.get(id)
  }

  /** Replaces the secrets a client is accepted with. Returns false for an unknown client. */
  replaceClientSecrets(id: string, secrets: string[]): boolean {
    const client = this.#clients.get(id)
    if (!client) return false
    client.secrets = [...secrets]
    return true
  }

  /** The live counters; callers increment them. */
  get counters(): SandboxCounters {
    return this.#counters
  }

  resetCounters(): void {
    this.#counters = zeroCounters()
  }

  /** Forgets everything expired. */
  sweep(): void {
    this.pending.sweep()
    this.grants.sweep()
    this.rateLimits.sweep()
  }
}
