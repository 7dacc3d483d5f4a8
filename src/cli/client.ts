/** A failure the CLI reports in one line and exits non-zero for. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message)
    this.name = 'CliError'
  }
}

/**
 * The CLI's only way into the broker: its admin API over HTTP, with the admin
 * key as a bearer token. Errors come back in the seed's shape and become one
 * clear line naming the status and the stable code.
 */
export class AdminClient {
  constructor(
    private readonly baseUrl: string,
    private readonly adminKey: string,
  ) {}

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    let response: Response
    try {
      // Appended, not resolved: a broker behind a path prefix (https://host/broker) keeps it.
      response = await fetch(new URL(`${this.baseUrl.replace(/\/+$/, '')}${path}`), {
        method,
        headers: {
          authorization: `Bearer ${this.adminKey}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? null : JSON.stringify(body),
        signal: AbortSignal.timeout(30_000),
      })
    } catch (error) {
      const cause = (error as { cause?: { code?: unknown } }).cause?.code
      throw new CliError(`cannot reach the broker at ${this.baseUrl} (${typeof cause === 'string' ? cause : (error as Error).name}); check --url`)
    }
    const text = await response.text()
    if (response.ok) return this.parseAnswer<T>(response, text, method, path)
    let error: { status?: number; code?: string; message?: string; reason?: string } | undefined
    try {
      error = (JSON.parse(text) as { error?: typeof error }).error
    } catch {
      error = undefined
    }
    if (error === undefined) throw new CliError(`the broker answered ${response.status} to ${method} ${path}`)
    const hint = response.status === 401 ? ' (is BROKER_ADMIN_KEY the broker\'s admin key?)' : ''
    throw new CliError(`${error.message ?? 'error'}${error.reason === undefined ? '' : ` ${error.reason}`} (HTTP ${response.status}, code ${error.code ?? '?'})${hint}`)
  }

  /**
   * A successful answer's JSON. Something else answering 2xx at --url (a web
   * server, a proxy's sign-in page) is said in those words, not as a parser's
   * "Unexpected token '<'".
   */
  private parseAnswer<T>(response: Response, text: string, method: string, path: string): T {
    if (text === '') return undefined as T
    try {
      return JSON.parse(text) as T
    } catch {
      const type = response.headers.get('content-type') ?? 'no content type'
      throw new CliError(`the broker answered ${response.status} to ${method} ${path} with ${type}, not JSON: is ${this.baseUrl} the broker? check --url`)
    }
  }
}
