import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { chromium, type Browser, type Page } from 'playwright-core'
import t, { type Test } from 'tap'
import { buildApp } from '../../src/app.js'
import { loadConfig } from '../../src/config/config.js'
import { sha256hex } from '../../src/crypto/random.js'
import { redisKeys } from '../../src/store/keys.js'
import { freePort } from '../helpers/replica.js'
import { deletePrefix, redisEnv, testPrefix, testRedis } from '../helpers/redis.js'

/**
 * A real browser (Debian's chromium, headless) through the demo app, the
 * sandbox's login and consent pages and the broker's pages, against a real
 * listening broker in sandbox mode. Screenshots of each step go to the
 * git-ignored test-artifacts/browser/.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const SHOTS = fileURLToPath(new URL('../../test-artifacts/browser/', import.meta.url))
const ADMIN_KEY = randomBytes(32).toString('base64url')

interface Running {
  base: string
  prefix: string
  page: Page
  /** Content-Security-Policy violations the browser reported. */
  violations: string[]
  shot(name: string): Promise<void>
}

async function start(t: Test): Promise<Running> {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: apt-get install -y chromium (or set CHROMIUM_PATH)`)
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const prefix = testPrefix()
  const { config } = loadConfig({
    PORT: String(port),
    HOST: '127.0.0.1',
    PUBLIC_URL: base,
    ...redisEnv(),
    REDIS_KEY_PREFIX: prefix,
    ONEUP_SANDBOX: 'true',
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64url')}`,
    COOKIE_SECRET: randomBytes(32).toString('base64url'),
    BROKER_ADMIN_KEY: ADMIN_KEY,
    LOG_LEVEL: 'warn',
  })
  const app = await buildApp({ config })
  await app.listen({ port, host: '127.0.0.1' })
  t.teardown(async () => {
    await app.close()
    await deletePrefix(prefix)
  })

  const browser: Browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  })
  t.teardown(() => browser.close())
  // A phone-sized window: the pages must read on one.
  const context = await browser.newContext({ viewport: { width: 412, height: 900 } })
  const page = await context.newPage()
  page.setDefaultTimeout(15_000)
  const violations: string[] = []
  page.on('console', (message) => {
    if (/Content Security Policy/i.test(message.text())) violations.push(message.text())
  })
  mkdirSync(SHOTS, { recursive: true })
  return { base, prefix, page, violations, shot: async (name) => void (await page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true })) }
}

t.test('a newcomer connects the demo user in a real browser, fetches a token, and OneUp answers /v1/me', async (t) => {
  const { base, page, violations, shot } = await start(t)

  await page.goto(`${base}/demo`)
  t.equal(await page.locator('.state').textContent(), 'Not connected', 'the demo starts with no connection')
  await shot('01-demo-not-connected')

  await page.getByRole('button', { name: 'Connect OneUp' }).click()
  await page.waitForURL(/\/sandbox\/oauth2\/auth/)
  t.ok(await page.getByRole('heading', { name: 'Sign in to OneUp' }).isVisible(), "the sandbox's login page")
  await shot('02-sandbox-login')

  await page.getByRole('button', { name: /Alice Martin/ }).click()
  t.ok(await page.getByRole('heading', { name: 'Allow access?' }).isVisible(), "the sandbox's consent page")
  await shot('03-sandbox-consent')

  await page.getByRole('button', { name: 'Allow' }).click()
  await page.waitForURL(`${base}/demo?status=connected`)
  t.ok(await page.getByText('OneUp is connected.').isVisible(), 'back on the demo, told it worked')
  t.equal(await page.locator('.state').textContent(), 'Connected', 'and the connection is active')
  await shot('04-demo-connected')

  await page.getByRole('button', { name: 'Fetch a token and call /v1/me' }).click()
  await page.getByText('OneUp answered with your profile:').waitFor()
  const html = await page.content()
  t.match(html, /alice@sandbox\.example/, "OneUp's /v1/me answered with the user who signed in")
  t.notMatch(html, /ory_at_|ory_rt_|obk_app_/, 'no token and no app key ever reaches the browser')
  await shot('05-demo-token-and-me')

  await page.getByRole('button', { name: 'Disconnect' }).click()
  await page.waitForURL(`${base}/demo?status=disconnected`)
  t.equal(await page.locator('.state').textContent(), 'Not connected', 'disconnected')
  await shot('06-demo-disconnected')

  t.same(violations, [], 'no page needed anything its Content-Security-Policy forbids')
})

t.test('denying access on the consent page brings the user back to the demo, told in plain words', async (t) => {
  const { base, page, violations, shot } = await start(t)
  await page.goto(`${base}/demo`)
  await page.getByRole('button', { name: 'Connect OneUp' }).click()
  await page.getByRole('button', { name: /Bob Nguyen/ }).click()
  await page.getByRole('button', { name: 'Deny' }).click()
  await page.waitForURL(`${base}/demo?status=error&error=access_denied`)
  t.ok(await page.getByText('You chose not to allow access, so nothing was connected.').isVisible(), 'the reason, in plain words')
  t.equal(await page.locator('.state').textContent(), 'Not connected', 'nothing was connected')
  await shot('07-demo-denied')
  t.same(violations, [], 'no Content-Security-Policy violation')
})

t.test('an expired connect link shows a page that says so and what to do', async (t) => {
  const { base, prefix, page, violations, shot } = await start(t)
  const admin = await fetch(`${base}/v1/admin/apps`, {
    method: 'POST',
    headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'browser test', tenants: ['*'], return_origins: [base] }),
  })
  const { key } = (await admin.json()) as { key: string }
  const session = await fetch(`${base}/v1/connect-sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant_id: 'acme', user_id: 'erin', return_to: `${base}/demo` }),
  })
  const { token, url } = (await session.json()) as { token: string; url: string }

  // Let Redis expire the link, exactly as it does after 30 minutes.
  const redis = await testRedis()
  t.teardown(() => redis.disconnect())
  const sessionKey = redisKeys(prefix).connectSession(sha256hex(token))
  t.equal(await redis.pexpire(sessionKey, 1), 1)
  while ((await redis.exists(sessionKey)) === 1) await new Promise((resolve) => setTimeout(resolve, 5))

  const answer = await page.goto(url)
  t.equal(answer?.status(), 404)
  t.ok(await page.getByRole('heading', { name: 'This link has expired' }).isVisible(), 'says what happened')
  t.ok(await page.getByText('Go back to the app and press Connect again').isVisible(), 'and what to do')
  await shot('08-expired-link')
  t.same(violations, [], 'no Content-Security-Policy violation')
})
