import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/config.js'
import { parseTrustedProxies } from '../../src/config/trusted-proxies.js'

const base = { TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32, 7).toString('base64url')}`, COOKIE_SECRET: 'c'.repeat(32) }

t.test('TRUSTED_PROXIES takes addresses, CIDR ranges and proxy-addr\'s names', async (t) => {
  t.same(parseTrustedProxies('10.0.0.1, 10.0.0.0/8,fd00::/8 ,::1,loopback,linklocal,uniquelocal'), {
    proxies: ['10.0.0.1', '10.0.0.0/8', 'fd00::/8', '::1', 'loopback', 'linklocal', 'uniquelocal'],
    problems: [],
  })
})

t.test('a malformed TRUSTED_PROXIES entry is reported by position, never trusted', async (t) => {
  const { proxies, problems } = parseTrustedProxies('10.0.0.1,*,10.0.0.0/33,example.com,::1/129,1.2.3.4/8/9,,10.0.0.0/x')
  t.same(proxies, ['10.0.0.1'])
  t.same(
    problems.map((p) => p.slice(0, 'TRUSTED_PROXIES entry 2'.length)),
    [2, 3, 4, 5, 6, 7, 8].map((n) => `TRUSTED_PROXIES entry ${n}`),
  )
})

t.test('by default no proxy is trusted and the per-IP limits have their defaults', async (t) => {
  const { config } = loadConfig(base)
  t.same(config.trustedProxies, [])
  t.same(config.ipLimits, { browser: 300, authFailures: 30 })
  const set = loadConfig({ ...base, TRUSTED_PROXIES: '10.0.0.0/8', IP_RATE_LIMIT: '5', AUTH_FAILURE_LIMIT: '7' }).config
  t.same(set.trustedProxies, ['10.0.0.0/8'])
  t.same(set.ipLimits, { browser: 5, authFailures: 7 })
})

t.test('config refuses a bad proxy list and bad limits, with every problem at once', async (t) => {
  const error = t.throws(() => loadConfig({ ...base, TRUSTED_PROXIES: 'everyone', IP_RATE_LIMIT: '0', AUTH_FAILURE_LIMIT: 'many' })) as ConfigError
  t.type(error, ConfigError)
  t.equal(error.problems.length, 3)
  t.match(error.message, /TRUSTED_PROXIES entry 1/)
  t.match(error.message, /IP_RATE_LIMIT/)
  t.match(error.message, /AUTH_FAILURE_LIMIT/)
})

t.test('in production every OneUp URL must be https: the client secret and tokens travel on them', async (t) => {
  const production = { ...base, NODE_ENV: 'production', PUBLIC_URL: 'https://broker.example.com', ONEUP_CLIENT_ID: 'acme', ONEUP_CLIENT_SECRET: 's3cret' }
  const error = t.throws(() =>
    loadConfig({ ...production, ONEUP_TOKEN_URL: 'http://oneup.example.com/oauth2/token', ONEUP_REDIRECT_URI: 'http://broker.example.com/oauth/callback' }),
  ) as ConfigError
  t.same(error.problems, ['ONEUP_TOKEN_URL must be https in production (or http on loopback)', 'ONEUP_REDIRECT_URI must be https in production (or http on loopback)'])
  for (const local of ['http://127.0.0.1:4010/oauth2/token', 'http://localhost:4010/oauth2/token', 'http://[::1]:4010/oauth2/token']) {
    t.equal(loadConfig({ ...production, ONEUP_TOKEN_URL: local }).config.oneup.tokenUrl, local, `${local}: loopback never leaves the host`)
  }
  t.throws(() => loadConfig({ ...production, ONEUP_TOKEN_URL: 'http://127.0.0.1.evil.example.com/oauth2/token' }), ConfigError, 'a look-alike host is not loopback')
  t.equal(loadConfig({ ...production, ONEUP_TOKEN_URL: 'https://oneup.example.com/oauth2/token' }).config.oneup.tokenUrl, 'https://oneup.example.com/oauth2/token')
  t.equal(loadConfig({ ...base, ONEUP_CLIENT_ID: 'acme', ONEUP_CLIENT_SECRET: 's', ONEUP_TOKEN_URL: 'http://127.0.0.1:4010/oauth2/token' }).config.oneup.tokenUrl, 'http://127.0.0.1:4010/oauth2/token', 'outside production a local OneUp is fine')
})
