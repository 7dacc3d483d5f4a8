import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { shutdownGraceMs } from '../../src/shutdown.js'

const secrets = { TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64url')}`, COOKIE_SECRET: 'c'.repeat(32) }
const grace = (env: Record<string, string> = {}) => shutdownGraceMs(loadConfig({ NODE_ENV: 'test', ...secrets, ...env }).config)

// A SIGTERM must wait for the slowest refresh (OneUp's rotated token set stored), not a fixed 10 s.
t.test('the shutdown grace delay outlasts the slowest refresh the configuration allows', async (t) => {
  t.equal(grace(), 20_000, 'default: ONEUP_TIMEOUT_MS 10 s + the 5 s refresh budget + 5 s to write and close')
  t.equal(grace({ ONEUP_TIMEOUT_MS: '20000' }), 30_000, 'follows ONEUP_TIMEOUT_MS')
  t.equal(grace({ ONEUP_TIMEOUT_MS: '60000' }), 70_000, 'the largest timeout allowed')
  t.equal(
    grace({ ONEUP_CLIENT_ID: 'broker', ONEUP_CLIENT_SECRET: 'new', ONEUP_CLIENT_SECRET_PREVIOUS: 'old' }),
    20_000,
    'during a secret rotation too: the tries of both secrets share one ONEUP_TIMEOUT_MS',
  )
})
