import { execFileSync } from 'node:child_process'
import t from 'tap'
import { HEAP_GROWING_PERCENT, heapFlags } from '../../src/heap.js'

t.test('the broker sets a heap growing factor of its own', async (t) => {
  t.same(heapFlags(['--enable-source-maps']), [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`])
  t.ok(HEAP_GROWING_PERCENT > 0 && HEAP_GROWING_PERCENT < 300, 'a factor between 1x and 4x (V8 grows up to 4x by itself)')
})

t.test("an operator's own --heap-growing-percent on the command line wins", async (t) => {
  t.same(heapFlags(['--heap-growing-percent=80']), [])
  t.same(heapFlags(['--heap_growing_percent=80']), [])
})

t.test('V8 accepts the flag at run time', async (t) => {
  // setFlagsFromString ignores unknown flags silently: check V8 knows this one.
  const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' })
  t.match(options, /--heap-growing-percent/)
})
