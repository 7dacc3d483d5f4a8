import { randomBytes } from 'node:crypto'
import { CompactEncrypt, compactDecrypt } from 'jose'
import t from 'tap'
import { createSealer, SealError, sealedKid } from '../../src/crypto/sealer.js'

const key = (kid: string) => ({ kid, key: new Uint8Array(randomBytes(32)) })

t.test('a sealed payload opens with its binding and is standard JWE that jose opens too', async (t) => {
  const k1 = key('k1')
  const sealer = createSealer([k1])
  const sealed = await sealer.seal({ secret: 'refresh-me' }, 'tokens:acme:alice')
  t.notMatch(sealed, /refresh-me/, 'the plaintext is not visible')
  t.equal(sealed.split('.').length, 5, 'JWE compact serialisation')
  t.equal(sealedKid(sealed), 'k1')
  t.same(await sealer.open(sealed, 'tokens:acme:alice'), { secret: 'refresh-me' })

  const { plaintext, protectedHeader } = await compactDecrypt(sealed, k1.key)
  t.same(JSON.parse(new TextDecoder().decode(plaintext)), { secret: 'refresh-me' })
  t.match(protectedHeader, { alg: 'dir', enc: 'A256GCM', kid: 'k1', bnd: 'tokens:acme:alice' })
})

t.test('a record copied under another user does not open', async (t) => {
  const sealer = createSealer([key('k1')])
  const sealed = await sealer.seal({ secret: 'x' }, 'tokens:acme:alice')
  await t.rejects(sealer.open(sealed, 'tokens:acme:mallory'), SealError)
  await t.rejects(sealer.open(sealed, 'tokens:other:alice'), SealError)
})

t.test('a JWE without the binding header is refused even with the right key', async (t) => {
  const k1 = key('k1')
  const forged = await new CompactEncrypt(new TextEncoder().encode('{"secret":"x"}'))
    .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', kid: 'k1' })
    .encrypt(k1.key)
  await t.rejects(createSealer([k1]).open(forged, 'tokens:acme:alice'), SealError)
})

t.test('a tampered header or ciphertext fails to open', async (t) => {
  const sealer = createSealer([key('k1')])
  const sealed = await sealer.seal({ secret: 'x' }, 'b')
  const parts = sealed.split('.')
  const header = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString())
  header.bnd = 'c'
  const rebound = [Buffer.from(JSON.stringify(header)).toString('base64url'), ...parts.slice(1)].join('.')
  await t.rejects(sealer.open(rebound, 'c'), SealError, 'the header is authenticated')
  const flipped = [...parts]
  flipped[3] = Buffer.from(Buffer.from(parts[3] ?? '', 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url')
  await t.rejects(sealer.open(flipped.join('.'), 'b'), SealError)
  await t.rejects(sealer.open('not a jwe', 'b'), SealError)
  t.equal(sealedKid('not a jwe'), undefined)
})

t.test("a record that does not open says why, for ops: its key is missing, or it was damaged (never any of its content)", async (t) => {
  const sealed = await createSealer([key('k0')]).seal({ secret: 'x' }, 'b')
  await t.rejects(createSealer([key('k1')]).open(sealed, 'b'), { message: 'the record is sealed with key id "k0", which TOKEN_ENCRYPTION_KEYS does not hold' })
  await t.rejects(createSealer([key('k0')]).open(sealed, 'b'), { message: /does not open with key id "k0": it was tampered with, or that key id now names another key/ }, 'same id, another key')
  await t.rejects(createSealer([key('k0')]).open('not a jwe', 'b'), { message: 'the record does not open: it is malformed' })
})

t.test('rotation: the first key seals, older keys still open, unknown keys do not', async (t) => {
  const old = key('old')
  const fresh = key('new')
  const before = await createSealer([old]).seal({ n: 1 }, 'b')
  const rotated = createSealer([fresh, old])
  t.same(await rotated.open(before, 'b'), { n: 1 })
  const after = await rotated.seal({ n: 2 }, 'b')
  t.equal(sealedKid(after), 'new')
  t.equal(rotated.primaryKid, 'new')
  await t.rejects(createSealer([old]).open(after, 'b'), SealError, 'a replica without the new key cannot open it')
  t.throws(() => createSealer([]), TypeError)
})
