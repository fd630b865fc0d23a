/**
 * A LogDriver over up to three drivers (memory, SQLite, segment files) that gives each
 * partition to one of them: per-topic storage kind (`robustmq.storage`).
 *
 * Placement. A partition is placed when the router first sees it: at start-up on the driver
 * that holds its data (`recover`), otherwise, on its first write, on
 * `TopicPolicies.storageFor(stream)`. It stays there until `deletePartition`, so changing a
 * topic's kind (or the broker's default kind) applies to partitions without data and never
 * strands data on a driver nobody reads. A partition with no placement has no data anywhere, so
 * reads, truncations and lookups on it answer "nothing" without touching a driver.
 *
 * Hot path (`writeBatches`): one Map lookup per batch; a pass that goes to one kind, the usual
 * case, is handed to that driver unchanged. A pass spread over kinds is split and the parts are
 * written in parallel; the call succeeds only when every part did. Atomicity across drivers is
 * not possible: when one part fails, the others stay written (their records become readable
 * after a restart although their writers were told the write failed: at least once, as a
 * Kafka producer retry).
 *
 * Drivers may be opened lazily (`lazy`): built in the router's scope on the first write of a
 * partition placed on them, at most once (a failed open is tried again on the next write). A
 * lazy driver must hold no data when it opens, since nothing placed partitions on it before.
 */
import { Context, Effect, Either, Scope } from "effect"
import type { StorageKind } from "../config/BrokerConfigShape.js"
import { streamOf, type TopicPartition } from "../domain/ids.js"
import { StorageError } from "../services/errors.js"
import { type EncodedBatch, LogDriver } from "../services/LogDriver.js"
import type { TopicPoliciesService } from "./TopicPolicies.js"

type LogDriverService = LogDriver["Type"]

/** Where the partitions are: the retention fiber asks it which driver enforces what. */
export class LogPlacement extends Context.Tag("broker/LogPlacement")<LogPlacement, {
  /** The kind holding `tp`, or undefined when it holds no data anywhere. */
  readonly kindOf: (tp: TopicPartition) => StorageKind | undefined
}>() {}

export interface RoutingOptions {
  readonly policies: TopicPoliciesService
  /** Drivers open from the start (their data is recovered). */
  readonly open: Partial<Record<StorageKind, LogDriverService>>
  /** Drivers opened on first use, in the router's scope. */
  readonly lazy?: Partial<Record<StorageKind, Effect.Effect<LogDriverService, StorageError, Scope.Scope>>>
}

export interface RoutingLogDriver extends LogDriverService {
  readonly kindOf: (tp: TopicPartition) => StorageKind | undefined
  /** The kinds whose driver is open now. */
  readonly openKinds: () => ReadonlyArray<StorageKind>
}

class Slot {
  constructor(
    readonly kind: StorageKind,
    public driver: LogDriverService | null,
    readonly build: Effect.Effect<LogDriverService, StorageError, Scope.Scope> | undefined,
    readonly lock: Effect.Semaphore
  ) {}
}

const KINDS: ReadonlyArray<StorageKind> = ["memory", "sqlite", "segment"]

const noBatches: ReadonlyArray<EncodedBatch> = []

export const make = (options: RoutingOptions): Effect.Effect<RoutingLogDriver, StorageError, Scope.Scope> =>
  Effect.gen(function*() {
    const scope = yield* Effect.scope
    const { policies } = options
    const slots = new Map<StorageKind, Slot>()
    for (const kind of KINDS) {
      slots.set(kind, new Slot(kind, options.open[kind] ?? null, options.lazy?.[kind], yield* Effect.makeSemaphore(1)))
    }
    const owner = new Map<TopicPartition, Slot>()

    const openSlot = (slot: Slot): Effect.Effect<LogDriverService, StorageError> =>
      slot.driver !== null
        ? Effect.succeed(slot.driver)
        : slot.lock.withPermits(1)(Effect.suspend(() => {
          if (slot.driver !== null) return Effect.succeed(slot.driver)
          if (slot.build === undefined) {
            return Effect.fail(
              new StorageError({ op: "open", cause: new Error(`storage kind "${slot.kind}" is not available in this broker`) })
            )
          }
          // Explicitly interruptible: the first write usually comes from the message log's
          // flusher, inside an uninterruptible region, and the driver's background fibers
          // would inherit that and never stop at shutdown. An open cut short leaves its
          // resources to the router's scope, which releases them.
          return Effect.tap(Effect.interruptible(Effect.provideService(slot.build, Scope.Scope, scope)), (driver) =>
            Effect.zipRight(
              Effect.sync(() => {
                slot.driver = driver
              }),
              Effect.logInfo(`storage: opened the ${slot.kind} log driver for per-topic storage`)
            ))
        }))

    /** Hot path: the slot of a partition, placing it on its topic's kind when new. */
    const slotFor = (tp: TopicPartition): Slot => {
      let slot = owner.get(tp)
      if (slot === undefined) {
        slot = slots.get(policies.storageFor(streamOf(tp)))!
        owner.set(tp, slot)
      }
      return slot
    }

    const writeTo = (slot: Slot, batches: ReadonlyArray<EncodedBatch>): Effect.Effect<void, StorageError> =>
      slot.driver !== null
        ? slot.driver.writeBatches(batches)
        : Effect.flatMap(openSlot(slot), (driver) => driver.writeBatches(batches))

    const writeSplit = (batches: ReadonlyArray<EncodedBatch>, placed: ReadonlyArray<Slot>) => {
      const groups = new Map<Slot, Array<EncodedBatch>>()
      for (let i = 0; i < batches.length; i++) {
        const list = groups.get(placed[i]!)
        if (list === undefined) groups.set(placed[i]!, [batches[i]!])
        else list.push(batches[i]!)
      }
      const parts = Array.from(groups, ([slot, list]) => writeTo(slot, list))
      return Effect.flatMap(Effect.all(parts, { concurrency: "unbounded", mode: "either" }), (results) => {
        for (const r of results) if (Either.isLeft(r)) return Effect.fail(r.left)
        return Effect.void
      })
    }

    const writeBatches = (batches: ReadonlyArray<EncodedBatch>): Effect.Effect<void, StorageError> => {
      if (batches.length === 0) return Effect.void
      const first = slotFor(batches[0]!.tp)
      let placed: Array<Slot> | null = null
      for (let i = 1; i < batches.length; i++) {
        const slot = slotFor(batches[i]!.tp)
        if (placed !== null) placed[i] = slot
        else if (slot !== first) {
          placed = new Array<Slot>(batches.length).fill(first, 0, i)
          placed[i] = slot
        }
      }
      return placed === null ? writeTo(first, batches) : writeSplit(batches, placed)
    }

    /** The open driver holding `tp`, or null when no driver holds it. */
    const holder = (tp: TopicPartition): LogDriverService | null => owner.get(tp)?.driver ?? null

    const readRange = (tp: TopicPartition, fromOffset: number, maxBytes: number) => {
      const driver = holder(tp)
      return driver === null ? Effect.succeed(noBatches) : driver.readRange(tp, fromOffset, maxBytes)
    }

    const truncateBefore = (tp: TopicPartition, offset: number) => {
      const driver = holder(tp)
      return driver === null ? Effect.void : driver.truncateBefore(tp, offset)
    }

    const offsetForTimestamp = (tp: TopicPartition, timestamp: number) => {
      const driver = holder(tp)
      return driver === null ? Effect.succeed(null) : driver.offsetForTimestamp(tp, timestamp)
    }

    const offsetForSizeLimit = (tp: TopicPartition, bytes: number) => {
      const driver = holder(tp)
      return driver === null ? Effect.succeed(null) : driver.offsetForSizeLimit(tp, bytes)
    }

    const openSlots = (): Array<Slot> => {
      const open: Array<Slot> = []
      for (const slot of slots.values()) if (slot.driver !== null) open.push(slot)
      return open
    }

    /** Every open driver, not only the holder: no copy may survive anywhere. */
    const deletePartition = (tp: TopicPartition) =>
      Effect.suspend(() => {
        owner.delete(tp)
        return Effect.forEach(openSlots(), (slot) => slot.driver!.deletePartition(tp), { discard: true })
      })

    /**
     * Merges the ends of every open driver and places each partition on the driver holding it.
     * A partition found on two drivers (it should not happen) goes to the one that reaches
     * further, with a warning.
     */
    const recover = Effect.gen(function*() {
      const ends = new Map<TopicPartition, number>()
      const found = new Map<TopicPartition, Slot>()
      for (const slot of openSlots()) {
        for (const [tp, end] of yield* slot.driver!.recover) {
          const other = found.get(tp)
          if (other !== undefined) {
            yield* Effect.logWarning(`storage: ${tp} has data on both ${other.kind} and ${slot.kind}; reading ${end > ends.get(tp)! ? slot.kind : other.kind}`)
            if (end <= ends.get(tp)!) continue
          }
          ends.set(tp, end)
          found.set(tp, slot)
        }
      }
      for (const [tp, slot] of found) owner.set(tp, slot)
      return ends as ReadonlyMap<TopicPartition, number>
    })

    yield* recover

    return {
      writeBatches,
      readRange,
      truncateBefore,
      offsetForTimestamp,
      offsetForSizeLimit,
      deletePartition,
      recover,
      kindOf: (tp) => owner.get(tp)?.kind,
      openKinds: () => openSlots().map((s) => s.kind)
    }
  })
