import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { parse } from 'yaml'
import { BrokerEvents } from '../../src/events.js'
import { createMetrics, processMetrics } from '../../src/metrics/metrics.js'

/**
 * ops/alerts.yml, the Prometheus rules ops load (README, "Alerts"): valid for
 * promtool, each alert fired and kept silent by ops/alerts.test.yml, written
 * against metrics the broker exports, and listed in the README.
 */
const rootUrl = new URL('../../', import.meta.url)
const root = fileURLToPath(rootUrl)
const read = (file: string) => readFileSync(new URL(file, rootUrl), 'utf8')

interface Rule {
  alert?: string
  expr: string
  for?: string
  labels?: Record<string, string>
  annotations?: Record<string, string>
}
interface RuleTest {
  eval_time: string
  alertname: string
  exp_alerts?: unknown[] | null
}
const rules: Rule[] = (parse(read('ops/alerts.yml')) as { groups: Array<{ name: string; rules: Rule[] }> }).groups.flatMap((group) => group.rules)
const alerts = rules.filter((rule): rule is Rule & { alert: string } => rule.alert !== undefined)
const ruleTests = (parse(read('ops/alerts.test.yml')) as { tests: Array<{ alert_rule_test?: RuleTest[] }> }).tests.flatMap((test) => test.alert_rule_test ?? [])

/** Runs promtool from the repository's root: its status and everything it printed. */
function promtool(...args: string[]): { ok: boolean; output: string } {
  const run = spawnSync('promtool', args, { cwd: root, encoding: 'utf8', timeout: 60_000 })
  if ((run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    return { ok: false, output: "promtool is not installed: apt-get install -y prometheus (Debian's package ships promtool)" }
  }
  if (run.error !== undefined) return { ok: false, output: `promtool ${args.join(' ')}: ${run.error.message}` }
  return { ok: run.status === 0, output: `${run.stdout}${run.stderr}` }
}

t.test('promtool finds ops/alerts.yml valid', async (t) => {
  const { ok, output } = promtool('check', 'rules', 'ops/alerts.yml')
  t.ok(ok, `promtool check rules ops/alerts.yml:\n${output}`)
})

t.test('every alert fires and stays silent where ops/alerts.test.yml expects', async (t) => {
  const { ok, output } = promtool('test', 'rules', 'ops/alerts.test.yml')
  t.ok(ok, `promtool test rules ops/alerts.test.yml:\n${output}`)
})

t.test('every alert has a severity, a summary, a description, and a test case that fires it and one that does not', async (t) => {
  t.ok(alerts.length >= 10, `${alerts.length} alerts`)
  t.equal(alerts.length, rules.length, 'alerts only, no recording rules')
  for (const { alert, ...rule } of alerts) {
    t.match(rule.for, /^\d+[smh]$/, `${alert} has a for`)
    t.ok(rule.labels?.severity === 'page' || rule.labels?.severity === 'ticket', `${alert}: severity page or ticket`)
    t.ok((rule.annotations?.summary ?? '') !== '' && (rule.annotations?.description ?? '') !== '', `${alert} has a summary and a description`)
    t.match(rule.annotations?.description, /README: "/, `${alert}'s description points at the README`)
    const cases = ruleTests.filter((test) => test.alertname === alert)
    t.ok(cases.some((test) => (test.exp_alerts ?? []).length > 0), `${alert} has a case where it fires`)
    t.ok(cases.some((test) => (test.exp_alerts ?? []).length === 0), `${alert} has a case where it stays silent`)
  }
  const names = new Set(alerts.map((rule) => rule.alert))
  for (const test of ruleTests) t.ok(names.has(test.alertname), `the test case at ${test.eval_time} names an alert that exists: ${test.alertname}`)
})

t.test('the rules use only metrics and labels the broker exports', async (t) => {
  const metrics = createMetrics(new BrokerEvents(), { redisReady: () => true, redisAnswers: async () => true, webhookQueue: async () => ({ queued: 0, retrying: 0, given_up: 0 }) })
  t.teardown(() => metrics.close())
  const exported = new Map<string, string[]>()
  for (const metric of [...metrics.registry.getMetricsAsArray(), ...processMetrics().getMetricsAsArray()]) {
    exported.set(metric.name, (metric as unknown as { labelNames?: string[] }).labelNames ?? [])
  }
  // A histogram's series are <name>_bucket (with le), _count and _sum.
  const histogram = (name: string) => name.replace(/_(bucket|count|sum)$/, '')
  let selectors = 0
  for (const { alert, expr } of alerts) {
    for (const [, name = '', matchers = ''] of expr.matchAll(/\b((?:oneup_broker|process|nodejs)_\w+)(?:\{([^}]*)\})?/g)) {
      const base = exported.has(name) ? name : histogram(name)
      t.ok(exported.has(base), `${alert}: ${name} is exported`)
      // Another fleet scraped by the same Prometheus (staging) must neither hide nor raise an alert.
      t.match(matchers, /\bjob="oneup-broker"/, `${alert}: ${name} reads the oneup-broker job only`)
      for (const [, label = ''] of matchers.matchAll(/(\w+)\s*(?:=~|!~|!=|=)/g)) {
        const known = [...(exported.get(base) ?? []), ...(base === name ? [] : ['le']), 'job', 'instance']
        t.ok(known.includes(label), `${alert}: ${name} has a label ${label}`)
      }
      selectors += 1
    }
  }
  t.ok(selectors > alerts.length, `${selectors} selectors checked`)
})

t.test("the README's Alerts table lists every alert with its severity", async (t) => {
  const readme = read('README.md')
  for (const { alert, labels } of alerts) {
    t.match(readme, new RegExp(`^\\| \`${alert}\` \\| ${labels?.severity ?? '?'} \\|`, 'm'), `${alert} in the README`)
  }
})
