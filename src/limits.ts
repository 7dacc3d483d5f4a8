import { fail, type BrokerError } from './errors.js'
import type { RateWindow } from './store/window.js'

/** A rate-limit bucket after counting one call: what `X-Ratelimit-*` report. */
export interface RateState {
  limit: number
  used: number
  remaining: number
  /** When the window ends (ms since epoch). */
  resetAt: number
}

export function rateState(limit: number, used: number, window: RateWindow): RateState {
  return { limit, used, remaining: Math.max(0, limit - used), resetAt: window.resetAt }
}

/** Of several buckets, the one closest to its limit is the one a caller must heed. */
export function tightest(states: RateState[]): RateState {
  return states.reduce((a, b) => (b.remaining < a.remaining ? b : a))
}

/** The 429 (code "4") for a bucket over its limit, or undefined. */
export function overLimit(state: RateState, now: number, what: string): BrokerError | undefined {
  if (state.used <= state.limit) return undefined
  return fail('RateLimited', {
    reason: `The ${what} has used its ${state.limit} calls of this 15-minute window.`,
    retryAfter: Math.max(1, Math.ceil((state.resetAt - now) / 1000)),
  })
}

/** Throws the 429 when a bucket is over its limit. */
export function enforce(state: RateState, now: number, what: string): void {
  const error = overLimit(state, now, what)
  if (error !== undefined) throw error
}
