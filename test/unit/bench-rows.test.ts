import t from 'tap'
import { roundsRow, type Load } from '../../bench/rows.js'

const round = (rps: number, extra: Partial<Load> = {}): Load => ({ rps, p50: 1, p99: 5, errors: 0, non2xx: 0, redirects: 0, total: rps * 10, cpuSeconds: 1, ...extra })
const server = { peakRss: () => 100 * 2 ** 20 }

// The bench fails a run whose table shows an error or a non-2xx (README: "exits non-zero on any
// error, any non-2xx"): one in any round must show, not only in the round whose throughput is kept.
t.test('a row from rounds shows the median round, and the errors and unwanted answers of every round', async (t) => {
  const a = round(1000)
  const row = roundsRow('hand-out', [round(500, { errors: 3 }), round(700), round(900, { non2xx: 2 })], server, a)
  t.match(row, { name: 'hand-out', rps: 700, p99: 5, peakRssMb: 100, vsReferenceA: 0.7, note: 'rounds: 500, 700, 900 req/s' })
  t.equal(row.errors, 3, 'errors of every round')
  t.equal(row.non2xx, 2, 'non-2xx answers of every round')

  const redirects = roundsRow('connect', [round(300, { redirects: 2990, errors: 1 }), round(200, { redirects: 2000 }), round(100, { redirects: 1000 })], server, a, 'redirects')
  t.match(redirects, { rps: 200, vsReferenceA: 0.2, errors: 1, non2xx: 10 })
  t.match(redirects.note, /^every answer must be a redirect: 10 were not; rounds: 300, 200, 100 req\/s$/)

  const clean = roundsRow('reference A', [round(1000), round(1100)], server)
  t.match(clean, { rps: 1100, errors: 0, non2xx: 0 })
  t.notOk('vsReferenceA' in clean, 'no ratio for reference A itself')
})
