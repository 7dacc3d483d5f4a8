import { parseForms } from './html-forms.js'

export interface ConnectOptions {
  /** Where the app wants the user back (connect session's `return_to`). */
  returnTo?: string
  /** Press Deny instead of Allow. */
  deny?: boolean
  /** The sandbox user to sign in as (default alice). */
  username?: string
}

/** Logs in and consents (or denies) on the sandbox's pages; returns where OneUp sends the browser. */
export async function throughOneUp(authorizeUrl: string, options: ConnectOptions = {}): Promise<URL> {
  const loginPage = await fetch(authorizeUrl, { redirect: 'manual' })
  if (loginPage.status !== 200) throw new Error(`authorize: ${loginPage.status} ${await loginPage.text()}`)
  const login = parseForms(await loginPage.text()).at(-1)
  if (login === undefined) throw new Error('no login form')
  const consentPage = await postForm(new URL(login.action, authorizeUrl), { ...login.fields, username: options.username ?? 'alice' })
  const consent = parseForms(await consentPage.text())[0]
  if (consent === undefined) throw new Error('no consent form')
  const decided = await postForm(new URL(consent.action, authorizeUrl), { ...consent.fields, decision: options.deny === true ? 'deny' : 'allow' })
  const location = decided.headers.get('location')
  if ((decided.status !== 302 && decided.status !== 303) || location === null) throw new Error(`consent: ${decided.status}`)
  return new URL(location)
}

function postForm(url: URL, fields: Record<string, string>): Promise<Response> {
  return fetch(url, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() })
}

/**
 * A whole connect flow against running brokers over real HTTP: a connect
 * session from `brokerUrl`, the browser's redirect (keeping the flow cookie),
 * OneUp's pages, and the callback on `callbackUrl` (another replica may get it).
 */
export async function connectOverHttp(params: {
  brokerUrl: string
  callbackUrl?: string
  appKey: string
  tenantId: string
  userId: string
  options?: ConnectOptions
}): Promise<Response> {
  const session = await fetch(`${params.brokerUrl}/v1/connect-sessions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${params.appKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ tenant_id: params.tenantId, user_id: params.userId }),
  })
  if (session.status !== 201) throw new Error(`connect-sessions: ${session.status} ${await session.text()}`)
  const { url } = (await session.json()) as { url: string }
  const start = await fetch(`${params.brokerUrl}${new URL(url).pathname}`, { redirect: 'manual' })
  const cookie = (start.headers.get('set-cookie') ?? '').split(';')[0] ?? ''
  const callback = await throughOneUp(start.headers.get('location') ?? '', params.options)
  return fetch(`${params.callbackUrl ?? params.brokerUrl}${callback.pathname}${callback.search}`, { headers: { cookie }, redirect: 'manual' })
}
