/**
 * The load generator, in a process of its own so it never shares the broker's
 * event loop: runs autocannon against one URL and prints its result as JSON.
 * Input (JSON in argv[2]): url, duration (s), connections, bearer, and either a
 * fixed body or `users` (a count: each request asks for a random user u0…uN-1).
 */
import autocannon from 'autocannon'

interface LoadSpec {
  url: string
  method: 'GET' | 'POST'
  duration: number
  connections: number
  bearer?: string
  body?: unknown
  users?: number
  tenant?: string
}

const spec = JSON.parse(process.argv[2] ?? '{}') as LoadSpec
const headers: Record<string, string> = { 'content-type': 'application/json' }
if (spec.bearer !== undefined) headers.authorization = `Bearer ${spec.bearer}`

// Counted from here: the load itself, not this process's start-up.
const cpuBefore = process.cpuUsage()
const result = await autocannon({
  url: spec.url,
  method: spec.method,
  duration: spec.duration,
  connections: spec.connections,
  headers,
  ...(spec.body === undefined ? {} : { body: JSON.stringify(spec.body) }),
  ...(spec.users === undefined
    ? {}
    : {
        requests: [
          {
            setupRequest: (request) => ({
              ...request,
              body: JSON.stringify({ tenant_id: spec.tenant ?? 'bench', user_id: `u${Math.floor(Math.random() * (spec.users ?? 1))}` }),
            }),
          },
        ],
      }),
})
const cpu = process.cpuUsage(cpuBefore)
process.stdout.write(
  JSON.stringify({
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    errors: result.errors + result.timeouts,
    non2xx: result.non2xx,
    redirects: result['3xx'],
    total: result.requests.total,
    // The load generator's own CPU: it shares the machine with what it measures.
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
  }),
)
