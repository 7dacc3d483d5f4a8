#!/usr/bin/env node
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { SingleBar } from 'cli-progress'
import { Command, CommanderError, Option } from 'commander'
import { parseIds } from '../connections/query.js'
import { AdminClient, CliError } from './client.js'
import { shortTime, table } from './format.js'

/**
 * `oneup-broker`: ops' command line. A client of the broker's admin API only
 * (`--url`, the key in `BROKER_ADMIN_KEY`), never a second way into Redis.
 * Tables for people, `--json` for scripts; exits non-zero with one clear line
 * on any error.
 */

interface Globals {
  url: string
  json: boolean
}

interface AppView {
  id: string
  name: string
  tenants: string[]
  rate_limit: number
  created_at: string
  keys: Array<{ key_id: string; created_at: string; last_used_at: string | null }>
}
interface ConnectionView {
  tenant_id: string
  user_id: string
  status: string
  created_at: string
  refreshed_at: string
  access_expires_at: string | null
  key_id: string | null
  app_id?: string
}
interface JobView {
  id: string
  state: string
  target_kid: string
  done: number
  total: number
  moved: number
  failed: number
}
interface EncryptionStatus {
  primary_kid: string
  kids: string[]
  records: Record<string, number>
  job: JobView | null
}
interface SecretCheck {
  secret: string
  accepted: boolean | null
  oneup_error: string | null
  detail: string
}
interface BulkResult {
  success_count: number
  error_count: number
  successes: Array<{ id: string }>
  errors: Array<{ id: string; error: { status: number; code: string; message: string; reason?: string } }>
}

const list = (text: string) =>
  text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '')

const print = (text: string): void => void process.stdout.write(`${text}\n`)

function positiveInteger(text: string): number {
  const value = Number(text)
  if (!Number.isSafeInteger(value) || value < 1) throw new CliError(`expected a positive integer, got "${text}"`)
  return value
}

/** Reads a secret from standard input (its first line), never from the command line where `ps` shows it. */
async function readSecret(): Promise<string> {
  if (process.stdin.isTTY) process.stderr.write('OneUp client secret: ')
  const lines = createInterface({ input: process.stdin })
  for await (const line of lines) {
    lines.close()
    if (line.trim() !== '') return line.trim()
    break
  }
  throw new CliError('no secret on standard input')
}

/**
 * Polls the re-encryption job until it is done. Gives up (the job itself goes
 * on in the broker) rather than wait for ever when it cannot end: another job
 * replaced it, it moves records to a key the broker does not seal with (the
 * replicas disagree on TOKEN_ENCRYPTION_KEYS' first key, and those sealing
 * with the new one will not run it), or nothing moved for `giveUpMs`.
 */
async function followJob(admin: AdminClient, job: JobView, giveUpMs: number, seen: (job: JobView) => void): Promise<JobView> {
  let current = job
  let progressAt = Date.now()
  while (current.state === 'running') {
    await sleep(500)
    const status = await admin.call<EncryptionStatus>('GET', '/v1/admin/encryption')
    if (status.job === null || status.job.id !== job.id) {
      throw new CliError(`job ${job.id} was replaced by ${status.job === null ? 'nothing' : `job ${status.job.id} (target ${status.job.target_kid})`}; see oneup-broker keys status`)
    }
    if (status.job.state === 'running' && status.job.target_kid !== status.primary_kid) {
      throw new CliError(
        `job ${job.id} moves records to key ${status.job.target_kid}, but the broker seals with ${status.primary_kid}: ` +
          "its replicas disagree on TOKEN_ENCRYPTION_KEYS' first key. Finish rolling it out, then run keys reencrypt again",
      )
    }
    if (status.job.done !== current.done || status.job.state !== 'running') progressAt = Date.now()
    current = status.job
    seen(current)
    if (current.state === 'running' && Date.now() - progressAt > giveUpMs) {
      throw new CliError(
        `job ${job.id} has not moved for ${Math.round(giveUpMs / 1000)} s (${current.done}/${current.total} records): no replica seems to run it. ` +
          "It goes on if one takes it up; see oneup-broker keys status and the broker's log",
      )
    }
  }
  return current
}

export function buildProgram(): Command {
  const program = new Command('oneup-broker')
    .description("Operate a OneUp token broker through its admin API (the admin key is read from BROKER_ADMIN_KEY).")
    .addOption(new Option('--url <url>', 'the broker base URL').env('BROKER_URL').default('http://localhost:3000'))
    .option('--json', 'print the API answers as JSON (for scripts)', false)
    .showHelpAfterError()
    // Before any subcommand is added, so they inherit it: errors come back to run().
    .exitOverride()

  const globals = (command: Command) => command.optsWithGlobals<Globals>()
  const client = (command: Command) => {
    const key = process.env.BROKER_ADMIN_KEY
    if (key === undefined || key === '') throw new CliError('set BROKER_ADMIN_KEY to the broker\'s admin key')
    return new AdminClient(globals(command).url, key)
  }
  /** Prints JSON with --json, else the human rendering. */
  const output = (command: Command, value: unknown, human: () => string) => print(globals(command).json ? JSON.stringify(value, null, 2) : human())

  const apps = program.command('apps').description('internal apps and their keys')
  apps
    .command('create')
    .description('register an app; its key is printed once')
    .requiredOption('--name <name>', "the app's name")
    .requiredOption('--tenants <ids>', 'comma-separated tenant ids, or * for all', list)
    .option('--return-origins <origins>', 'comma-separated origins users may be sent back to', list, [])
    .option('--rate-limit <n>', 'calls per 15-minute window', positiveInteger)
    .action(async (options: { name: string; tenants: string[]; returnOrigins: string[]; rateLimit?: number }, command: Command) => {
      const body = { name: options.name, tenants: options.tenants, return_origins: options.returnOrigins, ...(options.rateLimit === undefined ? {} : { rate_limit: options.rateLimit }) }
      const created = await client(command).call<{ id: string; key_id: string; key: string }>('POST', '/v1/admin/apps', body)
      output(command, created, () => `app ${created.id} created\nkey ${created.key_id}: ${created.key}\n(the key is shown only now: store it in the app's secret store)`)
    })
  apps
    .command('list')
    .description('apps with their key ids and last uses (never keys)')
    .action(async (_options: unknown, command: Command) => {
      const { items } = await client(command).call<{ items: AppView[] }>('GET', '/v1/admin/apps')
      output(command, { items }, () =>
        table(
          ['APP', 'NAME', 'TENANTS', 'KEY', 'KEY CREATED', 'LAST USED'],
          items.flatMap((a) =>
            (a.keys.length === 0 ? [undefined] : a.keys).map((k) => [a.id, a.name, a.tenants.join(','), k?.key_id, shortTime(k?.created_at), shortTime(k?.last_used_at)]),
          ),
        ),
      )
    })
  apps
    .command('add-key')
    .description("add an app's second key (to rotate the first); printed once")
    .argument('<app-id>')
    .action(async (appId: string, _options: unknown, command: Command) => {
      const added = await client(command).call<{ key_id: string; key: string }>('POST', `/v1/admin/apps/${encodeURIComponent(appId)}/keys`)
      output(command, added, () => `key ${added.key_id}: ${added.key}\n(the key is shown only now)`)
    })
  apps
    .command('revoke-key')
    .description('revoke a key: it stops working at once on every replica')
    .argument('<app-id>')
    .argument('<key-id>')
    .action(async (appId: string, keyId: string, _options: unknown, command: Command) => {
      await client(command).call('DELETE', `/v1/admin/apps/${encodeURIComponent(appId)}/keys/${encodeURIComponent(keyId)}`)
      output(command, { revoked: keyId }, () => `key ${keyId} revoked`)
    })

  const keys = program.command('keys').description('encryption keys (TOKEN_ENCRYPTION_KEYS)')
  const describeJob = (job: JobView | null) =>
    job === null ? 'no re-encryption job yet' : `job ${job.id}: ${job.state}, ${job.done}/${job.total} records looked at, ${job.moved} moved, ${job.failed} failed (target ${job.target_kid})`
  keys
    .command('status')
    .description('sealed records per key id, and the re-encryption job')
    .action(async (_options: unknown, command: Command) => {
      const status = await client(command).call<EncryptionStatus>('GET', '/v1/admin/encryption')
      output(command, status, () =>
        [
          `primary key: ${status.primary_kid} (configured: ${status.kids.join(', ')})`,
          table(['KEY', 'RECORDS'], Object.entries(status.records).map(([kid, count]) => [keyLabel(kid, status), count])),
          describeJob(status.job),
        ].join('\n'),
      )
    })
  keys
    .command('reencrypt')
    .description('move every sealed record to the primary key, with a progress bar')
    .option('--no-wait', 'start the job and return')
    .option('--give-up-after <seconds>', 'stop waiting when the job has made no progress for this long (it goes on in the broker)', positiveInteger, 120)
    .action(async (options: { wait: boolean; giveUpAfter: number }, command: Command) => {
      const admin = client(command)
      const { job } = await admin.call<{ job: JobView }>('POST', '/v1/admin/encryption/reencrypt')
      const json = globals(command).json
      if (!options.wait) return output(command, { job }, () => `${describeJob(job)}\nfollow it with: oneup-broker keys status`)
      const bar = json ? undefined : new SingleBar({ format: 're-encrypting [{bar}] {percentage}% | {value}/{total} records', noTTYOutput: true, notTTYSchedule: 1000 })
      bar?.start(Math.max(job.total, 1), job.done)
      let current: JobView
      try {
        current = await followJob(admin, job, options.giveUpAfter * 1000, (seen) => {
          bar?.setTotal(Math.max(seen.total, 1))
          bar?.update(seen.done)
        })
        bar?.update(Math.max(current.total, 1))
      } finally {
        bar?.stop()
      }
      output(command, { job: current }, () => describeJob(current))
      if (current.failed > 0) throw new CliError(`${current.failed} records did not open with the configured keys; see the broker's log`)
    })

  program
    .command('check-client')
    .description("ask OneUp whether it accepts the broker's client secrets (current and previous), or a given secret; touches no user's tokens")
    .option('--client-id <id>', 'the client id to check (default: the broker\'s)')
    .option('--secret-stdin', 'check the secret read from standard input instead of the configured ones', false)
    .action(async (options: { clientId?: string; secretStdin: boolean }, command: Command) => {
      const admin = client(command)
      const body = options.secretStdin ? { client_secret: await readSecret(), ...(options.clientId === undefined ? {} : { client_id: options.clientId }) } : null
      if (body === null && options.clientId !== undefined) throw new CliError('--client-id needs --secret-stdin')
      const checked = await admin.call<{ client_id: string; results: SecretCheck[] }>('POST', '/v1/admin/oneup/check-client', body ?? undefined)
      const usage = await admin.call<{ previous_secret: { configured: boolean; uses: number; last_used_at: string | null } }>('GET', '/v1/admin/oneup')
      output(command, { ...checked, previous_secret: usage.previous_secret }, () => {
        const verdict = (accepted: boolean | null) => (accepted === true ? 'yes' : accepted === false ? 'NO' : 'unknown')
        const previous = usage.previous_secret
        return [
          `client ${checked.client_id}`,
          table(['SECRET', 'ACCEPTED', 'ONEUP SAID', 'MEANING'], checked.results.map((r) => [r.secret, verdict(r.accepted), r.oneup_error, r.detail])),
          previous.configured
            ? `ONEUP_CLIENT_SECRET_PREVIOUS has been needed ${previous.uses} time${previous.uses === 1 ? '' : 's'}${previous.last_used_at === null ? '' : `, last at ${shortTime(previous.last_used_at)}`}`
            : 'ONEUP_CLIENT_SECRET_PREVIOUS is not set',
        ].join('\n')
      })
      const first = checked.results[0]
      if (first?.accepted !== true) throw new CliError(`OneUp does not accept the ${first?.secret ?? 'current'} secret: ${first?.detail ?? 'no answer'}`, first?.accepted === null ? 3 : 1)
    })

  const connections = program.command('connections').description("users' OneUp connections, across every tenant")
  connections
    .command('list')
    .description('list connections (filters use the syntax of OneUp\'s API, e.g. --refreshed-at "gte:2026-01-01 AND lte:2026-03-31")')
    .option('--tenant <id>', 'only this tenant')
    .option('--status <status>', 'active or reauth_required (or eq:/not: …)')
    .option('--refreshed-at <filter>', 'a filter on refreshed_at')
    .option('--created-at <filter>', 'a filter on created_at')
    .option('--sort <sort>', '-created_at (default), +created_at, -refreshed_at, +refreshed_at')
    .option('--limit <n>', 'per page (1-100)', positiveInteger)
    .option('--all', 'follow next_cursor to the end', false)
    .action(async (options: { tenant?: string; status?: string; refreshedAt?: string; createdAt?: string; sort?: string; limit?: number; all: boolean }, command: Command) => {
      const admin = client(command)
      const query = new URLSearchParams()
      if (options.tenant !== undefined) query.set('tenant_id', options.tenant)
      if (options.status !== undefined) query.set('status', options.status)
      if (options.refreshedAt !== undefined) query.set('refreshed_at', options.refreshedAt)
      if (options.createdAt !== undefined) query.set('created_at', options.createdAt)
      if (options.sort !== undefined) query.set('sort', options.sort)
      if (options.limit !== undefined) query.set('limit', String(options.limit))
      const items: ConnectionView[] = []
      let cursor: string | null = null
      do {
        if (cursor !== null) query.set('cursor', cursor)
        const page: { items: ConnectionView[]; next_cursor: string | null } = await admin.call('GET', `/v1/admin/connections?${query.toString()}`)
        items.push(...page.items)
        cursor = page.next_cursor
      } while (options.all && cursor !== null)
      output(command, { items, next_cursor: cursor }, () =>
        [
          table(
            ['TENANT', 'USER', 'STATUS', 'CREATED', 'REFRESHED', 'KEY', 'APP'],
            items.map((c) => [c.tenant_id, c.user_id, c.status, shortTime(c.created_at), shortTime(c.refreshed_at), c.key_id, c.app_id]),
          ),
          ...(cursor === null ? [] : [`more: --all, or the API with cursor=${cursor}`]),
        ].join('\n'),
      )
    })
  connections
    .command('show')
    .description("one connection's metadata")
    .argument('<tenant-id>')
    .argument('<user-id>')
    .action(async (tenantId: string, userId: string, _options: unknown, command: Command) => {
      const c = await client(command).call<ConnectionView>('GET', `/v1/admin/connections/${encodeURIComponent(tenantId)}/${encodeURIComponent(userId)}`)
      output(command, c, () =>
        table(
          ['FIELD', 'VALUE'],
          Object.entries(c).map(([field, value]) => [field, field.endsWith('_at') ? shortTime(value as string | null) : (value as string | null)]),
        ),
      )
    })
  connections
    .command('delete')
    .description('delete connections (their tokens are gone from Redis); ids are tenant_id:user_id')
    .argument('<ids...>')
    .action(async (ids: string[], _options: unknown, command: Command) => {
      // All or nothing for malformed ids: they would fail a chunk after earlier chunks were deleted.
      const malformed = ids.filter((id) => parseIds(id, 1) === undefined)
      if (malformed.length > 0) throw new CliError(`not tenant_id:user_id pairs, so nothing was deleted: ${malformed.join(' ')}`)
      const admin = client(command)
      const result: BulkResult = { success_count: 0, error_count: 0, successes: [], errors: [] }
      // The API takes 50 at a time (the seed's bulk deletion limit).
      for (let i = 0; i < ids.length; i += 50) {
        const chunk = ids.slice(i, i + 50)
        const part = await admin.call<BulkResult>('DELETE', `/v1/admin/connections?ids=${encodeURIComponent(chunk.join(','))}`)
        result.successes.push(...part.successes)
        result.errors.push(...part.errors)
      }
      result.success_count = result.successes.length
      result.error_count = result.errors.length
      output(command, result, () =>
        [...result.successes.map((s) => `deleted ${s.id}`), ...result.errors.map((e) => `NOT deleted ${e.id}: ${e.error.message}${e.error.reason === undefined ? '' : ` ${e.error.reason}`} (code ${e.error.code})`)].join('\n'),
      )
      if (result.error_count > 0) throw new CliError(`${result.error_count} of ${ids.length} connections were not deleted`)
    })

  return program
}

/** Runs the CLI; resolves with the exit code. */
export async function run(argv: string[]): Promise<number> {
  const program = buildProgram()
  try {
    await program.parseAsync(argv)
    return 0
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode
    if (error instanceof CliError) {
      process.stderr.write(`oneup-broker: ${error.message}\n`)
      return error.exitCode
    }
    process.stderr.write(`oneup-broker: ${error instanceof Error ? error.message : String(error)}\n`)
    return 1
  }
}

const code = await run(process.argv)
// fetch keeps idle sockets to the broker open for seconds: exit as soon as the output is out.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)))

/** A key id as `keys status` shows it: the primary, and the ones this broker cannot open. */
function keyLabel(kid: string, status: { primary_kid: string; kids: string[] }): string {
  if (kid === status.primary_kid) return `${kid} (primary)`
  return status.kids.includes(kid) ? kid : `${kid} (NOT configured: these records cannot be served)`
}
