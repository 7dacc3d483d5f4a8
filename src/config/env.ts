import { Type, type Static } from 'typebox'

const url = (description: string) => Type.String({ pattern: '^https?://[^\\s]+$', description })

/**
 * The environment the broker reads, as a schema: every variable, its default
 * and its bounds. `.env.example` and the README's table list the same names.
 * Values arrive as strings and are converted before validation.
 */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.Optional(Type.String()),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PUBLIC_URL: Type.String({ pattern: '^https?://[^\\s?#]+$', default: 'http://localhost:3000' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://[^\\s]*$', default: 'redis://127.0.0.1:6379' }),
  REDIS_CLUSTER_NODES: Type.Optional(Type.String({ pattern: '^[^\\s,]+:\\d{1,5}(,[^\\s,]+:\\d{1,5})*$' })),
  REDIS_KEY_PREFIX: Type.String({ pattern: '^[A-Za-z0-9:_.-]{0,32}$', default: 'ob:' }),
  ONEUP_CLIENT_ID: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  ONEUP_CLIENT_SECRET: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  ONEUP_CLIENT_SECRET_PREVIOUS: Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
  ONEUP_AUTHORIZATION_URL: Type.Optional(url('OneUp authorize endpoint')),
  ONEUP_TOKEN_URL: Type.Optional(url('OneUp token endpoint')),
  ONEUP_API_URL: Type.Optional(url('OneUp API base')),
  ONEUP_REDIRECT_URI: Type.Optional(url('the callback URL OneUp has on file')),
  ONEUP_SANDBOX: Type.Optional(Type.Boolean()),
  ONEUP_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  TOKEN_ENCRYPTION_KEYS: Type.Optional(Type.String({ minLength: 1 })),
  COOKIE_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  BROKER_ADMIN_KEY: Type.Optional(Type.String({ minLength: 43 })),
  DEV_SECRETS_FILE: Type.String({ minLength: 1, default: '.broker-dev.json' }),
  TRUSTED_PROXIES: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
  IP_RATE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 300 }),
  AUTH_FAILURE_LIMIT: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 30 }),
  KEEPALIVE_AFTER_HOURS: Type.Integer({ minimum: 0, maximum: 8760, default: 168 }),
  KEEPALIVE_INTERVAL_SECONDS: Type.Integer({ minimum: 1, maximum: 86_400, default: 300 }),
  KEEPALIVE_BATCH: Type.Integer({ minimum: 1, maximum: 500, default: 20 }),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 5000 }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 50, default: 15 }),
  AUDIT_MAX_ENTRIES: Type.Integer({ minimum: 100, maximum: 10_000_000, default: 100_000 }),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
})

export type Env = Static<typeof EnvSchema>
