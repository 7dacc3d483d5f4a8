import { readFileSync, writeFileSync } from 'node:fs'

/** Secrets a developer's machine may generate once and keep. */
export interface DevSecretValues {
  TOKEN_ENCRYPTION_KEYS?: string
  COOKIE_SECRET?: string
  BROKER_ADMIN_KEY?: string
}

export interface DevSecrets {
  get(name: keyof DevSecretValues, generate: () => string): string
}

/**
 * Outside production only: a git-ignored JSON file (mode 0600) that keeps the
 * generated secrets, so sealed tokens survive a restart on a developer's machine.
 */
export function loadDevSecrets(path: string, warnings: string[]): DevSecrets {
  let values: DevSecretValues = {}
  try {
    values = JSON.parse(readFileSync(path, 'utf8')) as DevSecretValues
  } catch {
    // Missing or unreadable: start afresh.
  }
  return {
    get(name, generate) {
      const kept = values[name]
      if (typeof kept === 'string' && kept !== '') return kept
      const value = generate()
      values = { ...values, [name]: value }
      writeFileSync(path, `${JSON.stringify(values, null, 2)}\n`, { mode: 0o600 })
      warnings.push(`${name} is not set: generated one for development and kept it in ${path} (never do this in production)`)
      return value
    },
  }
}
