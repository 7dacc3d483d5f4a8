/** An injected failure of the token endpoint. */
export type TokenFault =
  | { mode: 'status'; status: number; error: string; hint: string | undefined }
  | { mode: 'hang'; ms: number }
  | { mode: 'drop' }
  | { mode: 'stall'; ms: number }

/** Faults waiting for the next calls to the token endpoint, first queued first served. */
export class FaultQueue {
  readonly #queue: Array<{ fault: TokenFault; remaining: number }> = []

  /** Makes the next `count` calls (after those already queued) fail with `fault`. */
  add(fault: TokenFault, count: number): void {
    this.#queue.push({ fault, remaining: count })
  }

  /** The fault for the call being answered now, if any. */
  take(): TokenFault | undefined {
    const head = this.#queue[0]
    if (!head) return undefined
    head.remaining -= 1
    if (head.remaining === 0) this.#queue.shift()
    return head.fault
  }

  clear(): void {
    this.#queue.length = 0
  }

  /** What is still queued, for the control API. */
  list(): Array<TokenFault & { remaining: number }> {
    return this.#queue.map(({ fault, remaining }) => ({ ...fault, remaining }))
  }
}
