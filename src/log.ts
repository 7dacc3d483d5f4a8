import type { Logger } from 'pino'

/** The part of pino's logger domain code uses (Fastify's request logger fits too). */
export type Log = Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>

/**
 * A gate that opens at most once every `ms`: for the errors of a background
 * loop, which would otherwise log the same outage every tick.
 */
export function onceEvery(ms: number, now: () => number = Date.now): () => boolean {
  let last = Number.NEGATIVE_INFINITY
  return () => {
    const at = now()
    if (at - last < ms) return false
    last = at
    return true
  }
}
