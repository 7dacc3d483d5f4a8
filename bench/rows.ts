/** The bench's table rows: one load's numbers, and a row from several rounds of it. */
import type { Running } from './processes.js'

export interface Load {
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
  /** Answers with a 3xx status. */
  redirects: number
  total: number
  /** The load generator's CPU seconds for the measured run. */
  cpuSeconds: number
  /** CPU per answered request (µs), by process: where the machine's cores went. */
  cpuPerRequest?: { server: number; redis: number; loader: number }
}
export interface Row {
  name: string
  rps?: number
  p50?: number
  p99?: number
  errors?: number
  non2xx?: number
  peakRssMb?: number
  vsReferenceA?: number
  cpuPerRequest?: Load['cpuPerRequest']
  note?: string
}

/**
 * A table row from a step's rounds: the median round, its ratio to reference A's
 * median `a` (when given) and every round's throughput. Errors and non-2xx answers
 * are those of every round, so that the run fails on one in any round. For a route
 * that answers with a redirect, the non-2xx column counts the answers that were not one.
 */
export function roundsRow(name: string, rounds: Load[], server: Pick<Running, 'peakRss'>, a?: Load, success: '2xx' | 'redirects' = '2xx'): Row {
  const m = median(rounds)
  const sum = (count: (r: Load) => number) => rounds.reduce((total, r) => total + count(r), 0)
  const unwanted = success === 'redirects' ? sum((r) => r.total - r.redirects) : sum((r) => r.non2xx)
  const perRound = `rounds: ${rounds.map((r) => Math.round(r.rps)).join(', ')} req/s`
  return {
    name,
    ...pick(m),
    errors: sum((r) => r.errors),
    non2xx: unwanted,
    peakRssMb: mb(server.peakRss()),
    ...(a === undefined ? {} : { vsReferenceA: ratio(m.rps, a.rps) }),
    note: success === 'redirects' ? `every answer must be a redirect: ${unwanted} were not; ${perRound}` : perRound,
  }
}

/** The round with the median throughput (its latencies come with it). */
export const median = (rounds: Load[]): Load => [...rounds].sort((x, y) => x.rps - y.rps)[Math.floor(rounds.length / 2)] as Load
export const pick = (l: Load) => ({ rps: Math.round(l.rps), p50: l.p50, p99: l.p99, errors: l.errors, non2xx: l.non2xx, cpuPerRequest: l.cpuPerRequest })
export const ratio = (x: number, y: number) => (y === 0 ? 0 : Math.round((x / y) * 100) / 100)
export const mb = (bytes: number) => Math.round(bytes / 2 ** 20)
