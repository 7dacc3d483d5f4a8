/** The seed: "Rate limits in version 1.0 of the API are divided into 15 minute intervals." */
export const RATE_WINDOW_MS = 15 * 60 * 1000

/** The state of one caller's window after a call. */
export interface RateDecision {
  allowed: boolean
  limit: number
  used: number
  remaining: number
  /** When the current window ends, in ms. */
  resetAt: number
}

/** Fixed 15-minute windows of calls, per caller key. */
export class RateLimiter {
  readonly #windows = new Map<string, { start: number; used: number }>()
  readonly #now: () => number

  constructor(now: () => number) {
    this.#now = now
  }

  /** Counts one call by `key` unless the window is already full. */
  hit(key: string, limit: number): RateDecision {
    const now = this.#now()
    const start = now - (now % RATE_WINDOW_MS)
    let window = this.#windows.get(key)
    if (!window || window.start !== start) {
      window = { start, used: 0 }
      this.#windows.set(key, window)
    }
    const allowed = window.used < limit
    if (allowed) window.used += 1
    return {
      allowed,
      limit,
      used: window.used,
      remaining: Math.max(0, limit - window.used),
      resetAt: start + RATE_WINDOW_MS,
    }
  }

  /** Forgets windows that have ended. */
  sweep(): void {
    const now = this.#now()
    for (const [key, window] of this.#windows) {
      if (window.start + RATE_WINDOW_MS <= now) this.#windows.delete(key)
    }
  }

  get size(): number {
    return this.#windows.size
  }
}
