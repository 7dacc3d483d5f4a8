import { readFileSync } from 'node:fs'
import t from 'tap'
import { EnvSchema } from '../../src/config/env.js'

t.test('every environment variable the broker reads is in .env.example and in the README\'s table', async (t) => {
  const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  for (const name of Object.keys(EnvSchema.properties).filter((n) => n !== 'NODE_ENV')) {
    t.match(example, new RegExp(`^${name}=`, 'm'), `${name} in .env.example`)
    t.match(readme, new RegExp(`^\\| [^|]*\`${name}\``, 'm'), `${name} in the README`)
  }
})
