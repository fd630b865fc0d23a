import { Effect } from "effect"
import { streamOf, type TopicPartition } from "../../../domain/ids.js"
import type { StorageError } from "../../../services/errors.js"
import { type Engine, RETAINED_TP } from "./Engine.js"
import { MOVED_TP } from "./handOver.js"
import { PROGRESS_TP } from "./ProgressJournal.js"

/**
 * MQTT log retention. A stored session needs, per partition of the topics MQTT writes to,
 * everything from its last checkpoint's position plus its pending entries; `__retained` is
 * needed only past the last retained snapshot, and `__moved` (sessions handed over from another
 * node) only where a session's pending entries point. With Kafka off nothing else reads the MQTT
 * topics, so what no session needs is deleted here; with Kafka on, Kafka retention deletes by
 * age and size and this only tells it (`holds`) what sessions still need, so it never deletes
 * a queued message of a persistent session. In a cluster, other nodes' claims on the log count
 * as well (NodeLink.keepFrom).
 */
export const applyRetention = (engine: Engine): Effect.Effect<void, StorageError> =>
  Effect.suspend(() => {
    const trim = !engine.config.kafka.enabled
    const floors = new Map<TopicPartition, number>()
    for (const tp of engine.log.unsafePartitions()) {
      if (tp === RETAINED_TP) floors.set(tp, engine.retainedSnapshotEnd)
      else if (tp === MOVED_TP) floors.set(tp, engine.log.unsafeEndOffset(tp))
      else if (engine.mapping.carriesMqttTopics(streamOf(tp))) floors.set(tp, engine.log.unsafeEndOffset(tp))
    }
    const lower = (tp: string, offset: number) => {
      const floor = floors.get(tp as TopicPartition)
      if (floor !== undefined && offset < floor) floors.set(tp as TopicPartition, offset)
    }
    // In a cluster, what other nodes may ask for again (a catch-up after a lost link, or for a
    // session whose dead holder they were routing to) is kept too.
    const remote = engine.remote
    if (remote !== null) {
      for (const tp of floors.keys()) {
        const keep = remote.keepFrom(tp)
        if (keep !== undefined) lower(tp, keep)
      }
    }
    let keepAll = false
    for (const session of engine.sessions.values()) {
      if (!session.stored) continue
      // The last checkpoint written, not the last taken: a crash before its append restarts
      // from the one before, which needs what lies between the two.
      const cp = session.durableCheckpoint
      if (cp === null) {
        keepAll = true // may need anything: keep everything this time
        break
      }
      for (const tp of floors.keys()) {
        if (tp === RETAINED_TP || tp === MOVED_TP) continue // no checkpoint position: pending entries say
        lower(tp, cp.positions.find(([t]) => t === tp)?.[1] ?? 0)
      }
      for (const e of cp.pending) lower(e.tp, e.offset)
      // Owed since the checkpoint (a share group's picks, re-shares) may lie below it.
      if (session.cursor !== null) for (const e of session.cursor.owed) lower(e.tp, e.offset)
    }
    // The journal is needed from the checkpoint on of each stored session that recorded ops
    // since (an offline session records none: it does not hold the journal back).
    let journalFloor = engine.journal.end()
    for (const session of engine.sessions.values()) {
      if (!session.stored) continue
      const at = session.durableCheckpoint?.positions.find(([tp]) => tp === PROGRESS_TP)?.[1] ?? 0
      if (session.lastProgressOffset >= at && at < journalFloor) journalFloor = at
    }
    const truncations: Array<Effect.Effect<void, StorageError>> = []
    if (!keepAll && journalFloor > 0) truncations.push(engine.log.truncateBefore(PROGRESS_TP, journalFloor))
    for (const [tp, floor] of floors) {
      if (tp === RETAINED_TP || tp === MOVED_TP || trim) {
        if (!keepAll && floor > 0) truncations.push(engine.log.truncateBefore(tp, floor))
      } else engine.holds?.(tp, keepAll ? 0 : floor)
    }
    return Effect.all(truncations, { discard: true })
  })

