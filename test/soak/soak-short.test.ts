import t from 'tap'
import { formatReport, runSoak, SHORT_SOAK } from '../../scripts/soak/run.js'
import { REDIS_CLUSTER_NODES } from '../helpers/redis.js'

// The short soak: on a redis-server of its own in the standalone run, on a cluster of its own in the cluster run.
const redis = REDIS_CLUSTER_NODES === undefined ? 'standalone' : 'cluster'

t.test(`a short soak on ${redis} Redis (a replica killed, Redis restarted) loses no connection and never presents a refresh token twice`, async (t) => {
  const report = await runSoak({ redis, ...SHORT_SOAK })
  t.comment(formatReport(report).replaceAll('\n', '\n# '))
  t.equal(report.lost, 0, 'no connection lost')
  t.equal(report.reuseDetections, 0, 'no refresh token presented twice')
  t.ok((report.byStatus['200'] ?? 0) > 0, 'tokens were handed out')
  t.ok(Object.keys(report.byStatus).every((status) => ['200', '503', 'network'].includes(status)), `only tokens, 503s and the killed replica's dropped connections: ${JSON.stringify(report.byStatus)}`)
  t.ok(report.refreshGrants > 0, 'refreshes happened all along')
  // A refresh token is presented twice only when a fault cut off a refresh's answer: a few at most.
  t.ok(report.graceReuses <= 6, `${report.graceReuses} refresh tokens presented again within the grace period`)
  // One refresh per expiry: every grant's token reaches its caller, except when that caller's answer
  // failed (a 503 or a dropped connection), or the token was the connect's own, never asked for in time.
  const failed = Object.entries(report.byStatus).reduce((sum, [status, n]) => sum + (status === '200' ? 0 : n), 0)
  t.ok(
    report.refreshGrants <= report.expiries + report.graceReuses + failed + report.options.connections,
    `${report.refreshGrants} grants for ${report.expiries} expiries (${failed} failed answers)`,
  )
  t.equal(report.memory.length, 4, 'memory of the three replicas and the restarted one')
})
