import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/config.js'

const secrets = { TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64url')}`, COOKIE_SECRET: 'c'.repeat(32) }
const production = { ...secrets, NODE_ENV: 'production', ONEUP_CLIENT_ID: 'broker', ONEUP_CLIENT_SECRET: 'secret', PUBLIC_URL: 'https://broker.example.com' }

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env)
    return []
  } catch (error) {
    return error instanceof ConfigError ? error.problems : [String(error)]
  }
}

// Value.Convert (typebox) truncates fractions and maps true/false to 1/0 before the schema
// checks `integer`: a wrong value became a different, valid one with no word to ops.
t.test('an integer variable must be plain digits: no fraction, boolean, hex or sign is converted', async (t) => {
  for (const [name, value] of [
    ['KEEPALIVE_AFTER_HOURS', '0.5'], // was 0: the keep-alive sweeper OFF
    ['IP_RATE_LIMIT', '1.5'], // was 1 call per 15 min per browser route
    ['WEBHOOK_MAX_ATTEMPTS', 'true'], // was 1
    ['PORT', '3000.5'],
    ['PORT', '0x10'], // was 16
    ['ONEUP_TIMEOUT_MS', '1e4'],
    ['AUDIT_MAX_ENTRIES', '+500'],
  ] as const) {
    const found = problems({ ...secrets, [name]: value })
    t.same(found, [`${name} must be a whole number written in digits (0-9)`], `${name}=${value} is reported once`)
  }
  const { config } = loadConfig({ ...secrets, KEEPALIVE_AFTER_HOURS: '0', PORT: '8080', WEBHOOK_MAX_ATTEMPTS: ' 7 ' })
  t.same([config.keepAlive.staleAfterMs, config.port, config.webhooks.maxAttempts], [0, 8080, 7], 'digits (around spaces) still are numbers')
  t.match(problems({ ...secrets, PORT: '70000' }), [/^PORT must be <= 65535/], 'bounds still apply')
})

// An explicit http ONEUP_REDIRECT_URI was refused in production, but the same URL derived from an
// http (or the default, localhost) PUBLIC_URL was accepted.
t.test('production refuses an unset PUBLIC_URL and an http callback derived from PUBLIC_URL', async (t) => {
  const { PUBLIC_URL: _, ...unset } = production
  t.same(problems(unset), ['PUBLIC_URL is required in production: connect links and the OAuth callback are built on it'])
  t.same(problems({ ...production, PUBLIC_URL: 'http://broker.example.com' }), [
    "PUBLIC_URL must be https in production (or http on loopback): ONEUP_REDIRECT_URI, derived from it, carries OneUp's codes",
  ])
  t.same(problems({ ...production, PUBLIC_URL: 'http://127.0.0.1:3000' }), [], 'loopback, as for the OneUp URLs')
  t.same(problems({ ...production, PUBLIC_URL: 'http://broker.internal', ONEUP_REDIRECT_URI: 'https://broker.example.com/oauth/callback' }), [], 'an explicit https callback is what counts')
  t.same(problems({ ...production }), [])
})

// bearer() takes one run of visible characters: such a key was accepted at boot and could never authenticate.
t.test('an admin key that cannot be sent as a bearer token is refused at boot, without echoing it', async (t) => {
  for (const key of [`${'a'.repeat(30)} ${'b'.repeat(30)}`, `${'a'.repeat(30)}\t${'b'.repeat(30)}`, `${'a'.repeat(43)}é`]) {
    const found = problems({ ...production, BROKER_ADMIN_KEY: key })
    t.same(found, ['BROKER_ADMIN_KEY must be visible ASCII characters only, no spaces: it is sent as a bearer token'])
  }
  t.same(problems({ ...production, BROKER_ADMIN_KEY: 'A-._~+/='.repeat(6) }), [], 'every visible character is fine')
})

// The default PUBLIC_URL named port 3000 whatever PORT said: links and the start-up line were wrong.
t.test('a sandbox on another PORT links to itself there unless PUBLIC_URL says otherwise', async (t) => {
  const on = (env: Record<string, string>) => loadConfig({ ...secrets, ...env }).config
  t.equal(on({ PORT: '8080' }).publicUrl, 'http://localhost:8080')
  t.equal(on({ PORT: '8080' }).oneup.redirectUri, 'http://localhost:8080/oauth/callback')
  t.equal(on({}).publicUrl, 'http://localhost:3000')
  t.equal(on({ PORT: '0' }).publicUrl, 'http://localhost:3000', 'PORT 0: the port is not known yet')
  t.equal(on({ PORT: '8080', PUBLIC_URL: 'https://broker.example.com' }).publicUrl, 'https://broker.example.com', 'an explicit PUBLIC_URL wins')
  t.equal(on({ PORT: '8080', ONEUP_CLIENT_ID: 'real', ONEUP_CLIENT_SECRET: 's' }).publicUrl, 'http://localhost:3000', 'only in sandbox mode')
})

t.test('config errors say what would do: the levels LOG_LEVEL takes, true or false, and no simulator in production', async (t) => {
  t.same(problems({ ...secrets, LOG_LEVEL: 'loud' }), ['LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent'])
  t.same(problems({ ...secrets, ONEUP_SANDBOX: 'maybe' }), ['ONEUP_SANDBOX must be true or false'])
  const { ONEUP_CLIENT_ID: _id, ONEUP_CLIENT_SECRET: _secret, ...noClient } = production
  t.same(problems(noClient), [
    'ONEUP_CLIENT_ID is required in production (the client OneUp registered for the broker)',
    'ONEUP_CLIENT_SECRET is required in production (the client OneUp registered for the broker)',
  ])
  t.match(problems({ ...secrets, NODE_ENV: 'development' }), [], 'outside production the simulator is the default')
})

t.test('a NODE_ENV typo is warned about, not taken silently for development', async (t) => {
  t.match(loadConfig({ ...secrets, NODE_ENV: 'prod' }).warnings, [/NODE_ENV is neither production, development nor test/])
  t.same(loadConfig({ ...secrets, NODE_ENV: 'test' }).warnings, [])
})
