/**
 * A latency histogram kept as plain numbers: `observe` is a short loop over fixed bounds and
 * three additions, cheap enough for once-per-request or once-per-flush use (never per message
 * unless sampled). The metrics endpoint reads it at scrape time (src/http/exposition.ts).
 */

/** Upper bounds in milliseconds: 0.1 ms (a memory append) to 10 s (a stuck fsync or a long poll). */
export const DEFAULT_BOUNDS_MS: ReadonlyArray<number> = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]

export class LatencyHistogram {
  /** Observations per bucket (not cumulative); the last one is above every bound (+Inf). */
  readonly counts: Float64Array
  /** Sum of the observations, milliseconds. */
  sumMs = 0
  count = 0

  constructor(readonly boundsMs: ReadonlyArray<number> = DEFAULT_BOUNDS_MS) {
    this.counts = new Float64Array(boundsMs.length + 1)
  }

  observe(ms: number): void {
    const bounds = this.boundsMs
    let i = 0
    while (i < bounds.length && ms > bounds[i]!) i++
    this.counts[i]!++
    this.sumMs += ms
    this.count++
  }
}
