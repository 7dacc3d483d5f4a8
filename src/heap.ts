import { setFlagsFromString } from 'node:v8'

/**
 * How much V8 lets the old generation grow past what survived the last full
 * collection before collecting again: 50% (V8's own factor, tuned for
 * throughput, reaches 4x). Under load the hand-out promotes its in-flight
 * requests' objects into the old generation at ~15 MB/s; with V8's factor the
 * broker's RSS climbed to ~240 MB before each full collection brought the live
 * set back to ~50 MB. With 50% it peaks at 145–165 MB for the same throughput
 * (`npm run bench`, peak RSS column). V8 reads this flag at every collection,
 * so setting it at start-up takes effect.
 */
export const HEAP_GROWING_PERCENT = 50

/** The V8 flags to set, unless the process was started with its own choice (`node --heap-growing-percent=…`). */
export function heapFlags(execArgv: readonly string[]): string[] {
  if (execArgv.some((arg) => arg.startsWith('--heap-growing-percent') || arg.startsWith('--heap_growing_percent'))) return []
  return [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`]
}

/** Applies {@link heapFlags} to this process. */
export function tuneHeap(): void {
  for (const flag of heapFlags(process.execArgv)) setFlagsFromString(flag)
}
