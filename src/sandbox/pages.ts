import { html, type SafeHtml } from './html.js'
import type { SandboxUser } from './users.js'

/** Where the pages live: the host's prefix for the sandbox, e.g. `/sandbox`. */
export interface PageContext {
  prefix: string
}

/** The headers every sandbox page is sent with. `redirectUri` is where its form may lead. */
export function pageHeaders(redirectUri?: string): Record<string, string> {
  const formAction = redirectUri === undefined ? "'self'" : `'self' ${sourceOf(redirectUri)}`
  return {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': `default-src 'none'; style-src 'self'; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`,
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
    // The pages carry single-use challenges: nothing to cache.
    'cache-control': 'no-store',
  }
}

// CSP form-action governs where the consent form's redirect may land, i.e. the client's origin;
// an app redirect such as com.example.app:/cb has no origin, so its scheme is the source.
function sourceOf(redirectUri: string): string {
  const url = new URL(redirectUri)
  return url.origin === 'null' ? url.protocol : url.origin
}

/** The login page: pick a sandbox user or type a username. */
export function loginPage(
  ctx: PageContext,
  view: { clientId: string; challenge: string; users: readonly SandboxUser[]; message?: string },
): string {
  const action = `${ctx.prefix}/oauth2/auth/login`
  const users = view.users.map(
    (user) => html`<li>
        <form method="post" action="${action}">
          <input type="hidden" name="challenge" value="${view.challenge}">
          <input type="hidden" name="username" value="${user.username}">
          <button class="user" type="submit">${user.name}<small>${user.username} · ${user.email}</small></button>
        </form>
      </li>`,
  )
  return document(
    ctx,
    'Sign in',
    html`<h1>Sign in to OneUp</h1>
      <p><strong>${view.clientId}</strong> wants to connect to your OneUp account.</p>
      ${view.message !== undefined && html`<p class="message" role="alert">${view.message}</p>`}
      <h2>Sign in as a sandbox user</h2>
      <ul class="users">${users}</ul>
      <h2>Or as anyone else</h2>
      <form method="post" action="${action}">
        <input type="hidden" name="challenge" value="${view.challenge}">
        <label for="username">Username</label>
        <input id="username" type="text" name="username" required maxlength="64"
          pattern="[a-z0-9._\\-]{1,64}" autocomplete="off" autocapitalize="none" spellcheck="false">
        <p class="muted">Lower-case letters, digits, dot, dash and underscore.</p>
        <div class="row"><button class="primary" type="submit">Sign in</button></div>
      </form>`,
  )
}

/** The consent page: Allow or Deny the client the scope. */
export function consentPage(
  ctx: PageContext,
  view: { clientId: string; scope: string; challenge: string; user: SandboxUser },
): string {
  return document(
    ctx,
    'Allow access?',
    html`<h1>Allow access?</h1>
      <p>Signed in as <strong>${view.user.name}</strong> <span class="muted">(${view.user.email})</span>.</p>
      <p><strong>${view.clientId}</strong> asks for:</p>
      <ul class="scopes">
        <li><code>${view.scope}</code>: read access to your OneUp data, kept while you are away.</li>
      </ul>
      <form method="post" action="${ctx.prefix}/oauth2/auth/consent">
        <input type="hidden" name="challenge" value="${view.challenge}">
        <div class="row">
          <button type="submit" name="decision" value="deny">Deny</button>
          <button class="primary" type="submit" name="decision" value="allow">Allow</button>
        </div>
      </form>`,
  )
}

/** A page for errors that cannot go back to the client, e.g. an untrusted redirect_uri. */
export function errorPage(ctx: PageContext, view: { title: string; message: string }): string {
  return document(
    ctx,
    view.title,
    html`<h1>${view.title}</h1>
      <p>${view.message}</p>
      <p class="muted">You were not sent back to the application, because the request could not be trusted.</p>`,
  )
}

function document(ctx: PageContext, title: string, body: SafeHtml): string {
  return html`<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <meta name="robots" content="noindex">
  <title>${title} · OneUp sandbox</title>
  <link rel="stylesheet" href="${ctx.prefix}/assets/sandbox.css">
</head>
<body>
  <p class="banner">OneUp sandbox: a simulator for development, not the real OneUp</p>
  <main><div class="card">${body}</div></main>
</body>
</html>
`.value
}
