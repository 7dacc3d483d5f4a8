import type { FastifyPluginAsync } from 'fastify'
import type { Broker } from '../../broker.js'
import { BrokerError } from '../../errors.js'

/** `/healthz`: the process answers. `/readyz`: and Redis does too (CONTRACT §6). */
export const healthRoutes: FastifyPluginAsync<{ broker: Broker }> = async (app, { broker }) => {
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async () => {
    try {
      await broker.redis.ping()
    } catch (error) {
      throw new BrokerError('StoreUnavailable', { retryAfter: 1, cause: error })
    }
    return { status: 'ready' }
  })
}
