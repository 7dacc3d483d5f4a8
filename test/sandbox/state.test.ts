import t from 'tap'
import { escapeHtml, html, SafeHtml } from '../../src/sandbox/html.js'
import { resolveSandboxOptions } from '../../src/sandbox/options.js'
import { PendingAuthorizations } from '../../src/sandbox/pending.js'
import { SandboxState } from '../../src/sandbox/state.js'
import { userFor } from '../../src/sandbox/users.js'

function stateWithClock(): { state: SandboxState; advance: (seconds: number) => void } {
  let ms = Date.UTC(2030, 0, 1)
  const state = new SandboxState(
    resolveSandboxOptions({
      clients: [{ id: 'c', secrets: ['s'], redirectUris: ['http://localhost/cb'] }],
      accessTokenTtl: 60,
      now: () => ms,
    }),
  )
  return { state, advance: (seconds) => (ms += seconds * 1000) }
}

const REQUEST = { clientId: 'c', redirectUri: 'http://localhost/cb', state: 'abcdefgh', scope: 'offline_access', pkce: undefined }

t.test('the sweep forgets expired codes, pending logins, tokens, chains and rate windows', async (t) => {
  const { state, advance } = stateWithClock()
  state.pending.openLogin(REQUEST, 600_000)
  const code = state.grants.issueCode({ ...REQUEST, username: 'alice' }, 600_000)
  const issued = state.grants.findCode(code)
  if (!issued) throw new Error('no code')
  const grant = state.grants.openGrant(issued)
  state.grants.issueTokens(grant, 60_000)
  state.rateLimits.hit('user:alice', 10)
  t.same(state.grants.sizes, { codes: 1, grants: 1, accessTokens: 1, refreshTokens: 1 })

  advance(601)
  state.sweep()
  t.equal(state.pending.size, 0)
  t.same(state.grants.sizes, { codes: 0, grants: 1, accessTokens: 0, refreshTokens: 1 }, 'the refresh token lives on')

  advance(15 * 60)
  state.sweep()
  t.equal(state.rateLimits.size, 0)

  advance(720 * 60 * 60)
  state.sweep()
  t.same(state.grants.sizes, { codes: 0, grants: 0, accessTokens: 0, refreshTokens: 0 }, 'refresh tokens expire after 720h')
})

t.test('the sweep keeps what is still alive', async (t) => {
  const { state } = stateWithClock()
  state.pending.openLogin(REQUEST, 600_000)
  state.grants.issueCode({ ...REQUEST, username: 'alice' }, 600_000)
  state.rateLimits.hit('k', 1)
  state.sweep()
  t.equal(state.pending.size, 1)
  t.equal(state.grants.sizes.codes, 1)
  t.equal(state.rateLimits.size, 1)
})

t.test('pending authorizations are bounded: past the cap the oldest is forgotten', async (t) => {
  const pending = new PendingAuthorizations(() => 0, 3)
  const challenges = ['a', 'b', 'c', 'd'].map((state) => pending.openLogin({ ...REQUEST, state: `state-${state}-0123` }, 600_000))
  t.equal(pending.size, 3)
  t.equal(pending.peekLogin(challenges[0] ?? ''), undefined, 'the oldest is gone')
  t.same(challenges.slice(1).map((c) => pending.peekLogin(c)?.state), ['state-b-0123', 'state-c-0123', 'state-d-0123'])
  const consent = pending.signIn(challenges[1] ?? '', 'alice')
  t.equal(pending.size, 3, 'signing in replaces the login challenge by a consent one')
  t.match(pending.takeConsent(consent ?? ''), { username: 'alice' })
})

t.test('replacing secrets of an unknown client answers false', async (t) => {
  const { state } = stateWithClock()
  t.equal(state.replaceClientSecrets('nobody', ['x']), false)
  t.equal(state.replaceClientSecrets('c', ['x']), true)
  t.same(state.client('c')?.secrets, ['x'])
})

t.test('html escapes every interpolated value except SafeHtml', async (t) => {
  t.equal(escapeHtml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;')
  const inner = html`<b>${'<i>'}</b>`
  t.equal(html`<p>${inner}${[html`<br>`, '<br>']}${undefined}${null}${false}${0}</p>`.value, '<p><b>&lt;i&gt;</b><br>&lt;br&gt;0</p>')
  t.equal(String(new SafeHtml('<hr>')), '<hr>')
})

t.test('typed users get a stable profile derived from their name', async (t) => {
  t.same(userFor('zed'), userFor('zed'))
  t.not(userFor('zed').id, userFor('zoe').id)
  t.equal(userFor('alice').name, 'Alice Martin')
})
