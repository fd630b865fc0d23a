/**
 * This node's route summary in etcd: one key per route key (a plain filter with subscribers here,
 * or `$share/<group>/<filter>`), `routes/<node>/<digest>` = the route key, on the node's lease so
 * the summary vanishes with the node. Changes are batched: the first change after a flush waits
 * BATCH_MS for company, then one transaction (at most MAX_TXN_OPS writes, etcd's default cap)
 * carries them all. Never one write per subscriber: a thousand clients on `sensors/#` are one key.
 */
import { createHash } from "node:crypto"
import { Deferred, Effect, type Fiber, FiberId, Runtime, Schedule } from "effect"
import type { Membership } from "../../services/Coordination.js"
import type { RouteListener } from "../mqtt/engine/Subscriptions.js"

const BATCH_MS = 5
/** etcd's --max-txn-ops default. */
const MAX_TXN_OPS = 128
/** A SUBACK waits at most this long for its routes (etcd down: it goes out anyway, the write retries). */
const VISIBLE_WAIT_MS = 2000

export const routesPrefix = "routes/"
export const routeEtcdKey = (node: string, routeKey: string): string =>
  `${routesPrefix}${node}/${createHash("sha1").update(routeKey).digest("base64url")}`

export class RouteSummary implements RouteListener {
  /** Route key -> present (true) or removed (false), not yet written. */
  private pending = new Map<string, boolean>()
  /** Completed when the batch now pending has committed. */
  private nextCommit: Deferred.Deferred<void> | null = null
  private writer: Fiber.RuntimeFiber<void> | null = null
  private closed = false
  /** Route keys whose removal waits (hold), with how many holds each has. */
  private readonly held = new Map<string, number>()
  /** Held route keys that lost their last subscriber here meanwhile. */
  private readonly removedWhileHeld = new Set<string>()

  constructor(
    private readonly node: string,
    private membership: Membership,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  /** A new lease (after the old one was lost): every route key is written again on it. */
  use(membership: Membership, keys: ReadonlyArray<string>): void {
    this.membership = membership
    for (const key of keys) this.change(key, true)
  }

  added(key: string): void {
    this.removedWhileHeld.delete(key)
    this.change(key, true)
  }

  removed(key: string): void {
    if (this.held.has(key)) this.removedWhileHeld.add(key)
    else this.change(key, false)
  }

  /**
   * Keeps these route keys in the summary for `ms` even if their last subscriber here goes: a
   * session handed to another node takes its subscriptions along, and the others must see the
   * new holder's routes before this node's go, or a message published meanwhile reaches neither
   * (etcd delivers changes in revision order, so the new holder's, written first, arrive first).
   */
  hold(keys: ReadonlyArray<string>, ms: number): void {
    for (const key of keys) this.held.set(key, (this.held.get(key) ?? 0) + 1)
    setTimeout(() => {
      for (const key of keys) {
        const n = (this.held.get(key) ?? 1) - 1
        if (n > 0) {
          this.held.set(key, n)
          continue
        }
        this.held.delete(key)
        if (this.removedWhileHeld.delete(key)) this.change(key, false)
      }
    }, ms).unref()
  }

  private change(key: string, present: boolean): void {
    if (this.closed) return
    this.pending.set(key, present)
    this.nextCommit ??= Deferred.unsafeMake<void>(FiberId.none)
    if (this.writer === null) this.writer = Runtime.runFork(this.runtime)(this.writeLoop)
  }

  /** Waits (bounded) for the pending changes to commit; null when nothing is pending. */
  visible(): Effect.Effect<void> | null {
    const commit = this.nextCommit
    if (commit === null) return null
    return Effect.asVoid(Effect.timeout(Deferred.await(commit), VISIBLE_WAIT_MS).pipe(Effect.ignore))
  }

  /** Writes batches until nothing is pending; a failed write is retried (writes are idempotent). */
  private readonly writeLoop: Effect.Effect<void> = Effect.gen(this, function*() {
    yield* Effect.sleep(BATCH_MS)
    while (this.pending.size > 0 && !this.closed) {
      const batch = this.pending
      const done = this.nextCommit
      this.pending = new Map()
      this.nextCommit = null
      const writes = [...batch].map(([key, present]) => ({ key: routeEtcdKey(this.node, key), value: present ? key : null }))
      for (let i = 0; i < writes.length; i += MAX_TXN_OPS) {
        yield* this.membership.write(writes.slice(i, i + MAX_TXN_OPS)).pipe(
          Effect.tapError((e) => Effect.logWarning(`cluster: writing ${writes.length} route changes failed (${e.message}); retrying`)),
          Effect.retry({ schedule: Schedule.exponential("100 millis").pipe(Schedule.union(Schedule.spaced("2 seconds"))), while: () => !this.closed }),
          Effect.ignore
        )
      }
      if (done !== null) yield* Deferred.succeed(done, undefined)
    }
    this.writer = null
  })

  close(): void {
    this.closed = true
  }
}
