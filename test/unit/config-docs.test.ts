import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config/config.js'
import { EnvSchema } from '../../src/config/env.js'

t.test('every environment variable the broker reads is in .env.example and in the README\'s table', async (t) => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const name of Object.keys(EnvSchema.properties).filter((n) => n !== 'NODE_ENV')) {
    t.match(example, new RegExp(`^#?${name}=`, 'm'), `${name} in .env.example (commented out where its default must win)`)
    t.match(readme, new RegExp(`^\\| [^|]*\`${name}\``, 'm'), `${name} in the README`)
  }
})

t.test('.env.example used as it is runs the broker in sandbox mode, talking to its own simulator only', async (t) => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const env: Record<string, string> = {}
  for (const line of example.split('\n')) {
    const match = /^([A-Z_]+)=(.*)$/.exec(line) // commented-out lines stay unset
    if (match?.[1] !== undefined) env[match[1]] = match[2] ?? ''
  }
  env.DEV_SECRETS_FILE = join(mkdtempSync(join(tmpdir(), 'broker-example-')), 'dev.json')
  const { config } = loadConfig(env, { devSecrets: true })
  t.equal(config.sandbox, true)
  for (const url of [config.oneup.authorizationUrl, config.oneup.tokenUrl, config.oneup.apiUrl]) t.match(url, /^http:\/\/(localhost|127\.0\.0\.1):3000\/sandbox\//)
})
