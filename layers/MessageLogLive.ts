/**
 * MessageLog over any LogDriver: owns offsets, open batches, group commit and durability
 * callbacks for every partition (DESIGN.md §3 step 6).
 *
 * `unsafeAppend` is plain synchronous code: it assigns the offset, pushes the record onto the
 * partition's open batch and, when the partition turns dirty, opens a latch. One flusher fiber
 * wakes on the latch, seals every dirty partition's batches with `encodeBatch`, hands them all to
 * ONE `driver.writeBatches` call, then runs the durability callbacks in plain loops. Appends made
 * while a write is in flight accumulate into the next batch, so the write rate adapts to the
 * storage's latency. A batch is sealed early at MAX_BATCH_RECORDS / MAX_BATCH_BYTES; early-sealed
 * batches still go out in the same single call.
 *
 * Failure: when a write fails, every callback of its batches gets the StorageError (and
 * `flush` fails). Those offsets stay assigned but are lost: never readable, and skipped by
 * readers (offsets are not reused in this process; after a restart `recover` resumes after the
 * last written batch).
 *
 * Deletion (`deletePartition`): the partition is forgotten at once (its unwritten records'
 * callbacks fail, its watchers wake once, appends start a new partition at offset 0) and its
 * data is deleted by the flusher at the start of its next pass, before that pass writes. The
 * flusher runs one pass at a time, so a write in flight when the deletion was asked lands
 * first and is deleted with the rest: it can never bring the partition back, and the new
 * partition's first write always follows the deletion. Until the driver has deleted it, reads
 * skip the driver for that partition.
 *
 * It must never allocate an Effect per record, never let a throwing callback kill the flusher,
 * and never acknowledge (run a callback without an error) a record before the driver wrote it.
 * Closing the layer's scope flushes everything appended before the flusher stops.
 */
import { Cause, Deferred, Effect, Exit, FiberId, Layer, type Scope } from "effect"
import type { TopicPartition } from "../domain/ids.js"
import { LatencyHistogram } from "../domain/metrics/LatencyHistogram.js"
import type { LogRecord, StoredRecord } from "../domain/message/LogRecord.js"
import { decodeBatch, encodeBatch } from "../domain/message/RecordBatch.js"
import { StorageError } from "../services/errors.js"
import { type EncodedBatch, LogDriver } from "../services/LogDriver.js"
import { type LogStats, MessageLog } from "../services/MessageLog.js"
import { BATCH_WRITING, type DurableCallback, estimateSize, Partition, type PendingBatch } from "./internal/Partition.js"

/** A deletion waiting for the flusher's next pass. */
interface PendingDeletion {
  readonly tp: TopicPartition
  readonly done: Deferred.Deferred<void, StorageError>
}

interface FlushWaiter {
  readonly done: Deferred.Deferred<void, StorageError>
  /** `failures` when the waiter was registered: any later failed write fails the flush. */
  readonly failuresBefore: number
}

const toStorageError = (cause: Cause.Cause<unknown>): StorageError => {
  const failure = Cause.failureOption(cause)
  if (failure._tag === "Some" && failure.value instanceof StorageError) return failure.value
  return new StorageError({ op: "write", cause: Cause.squash(cause) })
}

/**
 * The group-commit window: after the first append of a round, collect appends for ~1 ms (every
 * socket read in that time) so one write carries them all. Measured on SQLite, pairs-qos1:
 * flushing after each turn of the event loop 189k msg/s at 5.6 cpu-us/delivery, with this
 * window 216k at 4.6; fanin-qos1 102k -> 138k. Live subscribers never wait for it; only
 * PUBACK/PUBREC do.
 */
const commitWindow = Effect.async<void>((resume) => {
  const timer = setTimeout(() => resume(Effect.void), 1)
  return Effect.sync(() => clearTimeout(timer))
})

/**
 * The window for a lone waiting writer: the rest of this turn of the event loop only (appends
 * from socket reads already queued still join the pass). When passes carry one record each, a
 * single publisher is waiting for every acknowledgement (a script, `mosquitto_pub -l`, a device
 * sending in lock step) and the 1 ms window is pure latency: such a publisher went from 590 to
 * 2,150-2,650 msg/s (docs/benchmarks.md). Two lone passes in a row switch to it; any pass with more records switches
 * back, so loads that fill the 1 ms window (latency-qos1: ~10 records a pass) keep it.
 */
const turnWindow = Effect.async<void>((resume) => {
  const immediate = setImmediate(() => resume(Effect.void))
  return Effect.sync(() => clearImmediate(immediate))
})
/** Consecutive lone passes before the turn window is used. */
const LONE_PASSES = 2

/**
 * Test hook (the torture harness): holds every pass's durability callbacks this long after the
 * write, widening the window between a durable write and its acknowledgement so that kills land
 * in it. Never set in production: it delays every acknowledgement.
 */
const TEST_ACK_DELAY_MS = Number(process.env.ROBUSTMQ_TEST_ACK_DELAY_MS ?? 0) || 0

export const make: Effect.Effect<MessageLog["Type"], StorageError, LogDriver | Scope.Scope> = Effect.gen(function* () {
  const driver = yield* LogDriver
  const ends = yield* driver.recover

  const partitions = new Map<TopicPartition, Partition>()
  /** Estimated bytes appended and not yet settled (unsafeUnwrittenBytes), kept by the partitions. */
  const unwritten = { bytes: 0 }
  for (const [tp, end] of ends) partitions.set(tp, new Partition(tp, end, unwritten))
  let partitionList: ReadonlyArray<TopicPartition> | null = null

  let dirty: Array<Partition> = []
  let writing = false
  let failures = 0
  let lastError: StorageError | undefined
  let flushWaiters: Array<FlushWaiter> = []
  let deletions: Array<PendingDeletion> = []
  /** Partitions whose data the driver has yet to delete, with how many deletions are queued. */
  const deleting = new Map<TopicPartition, number>()
  const wake = yield* Effect.makeLatch(false)
  /** Consecutive flusher passes that carried exactly one record (see turnWindow). */
  let lonePasses = 0
  let passWaiters: Array<() => void> = []
  let passListener: (() => ((ok: boolean) => void) | null) | null = null
  const window = Effect.suspend(() => (lonePasses >= LONE_PASSES ? turnWindow : commitWindow))
  const stats: LogStats = { commitLatency: new LatencyHistogram(), appendLatency: new LatencyHistogram(), bytesWritten: 0, recordsWritten: 0 }
  /** When the first partition of the coming pass turned dirty (performance.now()). */
  let dirtySince = 0

  /** Hot path. */
  const unsafeAppend = (tp: TopicPartition, record: LogRecord): number => {
    const p = partitionFor(tp)
    const offset = p.append(record)
    if (!p.dirty) {
      p.dirty = true
      if (dirty.length === 0) dirtySince = performance.now()
      dirty.push(p)
      wake.unsafeOpen()
    }
    return offset
  }

  /** Hot path. */
  const unsafeOnDurable = (tp: TopicPartition, offset: number, done: DurableCallback): void => {
    const p = partitions.get(tp)
    if (p !== undefined) {
      if (offset < p.durableEnd) {
        const lost = p.lostError(offset)
        if (lost === undefined) done()
        else done(lost)
        return
      }
      if (p.onDurable(offset, done)) return
    }
    done(new StorageError({ op: "write", path: tp, cause: new Error(`offset ${offset} was never appended to ${tp}`) }))
  }

  const unsafeEndOffset = (tp: TopicPartition): number => partitions.get(tp)?.next ?? 0

  const partitionFor = (tp: TopicPartition): Partition => {
    let p = partitions.get(tp)
    if (p === undefined) {
      partitions.set(tp, (p = new Partition(tp, 0, unwritten)))
      partitionList = null
    }
    return p
  }

  const unsafeAppendBatch = (tp: TopicPartition, encoded: Uint8Array, count: number): number => {
    const p = partitionFor(tp)
    const base = p.appendEncoded(encoded, count)
    if (!p.dirty) {
      p.dirty = true
      if (dirty.length === 0) dirtySince = performance.now()
      dirty.push(p)
      wake.unsafeOpen()
    }
    return base
  }

  const unsafeHighWatermark = (tp: TopicPartition): number => partitions.get(tp)?.durableEnd ?? 0

  const unsafeOnAdvance = (tp: TopicPartition, offset: number, wake: () => void): (() => void) => {
    const p = partitionFor(tp)
    if (offset < p.durableEnd) {
      wake()
      return () => {}
    }
    return p.watch(offset, wake)
  }

  const unsafePartitions = (): ReadonlyArray<TopicPartition> => (partitionList ??= Array.from(partitions.keys()))

  // -------------------------------------------------------------------------------------------
  // flusher

  /** Runs callbacks in plain loops; returns the first one thrown (to be logged), if any. */
  const settle = (batches: ReadonlyArray<PendingBatch>, error: StorageError | undefined): unknown => {
    let thrown: unknown = undefined
    for (let i = 0; i < batches.length; i++) {
      const b = batches[i]!
      unwritten.bytes -= b.bytes
      const callbacks = b.partition.settle(b, error)
      if (callbacks === null) continue
      for (let j = 0; j < callbacks.length; j++) {
        try {
          if (error === undefined) callbacks[j]!()
          else callbacks[j]!(error)
        } catch (e) {
          thrown ??= e
        }
      }
    }
    for (let i = 0; i < batches.length; i++) {
      const p = batches[i]!.partition
      if (p.watchers === null) continue
      const ripe = p.takeRipeWatchers()
      if (ripe === null) continue
      for (let j = 0; j < ripe.length; j++) {
        try {
          ripe[j]!.wake()
        } catch (e) {
          thrown ??= e
        }
      }
    }
    return thrown
  }

  const encodeAll = (batches: ReadonlyArray<PendingBatch>) =>
    Effect.try({
      try: () => {
        const encoded: Array<EncodedBatch> = new Array(batches.length)
        for (let i = 0; i < batches.length; i++) {
          const b = batches[i]!
          encoded[i] = {
            tp: b.partition.tp,
            baseOffset: b.baseOffset,
            lastOffset: b.lastOffset,
            bytes: b.encoded ?? encodeBatch(b.baseOffset, b.records)
          }
        }
        return encoded
      },
      catch: (cause) => new StorageError({ op: "write", cause })
    })

  /** Deletes each partition in the driver, in order; each waiter gets its own outcome. */
  const runDeletions = (list: ReadonlyArray<PendingDeletion>) =>
    Effect.forEach(list, (d) =>
      Effect.map(Effect.exit(driver.deletePartition(d.tp)), (exit) => {
        const left = deleting.get(d.tp)! - 1
        if (left === 0) deleting.delete(d.tp)
        else deleting.set(d.tp, left)
        Deferred.unsafeDone(d.done, exit)
      }), { discard: true })

  /**
   * One flusher pass: queued deletions first, then everything dirty now goes out in one
   * writeBatches call.
   */
  const flushPass = Effect.suspend(() => {
    wake.unsafeClose()
    const written = passListener === null ? null : passListener()
    const waiters = flushWaiters
    flushWaiters = []
    const deleteNow = deletions
    deletions = []
    const batches: Array<PendingBatch> = []
    for (let i = 0; i < dirty.length; i++) dirty[i]!.take(batches)
    const passSince = dirtySince
    dirty = []
    let records = 0
    for (let i = 0; i < batches.length; i++) records += batches[i]!.count
    lonePasses = records === 1 ? lonePasses + 1 : records === 0 ? lonePasses : 0
    writing = true
    const write = batches.length === 0
      ? Effect.void
      : Effect.flatMap(encodeAll(batches), (encoded) => {
        const started = performance.now()
        return Effect.map(driver.writeBatches(encoded), () => {
          const now = performance.now()
          stats.commitLatency.observe(now - started)
          stats.appendLatency.observe(now - passSince)
          stats.recordsWritten += records
          for (let i = 0; i < encoded.length; i++) stats.bytesWritten += encoded[i]!.bytes.length
        })
      })
    const writes = deleteNow.length === 0 ? write : Effect.zipRight(runDeletions(deleteNow), write)
    const pass = TEST_ACK_DELAY_MS > 0 && batches.length > 0 ? Effect.zipLeft(writes, Effect.sleep(TEST_ACK_DELAY_MS)) : writes
    return Effect.flatMap(Effect.exit(pass), (exit) => {
      writing = false
      let error: StorageError | undefined
      if (Exit.isFailure(exit)) {
        error = toStorageError(exit.cause)
        failures++
        lastError = error
      }
      let thrown: unknown = undefined
      if (written !== null) {
        try {
          written(error === undefined)
        } catch (e) {
          thrown = e
        }
      }
      if (batches.length > 0) thrown = settle(batches, error) ?? thrown
      if (passWaiters.length > 0) {
        const list = passWaiters
        passWaiters = []
        for (let i = 0; i < list.length; i++) {
          try {
            list[i]!()
          } catch (e) {
            thrown ??= e
          }
        }
      }
      for (let i = 0; i < waiters.length; i++) {
        const w = waiters[i]!
        Deferred.unsafeDone(w.done, failures > w.failuresBefore ? Exit.fail(lastError!) : Exit.void)
      }
      const logs: Array<Effect.Effect<void>> = []
      if (error !== undefined) {
        logs.push(Effect.logError(`message log write of ${batches.length} batches failed`, error))
      }
      if (thrown !== undefined) logs.push(Effect.logError("a durability callback threw", Cause.die(thrown)))
      return logs.length === 0 ? Effect.void : Effect.all(logs, { discard: true })
    })
  })

  yield* Effect.forkScoped(
    Effect.forever(
      Effect.zipRight(
        Effect.zipRight(wake.await, window),
        // Interrupted only while idle at `wake.await`: a pass always settles its callbacks.
        Effect.uninterruptible(flushPass).pipe(
          Effect.catchAllCause((cause) => Effect.logError("message log flusher pass failed", cause))
        )
      )
    )
  )

  const flush: Effect.Effect<void, StorageError> = Effect.suspend(() => {
    if (dirty.length === 0 && !writing && deletions.length === 0) return Effect.void
    const done = Deferred.unsafeMake<void, StorageError>(FiberId.none)
    flushWaiters.push({ done, failuresBefore: failures })
    wake.unsafeOpen()
    return Deferred.await(done)
  })

  // Added after the fork, so it runs before the flusher is interrupted: graceful shutdown
  // writes every record appended so far.
  yield* Effect.addFinalizer(() =>
    flush.pipe(Effect.catchAll((e) => Effect.logError("message log: final flush failed", e)))
  )

  // -------------------------------------------------------------------------------------------
  // read

  /**
   * Stored records first, then pending ones. Sizes are estimated per record (estimateSize), so
   * the budget cuts inside a stored batch as well; at least one record comes back if any exists.
   */
  const read = (tp: TopicPartition, fromOffset: number, maxBytes: number) =>
    Effect.gen(function* () {
      const out: Array<StoredRecord> = []
      let next = fromOffset
      let bytes = 0
      // A flush may finish while we wait on the driver, moving records from memory to storage,
      // so the memory boundary is re-read after every driver call.
      while (true) {
        const p = partitions.get(tp)
        const memoryStart = p === undefined ? Number.POSITIVE_INFINITY : p.memoryStart()
        if (next >= memoryStart || deleting.has(tp)) break
        const batches = yield* driver.readRange(tp, next, Math.max(1, maxBytes - bytes))
        let progressed = false
        for (const b of batches) {
          const records = decodeBatch(b.bytes)
          if (typeof records === "string") {
            return yield* new StorageError({
              op: "read",
              path: tp,
              cause: new Error(`batch at offset ${b.baseOffset}: ${records}`)
            })
          }
          for (const r of records) {
            if (r.offset < next) continue
            const size = estimateSize(r)
            if (out.length > 0 && bytes + size > maxBytes) return out as ReadonlyArray<StoredRecord>
            out.push(r)
            bytes += size
            next = r.offset + 1
            progressed = true
          }
        }
        if (!progressed) break
      }
      const p = partitions.get(tp)
      if (p !== undefined) p.readPending(next, maxBytes - bytes, out)
      return out as ReadonlyArray<StoredRecord>
    })

  const noBatches: ReadonlyArray<EncodedBatch> = []

  /** Durable batches only: what the driver holds is below the high watermark by construction. */
  const readBatches = (tp: TopicPartition, fromOffset: number, maxBytes: number) =>
    deleting.has(tp) ? Effect.succeed(noBatches) : driver.readRange(tp, fromOffset, maxBytes)

  const startOffset = (tp: TopicPartition) =>
    Effect.map(readBatches(tp, 0, 1), (batches) => {
      if (batches.length > 0) return batches[0]!.baseOffset
      return unsafeHighWatermark(tp)
    })

  const truncateBefore = (tp: TopicPartition, offset: number) => driver.truncateBefore(tp, offset)

  const offsetForTimestamp = (tp: TopicPartition, timestamp: number) =>
    deleting.has(tp) ? Effect.succeed(null) : driver.offsetForTimestamp(tp, timestamp)

  // -------------------------------------------------------------------------------------------
  // delete

  const deletionError = (tp: TopicPartition) =>
    new StorageError({ op: "write", path: tp, cause: new Error(`partition ${tp} was deleted before this record was written`) })

  const deletePartition = (tp: TopicPartition): Effect.Effect<void, StorageError> =>
    Effect.suspend(() => {
      const p = partitions.get(tp)
      let thrown: unknown = undefined
      if (p !== undefined) {
        partitions.delete(tp)
        partitionList = null
        // Batches a pass is writing are counted off when it settles them; the rest never will be.
        for (const b of p.pending) if (b.state !== BATCH_WRITING) unwritten.bytes -= b.bytes
        const { callbacks, watchers } = p.abandon()
        if (callbacks.length > 0) {
          const error = deletionError(tp)
          for (let i = 0; i < callbacks.length; i++) {
            try {
              callbacks[i]!(error)
            } catch (e) {
              thrown ??= e
            }
          }
        }
        for (let i = 0; i < watchers.length; i++) {
          try {
            watchers[i]!.wake()
          } catch (e) {
            thrown ??= e
          }
        }
      }
      const done = Deferred.unsafeMake<void, StorageError>(FiberId.none)
      deletions.push({ tp, done })
      deleting.set(tp, (deleting.get(tp) ?? 0) + 1)
      wake.unsafeOpen()
      const log = thrown === undefined ? Effect.void : Effect.logError("a durability callback threw", Cause.die(thrown))
      return Effect.zipRight(log, Deferred.await(done))
    })

  const unsafeUnwrittenBytes = (): number => unwritten.bytes

  const unsafeOnPass = (taking: () => ((ok: boolean) => void) | null): void => {
    passListener = taking
  }

  const unsafeAfterNextPass = (done: () => void): void => {
    passWaiters.push(done)
    wake.unsafeOpen()
  }

  return MessageLog.of({
    stats,
    unsafeAppend,
    unsafeUnwrittenBytes,
    unsafeAfterNextPass,
    unsafeOnPass,
    unsafeAppendBatch,
    unsafeOnDurable,
    unsafeEndOffset,
    unsafeHighWatermark,
    unsafeOnAdvance,
    unsafePartitions,
    read,
    readBatches,
    startOffset,
    truncateBefore,
    offsetForTimestamp,
    deletePartition,
    flush
  })
})

export const layer: Layer.Layer<MessageLog, StorageError, LogDriver> = Layer.scoped(MessageLog, make)
