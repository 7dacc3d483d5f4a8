import { escapeHtml } from '../http/pages.js'
import { DEMO } from './demo-app.js'

/** What the demo knows of its user's connection: metadata only, never a token. */
export interface DemoConnection {
  status: 'active' | 'reauth_required'
  scope: string
  createdAt: number
  refreshedAt: number
  accessExpiresAt: number
}

/** One call the demo made, as a developer would want to see it. */
export interface DemoCall {
  request: string
  status: number
  /** Plain words about the answer. */
  summary: string
  /** The answer's body, when it is worth showing (never one holding a token). */
  body?: unknown
}

export interface DemoView {
  connection: DemoConnection | undefined
  flash?: { tone: 'ok' | 'error'; text: string }
  calls?: DemoCall[]
  /** Where the broker's API reference is. */
  docsUrl: string
}

const when = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')

/** The demo page. No script: three forms post to the demo's own routes. Every value is escaped. */
export function renderDemoPage(view: DemoView): string {
  const { connection } = view
  const status =
    connection === undefined
      ? '<p class="state none">Not connected</p>'
      : connection.status === 'active'
        ? '<p class="state active">Connected</p>'
        : '<p class="state reauth">OneUp needs you to connect again</p>'
  const details =
    connection === undefined
      ? '<p class="muted">Connect your OneUp account so this app can read your OneUp data.</p>'
      : `<dl class="facts">
          <dt>Scope</dt><dd><code>${escapeHtml(connection.scope)}</code></dd>
          <dt>Connected on</dt><dd>${escapeHtml(when(connection.createdAt))}</dd>
          <dt>Last refresh</dt><dd>${escapeHtml(when(connection.refreshedAt))}</dd>
          ${connection.status === 'active' ? `<dt>Access token until</dt><dd>${escapeHtml(when(connection.accessExpiresAt))}</dd>` : ''}
        </dl>`
  const flash = view.flash === undefined ? '' : `<p class="flash ${view.flash.tone}" role="status">${escapeHtml(view.flash.text)}</p>`
  const connectLabel = connection === undefined ? 'Connect OneUp' : 'Connect OneUp again'
  const calls = view.calls === undefined || view.calls.length === 0 ? '' : renderCalls(view.calls)

  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>Demo SaaS app · OneUp token broker</title>
    <link rel="stylesheet" href="/assets/broker.css">
    <link rel="stylesheet" href="/assets/demo.css">
  </head>
  <body class="demo">
    <p class="banner">Sandbox mode: a pretend SaaS app that uses the broker, with OneUp simulated.</p>
    <main>
      <section class="card">
        <h1>Demo SaaS app</h1>
        <p class="muted">Signed in as <strong>${escapeHtml(DEMO.userId)}</strong> of tenant <strong>${escapeHtml(DEMO.tenantId)}</strong>.</p>
        ${flash}
        <h2>OneUp</h2>
        ${status}
        ${details}
        <div class="actions">
          <form method="post" action="/demo/connect"><button class="primary" type="submit">${connectLabel}</button></form>
          <form method="post" action="/demo/token"><button type="submit">Fetch a token and call /v1/me</button></form>
          ${connection === undefined ? '' : '<form method="post" action="/demo/disconnect"><button class="danger" type="submit">Disconnect</button></form>'}
        </div>
      </section>
      ${calls}
      <section class="card">
        <h2>What happens</h2>
        <ol>
          <li><strong>Connect OneUp</strong>: this app asks the broker for a connect link (<code>POST /v1/connect-sessions</code>) and sends your browser to it. You sign in to OneUp and allow access; the broker keeps the tokens, sealed, and sends you back here.</li>
          <li><strong>Fetch a token</strong>: this app's backend asks the broker for an access token (<code>POST /v1/token</code>) and calls OneUp with it. It never sees the refresh token; the broker refreshes when needed.</li>
          <li><strong>Disconnect</strong>: the broker deletes the tokens.</li>
        </ol>
        <p>The app key stays on the server. Every call is in the <a href="${escapeHtml(view.docsUrl)}">API reference</a>.</p>
      </section>
    </main>
  </body>
</html>
`
}

function renderCalls(calls: DemoCall[]): string {
  const items = calls.map(
    (call) => `<li>
          <p><code>${escapeHtml(call.request)}</code> <span class="code s${String(call.status).charAt(0)}">${call.status}</span></p>
          <p>${escapeHtml(call.summary)}</p>
          ${call.body === undefined ? '' : `<pre>${escapeHtml(JSON.stringify(call.body, null, 2))}</pre>`}
        </li>`,
  )
  return `<section class="card" aria-live="polite">
        <h2>What the app just did</h2>
        <ol class="calls">
        ${items.join('\n        ')}
        </ol>
      </section>`
}

/** The demo's own styles at `/assets/demo.css`, on top of the broker's. */
export const DEMO_STYLESHEET = `body.demo{display:block;padding:0}
.demo .banner{margin:0;padding:.6rem 1rem;text-align:center;font-weight:600;color:#3d2e00;background:#ffd23f;border-bottom:2px dashed #3d2e00}
.demo main{max-width:40rem;margin:1.5rem auto;padding:0 1rem}
.demo .card{margin-bottom:1.25rem;border-top-color:#2f6fde}
.demo h2{font-size:1.1rem;margin:1.25rem 0 .5rem}
.demo .card h2:first-child{margin-top:0}
.demo .muted{color:#5a6275}
.demo .state{display:inline-block;font-weight:600;padding:.2rem .7rem;border-radius:999px}
.demo .state.active{background:#d8f0e2;color:#145c33}
.demo .state.none{background:#e8ebf1;color:#3a4150}
.demo .state.reauth{background:#fdecd2;color:#7a4300}
.demo .facts{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem;margin:.75rem 0}
.demo .facts dt{color:#5a6275}
.demo .facts dd{margin:0}
.demo .flash{padding:.6rem .8rem;border-radius:8px}
.demo .flash.ok{background:#d8f0e2;color:#145c33}
.demo .flash.error{background:#fde8e8;color:#8a1c1c}
.demo .actions{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:1rem}
.demo .actions form{margin:0}
.demo button{min-height:44px;padding:.55rem 1rem;font:inherit;font-weight:600;color:#1d2330;background:#e8ebf1;border:1px solid #b8bfcc;border-radius:8px;cursor:pointer}
.demo button.primary{color:#fff;background:#2f6fde;border-color:#2f6fde}
.demo button.danger{color:#8a1c1c;background:#fff;border-color:#c8372d}
.demo button:focus-visible{outline:3px solid #9dbcf5;outline-offset:2px}
.demo pre{background:#1d2330;color:#e8ebf1;padding:.75rem;border-radius:8px;overflow-x:auto;font-size:.85rem}
.demo code{font-size:.9em;word-break:break-all}
.demo .calls{padding-left:1.25rem}
.demo .calls p{margin:.25rem 0}
.demo .code{font:600 .8rem ui-monospace,monospace;padding:0 .35rem;border-radius:4px;background:#e8ebf1}
.demo .code.s2{background:#d8f0e2}.demo .code.s4{background:#fdecd2}.demo .code.s5{background:#fde8e8}
`
