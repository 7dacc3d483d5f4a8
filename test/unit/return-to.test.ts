import t from 'tap'
import { normaliseOrigin } from '../../src/apps/service.js'
import { BrokerError } from '../../src/errors.js'
import { checkReturnTo, withOutcome } from '../../src/flow/return-to.js'

const origins = ['https://app.example.com', 'http://localhost:8080']

t.test('return_to on an allowed origin is kept, with its own query string', async (t) => {
  t.equal(checkReturnTo('https://app.example.com/settings?tab=oneup', origins), 'https://app.example.com/settings?tab=oneup')
  t.equal(checkReturnTo('http://localhost:8080/', origins), 'http://localhost:8080/')
  t.equal(checkReturnTo('https://APP.example.com/x#frag', origins), 'https://app.example.com/x', 'normalised, fragment dropped')
})

t.test('open redirects are refused', async (t) => {
  const attacks = [
    'https://evil.example.com/',
    '//evil.example.com/',
    '/relative/path',
    'javascript:alert(1)',
    'data:text/html,hi',
    'https://app.example.com@evil.example.com/',
    'https://user:pass@app.example.com/',
    'https://app.example.com.evil.example.com/',
    'https://evil.example.com\\@app.example.com/',
    'https:%2F%2Fevil.example.com',
    'https://app.example.com:444/',
    'http://app.example.com/',
    'https://app.example.com/\nSet-Cookie: x=y',
    `https://app.example.com/${'a'.repeat(3000)}`,
  ]
  for (const returnTo of attacks) {
    const error = t.throws(() => checkReturnTo(returnTo, origins), returnTo) as BrokerError
    t.equal(error.code, '3', `${JSON.stringify(returnTo)} → code 3`)
  }
})

t.test('the outcome parameters are added to return_to, replacing any of the same name', async (t) => {
  t.equal(
    withOutcome('https://app.example.com/cb?x=1&status=forged', { status: 'error', error: 'access_denied' }),
    'https://app.example.com/cb?x=1&status=error&error=access_denied',
  )
})

t.test("the app's own query string is kept byte for byte", async (t) => {
  const returnTo = checkReturnTo('https://app.example.com/cb?next=/dash?tab=1&q=a%20b&flag&sig=x;y&p=1+2', origins)
  t.equal(
    withOutcome(returnTo, { status: 'connected' }),
    'https://app.example.com/cb?next=/dash?tab=1&q=a%20b&flag&sig=x;y&p=1+2&status=connected',
  )
  t.equal(withOutcome('https://app.example.com/cb', { status: 'connected' }), 'https://app.example.com/cb?status=connected')
  const quoted = checkReturnTo("https://app.example.com/done?name=O'Brien&sig=a%27b`{|}#frag", origins)
  t.equal(withOutcome(quoted, { status: 'connected' }), "https://app.example.com/done?name=O'Brien&sig=a%27b`{|}&status=connected", "a ' stays a ', a %27 stays a %27")
  t.equal(
    checkReturnTo('https://app.example.com/done?q=a b&é=<1>', origins),
    'https://app.example.com/done?q=a%20b&%C3%A9=%3C1%3E',
    'what cannot go in a URL as it is, is encoded (once) by the parser',
  )
  t.equal(checkReturnTo('https://app.example.com/a/../b/./c?x=1', origins), 'https://app.example.com/b/c?x=1', 'the path as the parser reads it')
  t.equal(withOutcome('https://app.example.com/cb?error=stale&x=1', { status: 'connected' }), 'https://app.example.com/cb?x=1&status=connected', 'an error of its own is not left beside a success')
  t.equal(withOutcome('https://app.example.com/cb?', { status: 'connected' }), 'https://app.example.com/cb?status=connected')
  t.equal(
    withOutcome('https://app.example.com/cb?st%61tus=forged&error=x&constructor=1&bad=%E0&%E0=1', { status: 'error', error: 'access_denied' }),
    'https://app.example.com/cb?constructor=1&bad=%E0&%E0=1&status=error&error=access_denied',
    'encoded names of outcome parameters are dropped too; other names, even odd ones, stay',
  )
})

t.test('allowed origins must be bare origins', async (t) => {
  t.equal(normaliseOrigin('https://App.Example.com'), 'https://app.example.com')
  t.equal(normaliseOrigin('https://app.example.com/'), 'https://app.example.com')
  t.equal(normaliseOrigin('http://localhost:3000'), 'http://localhost:3000')
  // URL.origin drops a default port: the same origin, written out in full, was refused.
  t.equal(normaliseOrigin('http://example.com:80'), 'http://example.com')
  t.equal(normaliseOrigin('https://App.example.com:443/'), 'https://app.example.com')
  t.equal(normaliseOrigin('https://app.example.com:8443'), 'https://app.example.com:8443')
  for (const bad of ['https://app.example.com/path', 'ftp://x.example.com', 'https://u@x.example.com', 'not a url', 'https://x.example.com?q=1', 'javascript:alert(1)', 'https://x.example.com?', 'https://x.example.com/#', 'https://x.example.com:443/a']) {
    t.equal(normaliseOrigin(bad), undefined, bad)
  }
})
