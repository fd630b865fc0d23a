/**
 * Kafka-style retention (retention.ms, retention.bytes per topic, TopicPolicies) for the
 * partitions on the memory and SQLite drivers; the segment driver enforces the same policies
 * itself, a whole segment at a time.
 *
 * One pass: for every partition the message log knows, except the broker's own `__` streams,
 * whose storage is memory or SQLite, it finds the first batch to keep by age
 * (`offsetForTimestamp(now - retentionMs)`: the batches before it are older; when none
 * qualifies, all are, up to the end offset) and by size (`offsetForSizeLimit(retentionBytes)`),
 * and truncates before the later of the two. `truncateBefore` keeps the newest batch, so a
 * partition never loses its end offset. A partition whose pass fails is logged and skipped; the
 * others go on.
 *
 * The scoped layer runs a pass every `intervalMs` (30 s); `enforce(now)` is one pass, for
 * tests and for callers that want it now. Where the partitions are comes from LogPlacement
 * (the routing driver) when present, else from `TopicPolicies.storageFor`.
 */
import { Effect, Layer, Option } from "effect"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import { streamOf, type TopicPartition } from "../domain/ids.js"
import { LogDriver } from "../services/LogDriver.js"
import { MessageLog } from "../services/MessageLog.js"
import { LogPlacement } from "./RoutingLogDriver.js"
import { TopicPolicies } from "./TopicPolicies.js"

export interface RetentionPass {
  /** Partitions looked at (memory and SQLite, not `__`). */
  readonly checked: number
  /** Partitions with batches old enough or beyond the size limit: truncateBefore ran on them. */
  readonly truncated: number
  readonly failed: number
}

export interface LogRetentionOptions {
  /** Period of the background pass. Default 30 s. */
  readonly intervalMs?: number
  /** Wall clock. Default Date.now. */
  readonly now?: () => number
}

/** ROBUSTMQ_TEST_HOUSEKEEPING_MS (test only, see MqttServer) shortens it for the torture harness. */
const DEFAULT_INTERVAL_MS = Number(process.env.ROBUSTMQ_TEST_HOUSEKEEPING_MS ?? 0) || 30_000

const enforcedHere = (kind: StorageKind | undefined): boolean => kind === "memory" || kind === "sqlite"

/** One retention pass at time `now` (ms since the epoch). */
export const enforce = (now: number): Effect.Effect<RetentionPass, never, MessageLog | LogDriver | TopicPolicies> =>
  Effect.gen(function*() {
    const log = yield* MessageLog
    const driver = yield* LogDriver
    const policies = yield* TopicPolicies
    const placement = yield* Effect.serviceOption(LogPlacement)
    const kindOf = Option.isSome(placement)
      ? placement.value.kindOf
      : (tp: TopicPartition) => policies.storageFor(streamOf(tp))
    let checked = 0
    let truncated = 0
    let failed = 0
    for (const tp of log.unsafePartitions()) {
      if (streamOf(tp).startsWith("__") || !enforcedHere(kindOf(tp))) continue
      const policy = policies.policyFor(tp)
      if (policy.retentionMs < 0 && policy.retentionBytes < 0) continue
      checked++
      const outcome = yield* Effect.either(Effect.gen(function*() {
        let before = 0
        if (policy.retentionMs >= 0) {
          const keep = yield* driver.offsetForTimestamp(tp, now - policy.retentionMs)
          before = keep ?? log.unsafeEndOffset(tp)
        }
        if (policy.retentionBytes >= 0) {
          const keep = yield* driver.offsetForSizeLimit(tp, policy.retentionBytes)
          if (keep !== null && keep > before) before = keep
        }
        if (policy.keepFrom !== undefined && policy.keepFrom < before) before = policy.keepFrom
        if (before <= 0) return false
        yield* driver.truncateBefore(tp, before)
        return true
      }))
      if (outcome._tag === "Left") {
        failed++
        yield* Effect.logError(`retention of ${tp} failed`, outcome.left)
      } else if (outcome.right) truncated++
    }
    return { checked, truncated, failed }
  })

/** Runs `enforce` every `intervalMs` for as long as the layer's scope is open. */
export const layer = (
  options: LogRetentionOptions = {}
): Layer.Layer<never, never, MessageLog | LogDriver | TopicPolicies> =>
  Layer.scopedDiscard(Effect.gen(function*() {
    const now = options.now ?? Date.now
    const pass = Effect.suspend(() => enforce(now()))
    yield* Effect.forkScoped(
      Effect.forever(Effect.zipRight(Effect.sleep(options.intervalMs ?? DEFAULT_INTERVAL_MS), pass))
    )
  }))
