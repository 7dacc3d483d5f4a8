import t from 'tap'
import { readSandboxEnv } from '../../src/sandbox/env.js'

t.test('the standalone sandbox defaults to one client on 127.0.0.1:4010', async (t) => {
  t.same(readSandboxEnv({}), {
    port: 4010,
    host: '127.0.0.1',
    options: {
      clients: [
        { id: 'sandbox-client', secrets: ['sandbox-secret'], redirectUris: ['http://localhost:3000/oauth/callback'] },
      ],
    },
  })
})

t.test('the environment sets the client, several secrets and redirect URIs, and the timings', async (t) => {
  const config = readSandboxEnv({
    SANDBOX_PORT: '0',
    SANDBOX_HOST: '0.0.0.0',
    SANDBOX_CLIENT_ID: 'broker',
    SANDBOX_CLIENT_SECRET: 'new, old',
    SANDBOX_REDIRECT_URIS: 'http://a.example/cb,https://b.example/cb',
    SANDBOX_ACCESS_TOKEN_TTL: '120',
    SANDBOX_REFRESH_GRACE_SECONDS: '0',
    SANDBOX_TOKEN_LATENCY_MS: '250',
  })
  t.same(config, {
    port: 0,
    host: '0.0.0.0',
    options: {
      clients: [{ id: 'broker', secrets: ['new', 'old'], redirectUris: ['http://a.example/cb', 'https://b.example/cb'] }],
      accessTokenTtl: 120,
      refreshGraceSeconds: 0,
      tokenLatencyMs: 250,
    },
  })
})

t.test('malformed variables are all reported at once', async (t) => {
  t.throws(
    () =>
      readSandboxEnv({
        SANDBOX_PORT: '70000',
        SANDBOX_ACCESS_TOKEN_TTL: '0',
        SANDBOX_TOKEN_LATENCY_MS: 'soon',
        SANDBOX_CLIENT_SECRET: ' , ',
        SANDBOX_REDIRECT_URIS: 'not a url',
      }),
    {
      name: 'TypeError',
      message: /SANDBOX_PORT.*SANDBOX_ACCESS_TOKEN_TTL.*SANDBOX_TOKEN_LATENCY_MS.*SANDBOX_CLIENT_SECRET.*SANDBOX_REDIRECT_URIS/,
    },
  )
})
