/**
 * The refresh storm, in a process of its own: for every user, `callers`
 * concurrent `POST /v1/token` (spread over the given broker URLs), all fired at
 * once; or, with `direct`, one refresh grant per refresh token straight to the
 * token endpoint (the sandbox's own latency under the same burst).
 * Prints `{ok, failed, p50, p99, consistent}` as JSON.
 */
import { Agent, request, setGlobalDispatcher } from 'undici'

interface StormSpec {
  urls: string[]
  bearer: string
  tenant: string
  users: string[]
  callers: number
  /** Instead: refresh these tokens directly at this token endpoint. */
  direct?: { tokenUrl: string; clientId: string; clientSecret: string; refreshTokens: string[] }
}

setGlobalDispatcher(new Agent({ connections: null, pipelining: 0, keepAliveTimeout: 10_000 }))
const spec = JSON.parse(process.argv[2] ?? '{}') as StormSpec

interface Answer {
  ms: number
  status: number
  body: string
}

/**
 * undici's `request`, not `fetch`: fetch costs the client several times more CPU per call,
 * and with a thousand calls fired at once that cost shows up as the broker's latency.
 */
async function timed(url: string, init: { method: 'POST'; headers: Record<string, string>; body: string }): Promise<Answer> {
  const started = performance.now()
  try {
    const response = await request(url, init)
    const body = await response.body.text()
    return { ms: performance.now() - started, status: response.statusCode, body }
  } catch {
    return { ms: performance.now() - started, status: 0, body: '' }
  }
}

// Apps call the broker over pooled keep-alive connections: open them first, so the
// storm measures the broker, not a thousand TCP handshakes overflowing the accept backlog.
if (spec.direct === undefined && spec.urls.length > 0) {
  const warm = spec.users.length * spec.callers
  await Promise.all(Array.from({ length: warm }, (_, i) => request(`${spec.urls[i % spec.urls.length]}/healthz`).then((r) => r.body.text()).catch(() => '')))
}

const calls: Array<Promise<{ ms: number; status: number; body: string; user: string }>> = []
if (spec.direct !== undefined) {
  const { tokenUrl, clientId, clientSecret, refreshTokens } = spec.direct
  for (const token of refreshTokens) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId, client_secret: clientSecret }).toString()
    calls.push(timed(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }).then((r) => ({ ...r, user: token })))
  }
} else {
  let i = 0
  for (const user of spec.users) {
    for (let c = 0; c < spec.callers; c += 1) {
      const url = spec.urls[i++ % spec.urls.length]
      const body = JSON.stringify({ tenant_id: spec.tenant, user_id: user })
      const headers = { authorization: `Bearer ${spec.bearer}`, 'content-type': 'application/json' }
      calls.push(timed(`${url}/v1/token`, { method: 'POST', headers, body }).then((r) => ({ ...r, user })))
    }
  }
}
const results = await Promise.all(calls)
const latencies = results.map((r) => r.ms).sort((a, b) => a - b)
const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
// Every caller of one user must have received the same access token.
const tokensByUser = new Map<string, Set<string>>()
for (const r of results) {
  if (r.status !== 200) continue
  const token = (JSON.parse(r.body) as { access_token?: string }).access_token ?? ''
  const set = tokensByUser.get(r.user) ?? new Set<string>()
  set.add(token)
  tokensByUser.set(r.user, set)
}
process.stdout.write(
  JSON.stringify({
    ok: results.filter((r) => r.status === 200).length,
    failed: results.filter((r) => r.status !== 200).length,
    p50: pick(0.5),
    p99: pick(0.99),
    consistent: [...tokensByUser.values()].every((set) => set.size === 1),
  }),
)
