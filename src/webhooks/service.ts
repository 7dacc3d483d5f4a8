import { randomBytes } from 'node:crypto'
import { SealError, sealedKid, type Sealer } from '../crypto/sealer.js'
import { fail } from '../errors.js'
import type { AppStore } from '../store/apps.js'
import type { StoredWebhook, WebhookStore } from '../store/webhooks.js'
import type { SealedHolder } from '../encryption/reencrypt.js'
import { newSigningSecret } from './signing.js'

/** The lifecycle events an endpoint may subscribe to. */
export const WEBHOOK_EVENTS = ['connection.created', 'connection.reauth_required', 'connection.deleted'] as const
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number]

/** Signing secrets per endpoint: two, so one can be rotated without a gap. */
export const MAX_SECRETS = 2
/** Endpoints per app. */
export const MAX_WEBHOOKS_PER_APP = 5

/** What ops see of an endpoint: never a secret, only secret ids. */
export interface WebhookView {
  id: string
  app_id: string
  url: string
  events: string[]
  created_at: string
  secrets: Array<{ secret_id: string; created_at: string }>
}

const newId = (kind: string) => `${kind}_${randomBytes(6).toString('hex')}`
const binding = (webhookId: string, secretId: string) => `webhook:${webhookId}:${secretId}`
const iso = (ms: number) => new Date(ms).toISOString()

function view(w: StoredWebhook): WebhookView {
  return {
    id: w.id,
    app_id: w.appId,
    url: w.url,
    events: w.events,
    created_at: iso(w.createdAt),
    secrets: w.secrets.map((s) => ({ secret_id: s.secretId, created_at: iso(s.createdAt) })),
  }
}

/** Checks a webhook URL: absolute http(s), no credentials in it. */
function checkUrl(text: string): string {
  let url: URL | undefined
  try {
    url = new URL(text)
  } catch {
    url = undefined
  }
  if (url === undefined || (url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') {
    throw fail('InvalidField', { reason: 'body/url must be an absolute http(s) URL without credentials' })
  }
  return url.toString()
}

/**
 * Apps' webhook endpoints, registered by ops on an app's behalf, each with up
 * to two signing secrets sealed with the encryption keys (so they are part of
 * encryption key rotation).
 */
export class WebhookService implements SealedHolder {
  constructor(
    private readonly deps: { store: WebhookStore; apps: AppStore; sealer: Sealer; now?: () => number },
  ) {}

  private now(): number {
    return (this.deps.now ?? Date.now)()
  }

  async create(appId: string, input: { url: string; events?: string[] | undefined }): Promise<WebhookView & { secret_id: string; secret: string }> {
    const app = await this.deps.apps.get(appId)
    if (app === undefined) throw fail('NotFound', { reason: 'No such app.' })
    const url = checkUrl(input.url)
    const events = [...new Set(input.events ?? WEBHOOK_EVENTS)]
    const id = newId('wh')
    const { secretId, secret, sealed } = await this.newSecret(id)
    const now = this.now()
    if (!(await this.deps.store.create({ id, appId, url, events, tenants: app.tenants, createdAt: now }, { secretId, sealed, createdAt: now }, MAX_WEBHOOKS_PER_APP))) {
      throw fail('BusinessRule', { reason: `An app has at most ${MAX_WEBHOOKS_PER_APP} webhook endpoints.` })
    }
    return { ...view({ id, appId, url, events, tenants: app.tenants, createdAt: now, secrets: [{ secretId, sealed, createdAt: now }] }), secret_id: secretId, secret }
  }

  async list(appId: string): Promise<WebhookView[]> {
    if ((await this.deps.apps.get(appId)) === undefined) throw fail('NotFound', { reason: 'No such app.' })
    return (await this.deps.store.list()).filter((w) => w.appId === appId).map(view)
  }

  async delete(appId: string, webhookId: string): Promise<void> {
    await this.owned(appId, webhookId)
    await this.deps.store.delete(webhookId)
  }

  /** A second signing secret; deliveries are signed with both until one is revoked. */
  async addSecret(appId: string, webhookId: string): Promise<{ secret_id: string; secret: string }> {
    await this.owned(appId, webhookId)
    const { secretId, secret, sealed } = await this.newSecret(webhookId)
    const result = await this.deps.store.addSecret(webhookId, { secretId, sealed, createdAt: this.now() }, MAX_SECRETS)
    if (result === 'none') throw fail('NotFound', { reason: 'No such webhook.' })
    if (result === 'full') throw fail('BusinessRule', { reason: `A webhook has at most ${MAX_SECRETS} signing secrets: revoke one first.` })
    return { secret_id: secretId, secret }
  }

  async revokeSecret(appId: string, webhookId: string, secretId: string): Promise<void> {
    await this.owned(appId, webhookId)
    const result = await this.deps.store.revokeSecret(webhookId, secretId)
    if (result === 'none') throw fail('NotFound', { reason: 'No such signing secret on this webhook.' })
    if (result === 'last') throw fail('BusinessRule', { reason: 'A webhook keeps at least one signing secret: add the new one first.' })
  }

  /** The endpoint's signing secrets in clear, oldest first, for signing a delivery. */
  async secretsOf(webhook: StoredWebhook): Promise<string[]> {
    return Promise.all(webhook.secrets.map((s) => this.deps.sealer.open<string>(s.sealed, binding(webhook.id, s.secretId))))
  }

  async kidCounts(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {}
    for (const webhook of await this.deps.store.list()) {
      for (const { sealed } of webhook.secrets) {
        const kid = sealedKid(sealed) ?? 'unknown'
        counts[kid] = (counts[kid] ?? 0) + 1
      }
    }
    return counts
  }

  async reseal(kid: string): Promise<{ moved: number; failed: number }> {
    let moved = 0
    let failed = 0
    for (const webhook of await this.deps.store.list()) {
      for (const secret of webhook.secrets) {
        if (sealedKid(secret.sealed) === kid) continue
        try {
          const where = binding(webhook.id, secret.secretId)
          const next = await this.deps.sealer.seal(await this.deps.sealer.open<string>(secret.sealed, where), where)
          // Revoked or replaced meanwhile: what is there now wins.
          if (await this.deps.store.swapSecret(webhook.id, secret, next)) moved += 1
        } catch (error) {
          if (!(error instanceof SealError)) throw error
          failed += 1
        }
      }
    }
    return { moved, failed }
  }

  private async owned(appId: string, webhookId: string): Promise<StoredWebhook> {
    const webhook = await this.deps.store.get(webhookId)
    if (webhook?.appId !== appId) throw fail('NotFound', { reason: 'No such webhook on this app.' })
    return webhook
  }

  private async newSecret(webhookId: string): Promise<{ secretId: string; secret: string; sealed: string }> {
    const secretId = newId('whs')
    const secret = newSigningSecret()
    return { secretId, secret, sealed: await this.deps.sealer.seal(secret, binding(webhookId, secretId)) }
  }
}
