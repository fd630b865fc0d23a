/**
 * What other nodes append to the cluster-wide control streams (issue 11): a read model that
 * folds a stream at boot follows it here to stay the same as on every other node. Only a
 * cluster provides a feed that delivers anything; on a single node a stream changes only
 * through this node's own appends, which the read model folds itself.
 * Layer: layers/coordination/ClusterEventStore.ts (an etcd watch resumed by revision).
 */
import { Context, type Effect, type Scope } from "effect"
import type { RecordedEvent } from "./EventStore.js"

export class StreamFeed extends Context.Tag("broker/StreamFeed")<StreamFeed, {
  /**
   * For the scope's lifetime, calls `apply` with the events of `stream` after `afterVersion`, in
   * version order, without gaps, whoever appended them (this node's own appends come too: skip
   * what is folded already). Reconnects and resumes by itself; never fails.
   */
  readonly follow: (
    stream: string,
    afterVersion: number,
    apply: (events: ReadonlyArray<RecordedEvent>) => Effect.Effect<void>
  ) => Effect.Effect<void, never, Scope.Scope>
}>() {}
