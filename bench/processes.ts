import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

/** A free loopback port. */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface Running {
  child: ChildProcess
  url: string
  /** Peak resident memory seen so far (bytes), sampled every 100 ms, of the process and its cluster workers together. */
  peakRss(): number
  /** Peak resident memory of any one of those processes (bytes): for a cluster, its largest worker or primary. */
  peakProcessRss(): number
  /** CPU seconds used so far (user + system, workers included). */
  cpuSeconds(): number
  stop(): Promise<void>
}

/** Resident memory of one process (bytes), from /proc. */
function rssOf(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = /VmRSS:\s+(\d+)/.exec(status)?.[1]
    return kb === undefined ? 0 : Number(kb) * 1024
  } catch {
    return 0
  }
}

/** CPU time (user + system, seconds) a process has used, from /proc. */
function cpuSecondsOf(pid: number): number {
  try {
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
  } catch {
    return 0
  }
}

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 1/100 s. */
const CLOCK_TICKS = 100

/** A process and its children: a cluster primary's workers are the server too. */
const withWorkers = (pid: number): number[] => [pid, ...childPids(pid)]

function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

/** Starts a Node process and waits until `readyPath` answers 200 on its port. */
export async function startProcess(script: string, env: Record<string, string>, port: number, readyPath = '/healthz', nodeArgs: string[] = []): Promise<Running> {
  const child = spawn(process.execPath, [...nodeArgs, script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)))
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000)))
  const url = `http://127.0.0.1:${port}`
  let peak = 0
  let peakProcess = 0
  const sampler = setInterval(() => {
    const pid = child.pid
    if (pid === undefined) return
    const each = withWorkers(pid).map(rssOf)
    peak = Math.max(peak, each.reduce((sum, rss) => sum + rss, 0))
    peakProcess = Math.max(peakProcess, ...each)
  }, 100)
  for (const deadline = Date.now() + 20_000; ; ) {
    if (child.exitCode !== null) throw new Error(`${script} exited early:\n${output}`)
    const ok = await fetch(`${url}${readyPath}`, { method: readyPath === '/healthz' ? 'GET' : 'POST' }).then((r) => r.status < 500, () => false)
    if (ok) break
    if (Date.now() > deadline) throw new Error(`${script} not ready:\n${output}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return {
    child,
    url,
    peakRss: () => peak,
    peakProcessRss: () => peakProcess,
    cpuSeconds: () => (child.pid === undefined ? 0 : withWorkers(child.pid).reduce((sum, pid) => sum + cpuSecondsOf(pid), 0)),
    stop: async () => {
      clearInterval(sampler)
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))])
      if (child.exitCode === null) child.kill('SIGKILL')
    },
  }
}

/** Runs a bench tool process to its end and parses the JSON it prints. */
export function runTool<T>(script: string, spec: unknown): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()))
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`${script} exited ${code}`))
      else resolve(JSON.parse(out) as T)
    })
  })
}
