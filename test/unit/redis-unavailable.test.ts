import t from 'tap'
import { isRedisUnavailable } from '../../src/store/redis.js'

t.test('errors of a cluster failover are Redis being unavailable (503 code 9), not internal errors', async (t) => {
  // What replicas logged as 500s during a failover before this was fixed.
  for (const message of ['MOVED 2413 127.0.0.1:23946', 'ASK 2413 127.0.0.1:23946', 'Too many Cluster redirections. Last error: Error: Connection is closed.', 'CLUSTERDOWN The cluster is down', 'Connection is closed.']) {
    t.ok(isRedisUnavailable(new Error(message)), message)
  }
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6379'), { code: 'ECONNREFUSED' })
  t.ok(isRedisUnavailable(refused))
  t.ok(isRedisUnavailable(Object.assign(new Error('x'), { name: 'MaxRetriesPerRequestError' })))
})

t.test('a Redis that answers but cannot take the command now is unavailable too', async (t) => {
  for (const message of [
    "OOM command not allowed when used memory > 'maxmemory'.",
    'BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.',
    'MISCONF Redis is configured to save RDB snapshots, but it is currently not able to persist on disk.',
    'NOREPLICAS Not enough good replicas to write.',
  ]) {
    t.ok(isRedisUnavailable(new Error(message)), message)
  }
  t.notOk(isRedisUnavailable(new Error('BUSYGROUP Consumer Group name already exists')), 'not a group that exists')
})

t.test('other Redis errors and non-errors are not mistaken for an outage', async (t) => {
  t.notOk(isRedisUnavailable(new Error('ERR wrong number of arguments for \'hset\' command')))
  t.notOk(isRedisUnavailable(new Error('NOSCRIPT No matching script')))
  t.notOk(isRedisUnavailable('MOVED 1 x:1'))
  t.notOk(isRedisUnavailable(undefined))
})
