import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config/config.js'

const KEY = Buffer.alloc(32, 7).toString('base64url')

t.test('defaults give a sandbox broker on localhost:3000 outside production', async (t) => {
  const { config } = loadConfig({ TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`, COOKIE_SECRET: 'c'.repeat(32) })
  t.equal(config.port, 3000)
  t.equal(config.host, '127.0.0.1')
  t.equal(config.publicUrl, 'http://localhost:3000')
  t.equal(config.sandbox, true)
  t.equal(config.oneup.authorizationUrl, 'http://localhost:3000/sandbox/oauth2/auth')
  t.equal(config.oneup.tokenUrl, 'http://127.0.0.1:3000/sandbox/oauth2/token', 'server-to-server calls go to the listen address')
  t.equal(config.oneup.redirectUri, 'http://localhost:3000/oauth/callback')
  t.equal(config.redis.url, 'redis://127.0.0.1:6379')
  t.equal(config.adminKey, undefined, 'no admin key is made up without a dev secrets file')
})

t.test('a real OneUp client turns the sandbox off and uses OneUp\'s URLs', async (t) => {
  const { config } = loadConfig({
    ONEUP_CLIENT_ID: 'acme',
    ONEUP_CLIENT_SECRET: 's3cret',
    TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`,
    COOKIE_SECRET: 'c'.repeat(32),
    PUBLIC_URL: 'https://broker.example.com/',
  })
  t.equal(config.sandbox, false)
  t.equal(config.oneup.tokenUrl, 'https://oauth-staging.oneup.com/oauth2/token')
  t.equal(config.oneup.apiUrl, 'https://api.oneup.com/v1')
  t.equal(config.oneup.redirectUri, 'https://broker.example.com/oauth/callback', 'the trailing slash of PUBLIC_URL is dropped')
})

t.test('production refuses to start and lists every missing or malformed variable at once', async (t) => {
  const error = t.throws(() =>
    loadConfig({ NODE_ENV: 'production', PORT: 'eighty', BROKER_ADMIN_KEY: 'short' }, { devSecrets: true }),
  ) as ConfigError
  t.type(error, ConfigError)
  const text = error.problems.join('\n')
  t.match(text, /PORT/)
  t.match(text, /BROKER_ADMIN_KEY/)
  t.notMatch(text, /short/, 'a rejected secret is never echoed')
})

t.test('production names each missing secret', async (t) => {
  const error = t.throws(() => loadConfig({ NODE_ENV: 'production' })) as ConfigError
  const text = error.problems.join('\n')
  for (const name of ['ONEUP_CLIENT_ID', 'ONEUP_CLIENT_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'COOKIE_SECRET']) t.match(text, name)
})

t.test('malformed encryption keys are refused without echoing them', async (t) => {
  const bad = 'k1:tooShort,k2,k1:' + KEY + ',k1:' + KEY
  const error = t.throws(() => loadConfig({ TOKEN_ENCRYPTION_KEYS: bad, COOKIE_SECRET: 'c'.repeat(32) })) as ConfigError
  t.equal(error.problems.length, 3, 'short key, missing colon, duplicate kid')
  t.notMatch(error.message, /tooShort/)
  t.notMatch(error.message, KEY)
})

t.test('several encryption keys: the first seals, order is kept', async (t) => {
  const other = Buffer.alloc(32, 9).toString('base64url')
  const { config } = loadConfig({ TOKEN_ENCRYPTION_KEYS: `new:${other},old:${KEY}`, COOKIE_SECRET: 'c'.repeat(32) })
  t.same(
    config.encryptionKeys.map((k) => k.kid),
    ['new', 'old'],
  )
  t.equal(config.encryptionKeys[0]?.key.length, 32)
})

t.test('outside production, missing secrets are generated once and kept in a private file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'broker-config-'))
  const path = join(dir, 'dev.json')
  const first = loadConfig({ DEV_SECRETS_FILE: path }, { devSecrets: true })
  t.ok(first.warnings.some((w) => w.includes('TOKEN_ENCRYPTION_KEYS')), 'warns that a key was generated')
  t.equal(statSync(path).mode & 0o777, 0o600)
  t.ok(first.config.adminKey !== undefined && first.config.adminKey.length >= 43, 'sandbox mode gets an admin key')
  const second = loadConfig({ DEV_SECRETS_FILE: path }, { devSecrets: true })
  t.same(second.config.encryptionKeys[0]?.key, first.config.encryptionKeys[0]?.key, 'the same key on the next start')
  t.equal(second.config.cookieSecret, first.config.cookieSecret)
  t.same(second.warnings, [])
  t.match(readFileSync(path, 'utf8'), /COOKIE_SECRET/)
})

t.test('empty variables mean unset, and an explicit ONEUP_SANDBOX=false needs a real client', async (t) => {
  const error = t.throws(() =>
    loadConfig({ ONEUP_CLIENT_ID: '', ONEUP_SANDBOX: 'false', TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`, COOKIE_SECRET: 'c'.repeat(32) }),
  ) as ConfigError
  t.match(error.problems.join('\n'), /ONEUP_CLIENT_ID is required/)
})

t.test('explicit OneUp URLs win over the sandbox defaults', async (t) => {
  const { config } = loadConfig({
    ONEUP_TOKEN_URL: 'http://127.0.0.1:4010/sandbox/oauth2/token',
    TOKEN_ENCRYPTION_KEYS: `k1:${KEY}`,
    COOKIE_SECRET: 'c'.repeat(32),
  })
  t.equal(config.sandbox, true)
  t.equal(config.oneup.tokenUrl, 'http://127.0.0.1:4010/sandbox/oauth2/token')
})
