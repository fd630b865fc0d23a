/**
 * The receiving side of QoS 1/2 across nodes: how far this node holds what each other node
 * forwarded, per partition of the sender's log, and which gaps it must ask for again.
 *
 * A sender's batches say what they cover ([from, to) of end offsets, linkFrames.Coverage). The
 * first batch of a connection says `from` -1: whatever the sender routed here while there was
 * no link (or while this node was down) is somewhere in [safe, to), so this node asks for that
 * range again (a catch-up, answered from the sender's log) and drops the live messages below
 * `to` that the replay brings. `safe` only moves past a range once all of it arrived, and it is
 * saved (after this node's own log is flushed) so that a restart asks from there. Pure: the
 * caller delivers, sends the requests and persists `snapshot()`.
 */
import type { Coverage, Forwarded } from "./linkFrames.js"

interface Progress {
  /** Everything below this offset that matched this node's routes has arrived. */
  safe: number
  /** Live messages below this offset are dropped: a replay brings them. */
  floor: number
  /** The end of the latest live coverage. */
  seen: number
  /**
   * Where the sender's current run started (`safe` when its latest first batch of a run came):
   * what it logged from there on reaches this node live or by replay. Undefined before any.
   */
  runFrom: number | undefined
}

/** A range to ask `node` for again. */
export interface Gap {
  readonly node: string
  readonly tp: string
  readonly from: number
  readonly to: number
}

/** Saved form: node -> partition -> safe offset. */
export type SavedProgress = Record<string, Record<string, number>>

export class LinkProgress {
  /** Sender node -> its partition -> progress: two lookups, no key built per message. */
  private readonly progress = new Map<string, Map<string, Progress>>()

  constructor(saved: SavedProgress = {}) {
    for (const [node, tps] of Object.entries(saved)) {
      for (const [tp, safe] of Object.entries(tps)) {
        if (Number.isSafeInteger(safe) && safe >= 0) this.set(node, tp, { safe, floor: 0, seen: safe, runFrom: undefined })
      }
    }
  }

  private get(node: string, tp: string): Progress | undefined {
    return this.progress.get(node)?.get(tp)
  }

  private set(node: string, tp: string, p: Progress): void {
    let tps = this.progress.get(node)
    if (tps === undefined) this.progress.set(node, (tps = new Map()))
    tps.set(tp, p)
  }

  /** Hot path: whether a live message from `node` is delivered (false: a replay brings it). */
  admit(node: string, f: Forwarded): boolean {
    if (f.tp === null) return true
    const p = this.get(node, f.tp)
    return p === undefined || f.offset >= p.floor
  }

  /** After a live batch's messages: its coverage; returns the gaps to ask for. */
  covered(node: string, coverage: ReadonlyArray<Coverage>): Array<Gap> {
    const gaps: Array<Gap> = []
    for (const c of coverage) {
      const p = this.get(node, c.tp)
      if (p === undefined) {
        // First contact with this sender's partition: nothing was owed here before.
        this.set(node, c.tp, { safe: c.to, floor: 0, seen: c.to, runFrom: c.to })
        continue
      }
      if (c.to < p.safe) {
        // The sender's log is shorter than what was had of it (it lost its data): start over there.
        p.safe = p.seen = p.runFrom = c.to
        p.floor = 0
        continue
      }
      if (c.from === -1) p.runFrom = p.safe
      if (c.from === -1 && c.to > p.safe) {
        gaps.push({ node, tp: c.tp, from: p.safe, to: c.to })
        p.floor = c.to
      }
      p.seen = c.to
      if (p.safe >= p.floor) p.safe = p.seen
    }
    return gaps
  }

  /**
   * A replay frame: its messages that are still owed (below the floor, not yet safe) are
   * delivered, and `safe` moves over the range it covers.
   */
  replayed(node: string, messages: ReadonlyArray<Forwarded>, coverage: ReadonlyArray<Coverage>): Array<Forwarded> {
    const out: Array<Forwarded> = []
    for (const f of messages) {
      if (f.tp === null) continue
      const p = this.get(node, f.tp)
      if (p !== undefined && f.offset >= p.safe && f.offset < p.floor) out.push(f)
    }
    for (const c of coverage) {
      const p = this.get(node, c.tp)
      if (p === undefined || c.from > p.safe || c.to <= p.safe) continue
      p.safe = c.to
      if (p.safe >= p.floor) p.safe = p.seen
    }
    return out
  }

  /** Per sender, per partition: the offset from which its live messages are still to come. */
  positions(): SavedProgress {
    const out: SavedProgress = {}
    for (const [node, tps] of this.progress) out[node] = Object.fromEntries([...tps].map(([tp, p]) => [tp, p.seen]))
    return out
  }

  /**
   * Whether the record at `offset` of `node`'s partition `tp`, logged there before its current
   * run, reaches this node's routes through the link (live, or by the run's catch-up replay)
   * rather than only through whoever held it for a session here. False for a partition this
   * node never had any of.
   */
  willReplay(node: string, tp: string, offset: number): boolean {
    const p = this.get(node, tp)
    return p !== undefined && offset >= (p.runFrom ?? p.safe)
  }

  /**
   * `node` left (it died, or stopped): its run is over. What it logged during that run reached
   * this node only if it matched this node's routes then, so until its next run starts only what
   * is past `safe` comes by the link (that run's catch-up). A dead worker's remnant, sent by the
   * sibling holding its store before it is back (GhostRemnants), is merged by this rule.
   */
  endRun(node: string): void {
    for (const p of this.progress.get(node)?.values() ?? []) p.runFrom = undefined
  }

  /** Per partition of `node`'s log: everything below has arrived here (the STORED frame's content once durable). */
  safeOf(node: string): Map<string, number> {
    const out = new Map<string, number>()
    for (const [tp, p] of this.progress.get(node) ?? []) out.set(tp, p.safe)
    return out
  }

  /** How many sender partitions still wait for a catch-up (for status and tests). */
  owed(): number {
    let n = 0
    for (const tps of this.progress.values()) for (const p of tps.values()) if (p.safe < p.floor) n++
    return n
  }

  snapshot(): SavedProgress {
    const out: SavedProgress = {}
    for (const [node, tps] of this.progress) out[node] = Object.fromEntries([...tps].map(([tp, p]) => [tp, p.safe]))
    return out
  }
}
