import type { Config } from './config/config.js'
import { defaultRefreshPolicy, refreshWorstCaseMs } from './tokens/refresh.js'

/**
 * Past the refresh itself: storing the rotated token set (a Redis command
 * times out after 2 s and is tried twice) and closing Redis.
 */
const WRITE_AND_CLOSE_MS = 5_000

/**
 * How long a SIGTERM waits for the requests in flight before the process
 * exits 1. It must outlast the longest refresh: cut short after OneUp rotated
 * the refresh token, the spent one stays in Redis and the connection answers
 * 409 until its user connects again. Every other wait is shorter (a code
 * exchange is one attempt; webhook deliveries and background jobs stop at
 * once and resume elsewhere).
 */
export function shutdownGraceMs(config: Config): number {
  const grantsPerAttempt = config.oneup.clientSecretPrevious === undefined ? 1 : 3
  return refreshWorstCaseMs(defaultRefreshPolicy(config.oneup.timeoutMs), grantsPerAttempt) + WRITE_AND_CLOSE_MS
}
