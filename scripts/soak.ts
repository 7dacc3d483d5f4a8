/**
 * `npm run soak [-- --cluster] [-- --connections N --duration SECONDS --requests N --concurrency N --ttl SECONDS --grace SECONDS]`
 *
 * Runs the soak of scripts/soak/run.ts on loopback (build first: `npm run soak` does), prints
 * its report, and exits 1 when a connection was lost or a refresh token was presented twice.
 */
import { parseArgs } from 'node:util'
import { formatReport, runSoak } from './soak/run.js'

const { values } = parseArgs({
  options: {
    cluster: { type: 'boolean', default: false },
    connections: { type: 'string', default: '1000' },
    duration: { type: 'string', default: '120' },
    requests: { type: 'string', default: '500000' },
    concurrency: { type: 'string', default: '16' },
    ttl: { type: 'string', default: '20' },
    grace: { type: 'string', default: '60' },
  },
})
const number = (name: keyof typeof values, min: number, max: number): number => {
  const value = Number(values[name])
  if (!Number.isInteger(value) || value < min || value > max) throw new TypeError(`--${name} must be an integer from ${min} to ${max}`)
  return value
}
const report = await runSoak({
  redis: values.cluster ? 'cluster' : 'standalone',
  connections: number('connections', 1, 20_000),
  // Bounded: at most an hour of load.
  durationMs: number('duration', 6, 3600) * 1000,
  maxRequests: number('requests', 1, 10_000_000),
  concurrency: number('concurrency', 1, 256),
  accessTokenTtl: number('ttl', 2, 86_400),
  graceSeconds: number('grace', 0, 300),
  log: (line) => console.error(line),
})
console.log(formatReport(report))
process.exit(report.lost === 0 && report.reuseDetections === 0 ? 0 : 1)
