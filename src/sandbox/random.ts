import { randomBytes } from 'node:crypto'

/**
 * An opaque random string: 256 bits, base64url, behind a recognisable prefix
 * (Hydra's tokens read `ory_at_…`, `ory_rt_…`, `ory_ac_…`).
 */
export function opaqueToken(prefix: string): string {
  return prefix + randomBytes(32).toString('base64url')
}
