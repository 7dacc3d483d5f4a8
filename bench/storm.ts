/**
 * The refresh storm, in a process of its own: for every user, `callers`
 * concurrent `POST /v1/token` (spread over the given broker URLs), all fired at
 * once; or, with `direct`, one refresh grant per refresh token straight to the
 * token endpoint (the sandbox's own latency under the same burst).
 * Prints `{ok, failed, p50, p99, consistent}` as JSON.
 *
 * A burst of a thousand calls from one process measures the client as much as
 * the server if the client is an HTTP library: `fetch` and even undici's
 * `request` spend ~0.2 ms of CPU per call, so the last call of a burst leaves
 * long after the first. Here every call has a keep-alive socket of its own,
 * opened and warmed beforehand, and a request written as prepared bytes, so
 * firing the whole burst costs a few milliseconds; answers are read just far
 * enough to get the status and the body (Content-Length, as the broker and the
 * sandbox send).
 */
import { connect, type Socket } from 'node:net'

interface StormSpec {
  urls: string[]
  bearer: string
  tenant: string
  users: string[]
  callers: number
  /** Instead: refresh these tokens directly at this token endpoint. */
  direct?: { tokenUrl: string; clientId: string; clientSecret: string; refreshTokens: string[] }
}

interface Call {
  url: URL
  /** The request, ready to write. */
  bytes: Buffer
  /** What the answer is attributed to (the user, for the consistency check). */
  label: string
}

interface Answer {
  ms: number
  status: number
  body: string
  label: string
}

const spec = JSON.parse(process.argv[2] ?? '{}') as StormSpec

function requestBytes(method: 'GET' | 'POST', url: URL, headers: Record<string, string>, body = ''): Buffer {
  const lines = [`${method} ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`]
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  lines.push(`content-length: ${Buffer.byteLength(body)}`)
  return Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`)
}

/** Reads one HTTP/1.1 answer (with a Content-Length) from a socket. */
function readAnswer(socket: Socket): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0)
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk])
      const end = buffered.indexOf('\r\n\r\n')
      if (end === -1) return
      const head = buffered.subarray(0, end).toString('latin1')
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? NaN)
      if (Number.isNaN(length)) return fail(new Error('an answer without Content-Length'))
      if (buffered.length < end + 4 + length) return
      socket.off('data', onData).off('error', fail).off('close', closed)
      resolve({ status: Number(head.slice(9, 12)), body: buffered.subarray(end + 4, end + 4 + length).toString('utf8') })
    }
    const fail = (error: Error) => {
      socket.off('data', onData).off('error', fail).off('close', closed)
      reject(error)
    }
    const closed = () => fail(new Error('closed before the answer'))
    socket.on('data', onData).on('error', fail).on('close', closed)
  })
}

/** A keep-alive socket to `url`, warmed with one request (`warm`) so the server has seen it. */
async function openSocket(url: URL, warm: Buffer): Promise<Socket> {
  const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  const answered = readAnswer(socket)
  socket.write(warm)
  await answered
  return socket
}

const calls: Call[] = []
if (spec.direct !== undefined) {
  const { tokenUrl, clientId, clientSecret, refreshTokens } = spec.direct
  const url = new URL(tokenUrl)
  for (const token of refreshTokens) {
    const body = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: token, client_id: clientId, client_secret: clientSecret }).toString()
    calls.push({ url, bytes: requestBytes('POST', url, { 'content-type': 'application/x-www-form-urlencoded' }, body), label: token })
  }
} else {
  let i = 0
  for (const user of spec.users) {
    for (let c = 0; c < spec.callers; c += 1) {
      const url = new URL('/v1/token', spec.urls[i++ % spec.urls.length])
      const body = JSON.stringify({ tenant_id: spec.tenant, user_id: user })
      calls.push({ url, bytes: requestBytes('POST', url, { authorization: `Bearer ${spec.bearer}`, 'content-type': 'application/json' }, body), label: user })
    }
  }
}

// Open and warm every socket first, a hundred at a time (a thousand handshakes at
// once overflow the accept backlog, and a SYN retry costs a second).
const sockets: Socket[] = []
for (let start = 0; start < calls.length; start += 100) {
  const batch = calls.slice(start, start + 100)
  // The sandbox has no /healthz: any answer warms the socket, a 404 too.
  sockets.push(...(await Promise.all(batch.map((call) => openSocket(call.url, requestBytes('GET', new URL('/healthz', call.url), {}))))))
}

const answers: Array<Promise<Answer>> = calls.map((call, i) => {
  const socket = sockets[i] as Socket
  const started = performance.now()
  const answered = readAnswer(socket).then(
    (answer) => ({ ...answer, ms: performance.now() - started, label: call.label }),
    () => ({ status: 0, body: '', ms: performance.now() - started, label: call.label }),
  )
  socket.write(call.bytes)
  return answered
})
const results = await Promise.all(answers)
for (const socket of sockets) socket.destroy()

const latencies = results.map((r) => r.ms).sort((a, b) => a - b)
const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
// Every caller of one user must have received the same access token.
const tokensByUser = new Map<string, Set<string>>()
for (const r of results) {
  if (r.status !== 200) continue
  const token = (JSON.parse(r.body) as { access_token?: string }).access_token ?? ''
  const set = tokensByUser.get(r.label) ?? new Set<string>()
  set.add(token)
  tokensByUser.set(r.label, set)
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
