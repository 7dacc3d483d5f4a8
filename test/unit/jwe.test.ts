import { randomBytes } from 'node:crypto'
import { CompactEncrypt, compactDecrypt } from 'jose'
import t from 'tap'
import { decryptCompact, encryptCompact, readHeader } from '../../src/crypto/jwe.js'

const key = new Uint8Array(randomBytes(32))
const keyFor = (kid: string) => (kid === 'k1' ? key : undefined)
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes)

t.test('jose opens what node:crypto seals', async (t) => {
  const jwe = encryptCompact(Buffer.from('{"a":1}'), { alg: 'dir', enc: 'A256GCM', kid: 'k1', bnd: 'x' }, key)
  const { plaintext, protectedHeader } = await compactDecrypt(jwe, key)
  t.equal(text(plaintext), '{"a":1}')
  t.same(protectedHeader, { alg: 'dir', enc: 'A256GCM', kid: 'k1', bnd: 'x' })
})

t.test('node:crypto opens what jose seals', async (t) => {
  const jwe = await new CompactEncrypt(new TextEncoder().encode('{"b":2}')).setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'k1', bnd: 'y' }).encrypt(key)
  const opened = decryptCompact(jwe, keyFor)
  t.equal(opened?.plaintext.toString(), '{"b":2}')
  t.equal(opened?.header.bnd, 'y')
})

t.test('every IV is fresh', async (t) => {
  const a = encryptCompact(Buffer.from('same'), { alg: 'dir', enc: 'A256GCM', kid: 'k1' }, key)
  const b = encryptCompact(Buffer.from('same'), { alg: 'dir', enc: 'A256GCM', kid: 'k1' }, key)
  t.not(a.split('.')[2], b.split('.')[2])
  t.not(a, b)
})

t.test('only dir + A256GCM with a kid is accepted; no zip, no crit', async (t) => {
  const headerOf = (h: object) => `${Buffer.from(JSON.stringify(h)).toString('base64url')}..AAAA.AAAA.AAAA`
  t.ok(readHeader(headerOf({ alg: 'dir', enc: 'A256GCM', kid: 'k1' })))
  for (const bad of [
    { alg: 'none', enc: 'A256GCM', kid: 'k1' },
    { alg: 'dir', enc: 'A128GCM', kid: 'k1' },
    { alg: 'dir', enc: 'A256GCM' },
    { alg: 'dir', enc: 'A256GCM', kid: 'k1', zip: 'DEF' },
    { alg: 'dir', enc: 'A256GCM', kid: 'k1', crit: ['x'] },
  ]) {
    t.equal(readHeader(headerOf(bad)), undefined, JSON.stringify(bad))
  }
  for (const junk of ['', '.', 'e30', '!!!..a.b.c', `${Buffer.from('[1]').toString('base64url')}..a.b.c`, `${Buffer.from('nope').toString('base64url')}..a.b.c`]) {
    t.equal(readHeader(junk), undefined, JSON.stringify(junk))
  }
})

t.test('tampering, wrong keys and malformed input fail closed', async (t) => {
  const jwe = encryptCompact(Buffer.from('secret'), { alg: 'dir', enc: 'A256GCM', kid: 'k1' }, key)
  const parts = jwe.split('.')
  const swap = (i: number, value: string) => parts.map((p, j) => (j === i ? value : p)).join('.')
  t.ok(decryptCompact(jwe, keyFor))
  t.equal(decryptCompact(jwe, () => new Uint8Array(randomBytes(32))), undefined, 'another key')
  t.equal(decryptCompact(jwe, () => undefined), undefined, 'unknown kid')
  t.equal(decryptCompact(swap(1, 'AAAA'), keyFor), undefined, 'an encrypted key where dir has none')
  t.equal(decryptCompact(swap(2, 'AAAA'), keyFor), undefined, 'a short IV')
  t.equal(decryptCompact(swap(4, 'AAAA'), keyFor), undefined, 'a short tag')
  const flipped = Buffer.from(parts[3] ?? '', 'base64url')
  flipped[0] = (flipped[0] ?? 0) ^ 1
  t.equal(decryptCompact(swap(3, flipped.toString('base64url')), keyFor), undefined, 'changed ciphertext')
  t.equal(decryptCompact(swap(3, 'not base64!'), keyFor), undefined, 'not base64url')
  t.equal(decryptCompact(`${jwe}.extra`, keyFor), undefined, 'six parts')
  const otherHeader = Buffer.from(JSON.stringify({ alg: 'dir', enc: 'A256GCM', kid: 'k1', bnd: 'z' })).toString('base64url')
  t.equal(decryptCompact(swap(0, otherHeader), keyFor), undefined, 'a changed header breaks the tag')
})
