/**
 * The OneUp sandbox as a process of its own (`node dist/sandbox/main.js`), configured by the
 * `SANDBOX_*` variables read in `env.ts`. Prints one line when it listens; closes on SIGTERM
 * or SIGINT.
 */
import type { AddressInfo } from 'node:net'
import { readSandboxEnv } from './env.js'
import { buildSandboxServer } from './server.js'

const config = readSandboxEnv(process.env)
const app = buildSandboxServer(config.options)

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        console.error('sandbox failed to close', error)
        process.exit(1)
      },
    )
  })
}

await app.listen({ port: config.port, host: config.host })
const { port } = app.server.address() as AddressInfo
const host = config.host.includes(':') ? `[${config.host}]` : config.host
console.log(`sandbox listening on http://${host}:${port}/sandbox`)
