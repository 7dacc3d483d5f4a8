import type { Config } from './config/config.js'
import { defaultRefreshPolicy } from './tokens/refresh.js'

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
 * once and resume elsewhere). A refresh runs at most its budget: a retry
 * starts only if it fits, and one attempt, even one trying both client secrets
 * during a rotation, ends within ONEUP_TIMEOUT_MS.
 */
export function shutdownGraceMs(config: Config): number {
  return defaultRefreshPolicy(config.oneup.timeoutMs).budgetMs + WRITE_AND_CLOSE_MS
}
