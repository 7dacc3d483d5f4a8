import t from 'tap'
import { randomBytesPooled, randomToken } from '../../src/crypto/random.js'

t.test('pooled random bytes: the asked length, never the same bytes twice, across refills', async (t) => {
  const seen = new Set<string>()
  // 4096-byte pool, 12 and 32-byte draws: several refills, and draws that do not divide it evenly.
  for (let i = 0; i < 2000; i += 1) {
    const bytes = randomBytesPooled(i % 2 === 0 ? 12 : 32)
    t.equal(bytes.length, i % 2 === 0 ? 12 : 32)
    seen.add(bytes.toString('hex'))
  }
  t.equal(seen.size, 2000, 'every draw is different')
  t.equal(randomBytesPooled(10_000).length, 10_000, 'a draw larger than the pool')
})

t.test('tokens: base64url of the asked number of bytes', async (t) => {
  t.match(randomToken(), /^[A-Za-z0-9_-]{43}$/, '32 bytes by default: 256 bits')
  t.match(randomToken(16), /^[A-Za-z0-9_-]{22}$/)
  t.not(randomToken(), randomToken())
})
