import { readdirSync, readFileSync } from 'node:fs'
import t from 'tap'

const root = new URL('../../', import.meta.url)
const testFiles = ['test/e2e', 'test/unit', 'test/sandbox'].flatMap((dir) => readdirSync(new URL(dir, root)).map((name) => `${dir}/${name}`))
const source = (file: string) => readFileSync(new URL(file, root), 'utf8').replace(/\\'/g, "'")

t.test('every test SECURITY.md names exists, in the file it names', async (t) => {
  const doc = readFileSync(new URL('SECURITY.md', root), 'utf8')
  let file: string | undefined
  let checked = 0
  // "`test/e2e/x.test.ts` › name; › other name": a file, then the names of its tests; "…" ends a prefix.
  for (const match of doc.matchAll(/`((?:test\/[\w/]+\/)?[\w.-]+\.test\.ts)`|› ([^;|\n]+)/g)) {
    if (match[1] !== undefined) {
      const named = match[1]
      file = testFiles.find((candidate) => candidate === named || candidate.endsWith(`/${named}`))
      t.ok(file, `${named} exists`)
      continue
    }
    const name = (match[2] ?? '').split(' …')[0]?.replace(/…$/, '').trim() ?? ''
    t.ok(file !== undefined && source(file).includes(`t.test('${name}`), `${file} has a test named "${name}"`)
    checked += 1
  }
  t.ok(checked >= 40, `SECURITY.md names ${checked} tests`)
})
