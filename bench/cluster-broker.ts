/**
 * The broker on N worker processes behind one port (Node's cluster module: the
 * primary hands each new connection to a worker). Only for the "scale" step of
 * the benchmark; in production, run one broker per core as separate replicas.
 */
import cluster from 'node:cluster'

const workers = Number(process.env.BENCH_WORKERS ?? 2)
cluster.setupPrimary({ exec: process.env.BENCH_SERVER_JS ?? 'dist/server.js' })
for (let i = 0; i < workers; i += 1) cluster.fork()
process.on('SIGTERM', () => {
  for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM')
  setTimeout(() => process.exit(0), 2000).unref()
  cluster.on('exit', () => {
    if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
  })
})
