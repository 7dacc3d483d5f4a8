import type { Log } from '../log.js'
import type { AppStore } from '../store/apps.js'

/** How often a key's last use is written, at most, per key and per process. */
export const KEY_USAGE_EVERY_MS = 60_000
const MAX_TRACKED = 10_000

/**
 * Records when each app key was last used without adding a Redis write to
 * every call: at most one write per key per minute per process, sent in the
 * background (auto-pipelined with the call's own commands), never awaited.
 * `last_used_at` is therefore exact to about a minute.
 */
export class KeyUsage {
  private readonly written = new Map<string, number>()

  constructor(
    private readonly apps: AppStore,
    private readonly log: Log,
    private readonly now: () => number = Date.now,
  ) {}

  /** Notes a use of a key (call on every authenticated request). */
  readonly seen = (app: { id: string; keyId: string }): void => {
    const id = `${app.id} ${app.keyId}`
    const now = this.now()
    const last = this.written.get(id)
    if (last !== undefined && now - last < KEY_USAGE_EVERY_MS) return
    if (this.written.size >= MAX_TRACKED) this.written.clear()
    this.written.set(id, now)
    this.apps.touchKey(app.id, app.keyId, now).catch((error: unknown) => {
      // Try again at the next call rather than in a minute.
      this.written.delete(id)
      this.log.warn({ err: error, app_id: app.id, key_id: app.keyId }, 'could not record when an app key was last used')
    })
  }
}
