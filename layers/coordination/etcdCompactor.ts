/**
 * Keeps etcd's history bounded: etcd keeps every old revision until someone compacts, and at
 * the route churn of a reconnect storm history alone fills the 2 GiB quota in minutes
 * (docs/cluster.md 2.3), after which etcd refuses every write. Every node runs this loop and
 * notes the revision each `everyMs`; the member with the lowest id compacts to the revision it
 * noted one period earlier, so a watch less than a period behind can still resume. Two nodes
 * that both think they are lowest for a moment are harmless: a compaction to an already
 * compacted revision is refused, and ignored here.
 */
import { Duration, Effect } from "effect"
import type { Etcd3 } from "etcd3"
import { call } from "./etcdClient.js"
import { isCompacted, listPrefix } from "./etcdRange.js"

export interface CompactorOptions {
  readonly client: Etcd3
  /** The full etcd prefix of member keys (`/rmq/<cluster>/nodes/`). */
  readonly nodesPrefix: string
  /** The member ids this process joined as (a live set: joins and leaves change it). */
  readonly joined: ReadonlySet<string>
  readonly everyMs: number
  readonly deadlineMs: number
}

/** Runs until interrupted; a failed round is logged and the next one tries again. */
export const compactHistory = (o: CompactorOptions): Effect.Effect<never> => {
  let noted: number | null = null
  const round = Effect.gen(function*() {
    const { kvs, revision } = yield* listPrefix(o.client, "compaction: list members", o.nodesPrefix, o.deadlineMs)
    const lowest = kvs.map((kv) => kv.key.toString().slice(o.nodesPrefix.length)).sort()[0]
    const target = noted
    noted = revision
    if (target === null || lowest === undefined || !o.joined.has(lowest)) return
    const done = yield* call("compact", o.deadlineMs, (t) => o.client.kv.compact({ revision: target }, t)).pipe(
      Effect.as(true),
      Effect.catchIf((e) => isCompacted(e.cause), () => Effect.succeed(false))
    )
    if (done) yield* Effect.logDebug(`cluster: etcd history compacted to revision ${target} (now ${revision})`)
  }).pipe(
    Effect.catchAll((e) => Effect.logWarning(`cluster: etcd compaction round failed (${e.message}); trying again in ${Duration.format(Duration.millis(o.everyMs))}`))
  )
  return Effect.forever(Effect.zipRight(Effect.sleep(Duration.millis(o.everyMs)), round))
}
