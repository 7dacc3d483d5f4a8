/** The seed's rate-limit model: fixed 15-minute windows. */
export const WINDOW_MS = 15 * 60 * 1000

export interface RateWindow {
  /** Which window of the epoch this is; part of the counter's key. */
  index: number
  /** When it ends (ms since epoch). */
  resetAt: number
}

/** The window a moment falls in. */
export function rateWindow(now: number): RateWindow {
  const index = Math.floor(now / WINDOW_MS)
  return { index, resetAt: (index + 1) * WINDOW_MS }
}
