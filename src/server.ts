import closeWithGrace from 'close-with-grace'
import { pino, type Logger } from 'pino'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config/config.js'
import { tuneHeap } from './heap.js'
import { loggerOptions } from './logger.js'
import { shutdownGraceMs } from './shutdown.js'
import { createRedisClient } from './store/redis.js'

/** The process: config, logger, Redis check, listen, graceful close. */
async function main(): Promise<void> {
  tuneHeap()
  let config: Config
  let warnings: string[]
  try {
    ;({ config, warnings } = loadConfig(process.env, { devSecrets: true }))
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message)
      process.exit(1)
    }
    throw error
  }
  const logger = pino(loggerOptions(config.logLevel))
  for (const warning of warnings) logger.warn(warning)

  const redis = createRedisClient(config.redis)
  // Until the app takes over, failures are reported once below, not by ioredis' default printer.
  let firstError: Error | undefined
  const quiet = (error: Error) => {
    firstError ??= error
  }
  redis.on('error', quiet)
  try {
    await redis.connect()
    await redis.ping()
  } catch (error) {
    const cause = firstError ?? (error as Error)
    const code = (cause as { code?: string }).code ?? cause.message
    console.error(
      `Cannot reach Redis at ${config.redis.clusterNodes === undefined ? withoutPassword(config.redis.url) : `cluster ${process.env.REDIS_CLUSTER_NODES}`} (${code}). ` +
        'Start one with `redis-server --daemonize yes` (or `docker compose up -d redis`), or set REDIS_URL.',
    )
    redis.disconnect()
    process.exit(1)
  }

  redis.off('error', quiet)
  const app = await buildApp({ config, logger, redis })
  // Long enough for the slowest refresh to finish and store what OneUp rotated (README, "Deploys").
  const graceMs = shutdownGraceMs(config)
  closeWithGrace({ delay: graceMs }, async ({ signal, err }) => {
    if (err !== undefined) logger.error({ err }, 'closing after an uncaught error')
    else logger.info({ signal, grace_ms: graceMs }, 'closing: finishing in-flight requests')
    // server.close() closes the connections idle at that moment only; one kept alive after
    // its in-flight answer would hold the close until its keep-alive timeout (72 s), past
    // the grace delay. So close each connection as soon as it falls idle.
    const sweeper = setInterval(() => app.server.closeIdleConnections(), 100)
    try {
      await app.close()
    } finally {
      clearInterval(sweeper)
    }
  })
  try {
    await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    const code = (error as { code?: string }).code
    if (code !== 'EADDRINUSE' && code !== 'EACCES' && code !== 'EADDRNOTAVAIL') throw error
    // As for an unreachable Redis: one line that says what to change, no stack trace.
    console.error(`Cannot listen on ${config.host}:${config.port} (${code}). Stop what uses it, or set PORT (with PUBLIC_URL, which links are built on; and HOST).`)
    await app.close()
    process.exit(1)
  }
  logger.info(
    { shutdown_grace_ms: graceMs },
    config.sandbox
      ? `OneUp broker ready at ${config.publicUrl} (sandbox mode: OneUp is simulated at ${config.publicUrl}/sandbox; try the demo app at ${config.publicUrl}/demo)`
      : `OneUp broker ready at ${config.publicUrl}`,
  )
  await warnOfUnopenableRecords(app, logger)
}

/**
 * Connections sealed with a key this replica was not given cannot be served (500 code 11):
 * said once at start-up, with their counts, rather than at their first hand-out.
 */
async function warnOfUnopenableRecords(app: Awaited<ReturnType<typeof buildApp>>, logger: Logger): Promise<void> {
  try {
    const { kids, records } = await app.broker.reencryption.status()
    const missing = Object.fromEntries(Object.entries(records).filter(([kid, count]) => count > 0 && !kids.includes(kid)))
    if (Object.keys(missing).length > 0) {
      logger.warn({ missing_kids: missing }, 'some connections are sealed with key ids TOKEN_ENCRYPTION_KEYS does not hold: they cannot be served (code 11) until those keys are back')
    }
  } catch {
    // Only a warning: Redis hiccups are logged by the Redis error logger.
  }
}

/** A Redis URL fit for a message: user and password masked, parsed as ioredis parses it (the last `@` ends them). */
function withoutPassword(url: string): string {
  const parsed = new URL(url)
  if (parsed.username === '' && parsed.password === '') return parsed.href
  parsed.username = '***'
  parsed.password = ''
  return parsed.href
}

await main()
