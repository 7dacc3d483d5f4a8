import { createHash, randomBytes } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import type { Test } from 'tap'
import type { SandboxOptions } from '../../src/sandbox/plugin.js'
import { buildSandboxServer } from '../../src/sandbox/server.js'
import { parseForms, type ParsedForm } from '../helpers/html-forms.js'

export const CLIENT_ID = 'client-a'
export const CLIENT_SECRET = 'secret-a'
export const REDIRECT_URI = 'http://localhost:3000/oauth/callback'
export const OTHER_CLIENT_ID = 'client-b'
export const OTHER_CLIENT_SECRET = 'secret-b'
export const OTHER_REDIRECT_URI = 'https://app.example/cb?tenant=t1'

/** A clock the tests move by hand. */
export interface TestClock {
  ms: number
  now: () => number
  advance: (seconds: number) => void
}

/** A running sandbox and helpers bound to it. */
export interface Sandbox {
  base: string
  clock: TestClock
  url: (path: string) => string
  close: () => Promise<void>
}

/** Starts a sandbox on a free port; it closes when the test ends. */
export async function startSandbox(t: Test, options: Partial<SandboxOptions> = {}): Promise<Sandbox> {
  const clock: TestClock = {
    ms: Date.UTC(2030, 0, 1, 12, 0, 0),
    now: () => clock.ms,
    advance: (seconds) => {
      clock.ms += seconds * 1000
    },
  }
  const app = buildSandboxServer({
    clients: [
      { id: CLIENT_ID, secrets: [CLIENT_SECRET], redirectUris: [REDIRECT_URI] },
      { id: OTHER_CLIENT_ID, secrets: [OTHER_CLIENT_SECRET], redirectUris: [OTHER_REDIRECT_URI] },
    ],
    now: clock.now,
    ...options,
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as AddressInfo
  const base = `http://127.0.0.1:${port}/sandbox`
  t.teardown(() => app.close())
  return { base, clock, url: (path) => base + path, close: () => app.close() }
}

/** A PKCE verifier and its S256 challenge. */
export function pkcePair(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

/** A fresh state of 128 random bits. */
export function newState(): string {
  return randomBytes(16).toString('base64url')
}

/** The query of a valid authorization request, with overrides (undefined removes a field). */
export function authorizeQuery(overrides: Record<string, string | undefined> = {}): string {
  const fields: Record<string, string | undefined> = {
    response_type: 'code',
    client_id: CLIENT_ID,
    redirect_uri: REDIRECT_URI,
    scope: 'offline_access',
    state: 'state-0123456789',
    ...overrides,
  }
  const params = new URLSearchParams()
  for (const [name, value] of Object.entries(fields)) if (value !== undefined) params.append(name, value)
  return params.toString()
}

export { parseForms, type ParsedForm }

/** Submits a form the way a browser does, without following the redirect. */
export async function submit(origin: string, form: ParsedForm, extra: Record<string, string> = {}): Promise<Response> {
  return fetch(new URL(form.action, origin), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ ...form.fields, ...extra }),
    redirect: 'manual',
  })
}

/** Opens the authorization URL and answers 200 with the login page, or fails the test. */
export async function openLogin(t: Test, sandbox: Sandbox, query: string): Promise<{ page: string; forms: ParsedForm[] }> {
  const res = await fetch(sandbox.url(`/oauth2/auth?${query}`), { redirect: 'manual' })
  t.equal(res.status, 200, 'the authorization request shows the login page')
  const page = await res.text()
  return { page, forms: parseForms(page) }
}

/** Walks login and consent; returns the redirect back to the client. */
export async function authorize(
  t: Test,
  sandbox: Sandbox,
  query: string,
  { username = 'alice', decision = 'allow' }: { username?: string; decision?: 'allow' | 'deny' } = {},
): Promise<URL> {
  const { forms } = await openLogin(t, sandbox, query)
  const login = forms.find((form) => form.fields.username === username) ?? forms[forms.length - 1]
  if (!login) throw new Error('no login form')
  const consentRes = await submit(sandbox.base, login, { username })
  t.equal(consentRes.status, 200, 'signing in shows the consent page')
  const consent = parseForms(await consentRes.text())[0]
  if (!consent) throw new Error('no consent form')
  const back = await submit(sandbox.base, consent, { decision })
  t.equal(back.status, 303, 'the consent answer redirects to the client')
  return new URL(back.headers.get('location') ?? '')
}

/** Runs the whole flow with S256 and answers the code and its verifier. */
export async function obtainCode(
  t: Test,
  sandbox: Sandbox,
  username = 'alice',
): Promise<{ code: string; verifier: string }> {
  const { verifier, challenge } = pkcePair()
  const back = await authorize(
    t,
    sandbox,
    authorizeQuery({ code_challenge: challenge, code_challenge_method: 'S256' }),
    { username },
  )
  return { code: back.searchParams.get('code') ?? '', verifier }
}

/** Calls the token endpoint with a form, client_secret_post unless `basic` credentials are given. */
export async function postToken(
  sandbox: Sandbox,
  fields: Record<string, string>,
  { basic, path = '/oauth2/token', signal }: { basic?: [string, string]; path?: string; signal?: AbortSignal } = {},
): Promise<Response> {
  const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' }
  if (basic) {
    const encode = (value: string) => encodeURIComponent(value)
    headers.authorization = `Basic ${Buffer.from(`${encode(basic[0])}:${encode(basic[1])}`).toString('base64')}`
  }
  return fetch(sandbox.url(path), { method: 'POST', headers, body: new URLSearchParams(fields), signal: signal ?? null })
}

/** The seed's token answer. */
export interface TokenBody {
  access_token: string
  expires_in: number
  refresh_token: string
  scope: string
  token_type: string
}

/** Exchanges a code with client_secret_post. */
export function exchange(sandbox: Sandbox, code: string, verifier: string): Promise<Response> {
  return postToken(sandbox, {
    grant_type: 'authorization_code',
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    code,
    code_verifier: verifier,
    redirect_uri: REDIRECT_URI,
  })
}

/** Runs the whole flow and the code exchange. */
export async function obtainTokens(t: Test, sandbox: Sandbox, username = 'alice'): Promise<TokenBody> {
  const { code, verifier } = await obtainCode(t, sandbox, username)
  const res = await exchange(sandbox, code, verifier)
  t.equal(res.status, 200, 'the code exchange succeeds')
  return (await res.json()) as TokenBody
}

/** Refreshes with client_secret_post. */
export function refresh(sandbox: Sandbox, refreshToken: string, signal?: AbortSignal): Promise<Response> {
  return postToken(
    sandbox,
    { grant_type: 'refresh_token', client_id: CLIENT_ID, client_secret: CLIENT_SECRET, refresh_token: refreshToken },
    signal === undefined ? {} : { signal },
  )
}

/** Calls `GET /v1/me` with a bearer token. */
export function me(sandbox: Sandbox, accessToken?: string): Promise<Response> {
  return fetch(sandbox.url('/v1/me'), {
    headers: accessToken === undefined ? {} : { authorization: `Bearer ${accessToken}` },
  })
}

/** Sends JSON to a control endpoint. */
export function control(sandbox: Sandbox, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(sandbox.url(`/_control${path}`), {
    method,
    ...(body !== undefined && { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  })
}

/** A JSON answer's body, loosely typed for assertions. */
export async function bodyOf(res: Response): Promise<Record<string, any>> {
  return (await res.json()) as Record<string, unknown>
}
