import t from 'tap'
import { BrokerEvents } from '../../src/events.js'
import { startHarness } from '../helpers/harness.js'

t.test('the domain reports flows, hand-outs, refreshes and lifecycle changes as events, with no secret in them', async (t) => {
  const events = new BrokerEvents()
  const seen: Array<[string, unknown]> = []
  for (const name of ['connection.created', 'connection.reauth_required', 'refresh', 'flow', 'handout'] as const) {
    events.on(name, (payload: unknown) => void seen.push([name, payload]))
  }
  const clock = { ms: Date.now() }
  const h = await startHarness(t, { app: { events, now: () => clock.ms } })
  const { key, id, key_id: keyId } = await h.createApp()
  await h.connect(key, 'acme', 'alice')
  const token = (body = {}) => h.asApp(key, 'POST', '/v1/token', { tenant_id: 'acme', user_id: 'alice', ...body })
  await token()
  clock.ms += 3600 * 1000
  await token()
  await token({ user_id: 'nobody' })
  await h.sandbox.control('/revoke', 'POST', { username: 'alice' })
  clock.ms += 3600 * 1000
  await token()

  const names = seen.map(([name, payload]) => `${name}:${(payload as { stage?: string; outcome?: string }).stage ?? (payload as { outcome?: string }).outcome ?? ''}`)
  t.same(names, [
    'flow:started',
    'connection.created:',
    'flow:connected',
    'handout:served',
    'refresh:refreshed',
    'handout:refreshed',
    'handout:not_found',
    'refresh:reauth_required',
    'connection.reauth_required:',
    'handout:reauth_required',
  ])
  t.same(seen[1]?.[1], { tenantId: 'acme', userId: 'alice', appId: id, keyId })
  const text = JSON.stringify(seen)
  t.notMatch(text, /ory_(at|rt|ac)_/, 'no token or code in any event')
})
