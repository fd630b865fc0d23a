/**
 * Rebuilding groups from storage, and keeping that cheap. `foldGroups` reads the groups
 * snapshot plus every `group-*` event after it; `snapshotGroups` saves the result as the new
 * snapshot and prunes the group events it covers, so boot time stays flat however many
 * offsets are committed (the same scheme as the MQTT engine's "mqtt-sessions" snapshot). Both
 * read only what storage holds, never the live read model, so a snapshot can never contain an
 * event that was not durable.
 */
import { Effect, Schema } from "effect"
import { DURABLE_EVENT_TYPES, GroupEvent, groupIdOfStream, isGroupStream } from "../../../domain/group/events.js"
import { evolve } from "../../../domain/group/evolve.js"
import type { GroupState } from "../../../domain/group/Group.js"
import { decodeGroups, encodeGroups } from "../../../domain/group/snapshot.js"
import { StorageError } from "../../../services/errors.js"
import type { EventStore } from "../../../services/EventStore.js"

export const GROUPS_SNAPSHOT = "kafka-groups"

const decodeEvent = Schema.decodeUnknownSync(GroupEvent)

export interface FoldedGroups {
  readonly groups: Map<string, GroupState>
  /** Global position of the last event folded in. */
  readonly position: number
  /** Group events read after the snapshot. */
  readonly replayed: number
  readonly hadSnapshot: boolean
}

export const foldGroups = (store: EventStore["Type"]): Effect.Effect<FoldedGroups, StorageError> =>
  Effect.gen(function*() {
    const snap = yield* store.loadSnapshot(GROUPS_SNAPSHOT)
    const events = yield* store.readAll(snap?.position ?? 0)
    return yield* Effect.try({
      try: () => {
        const groups = snap === undefined ? new Map<string, GroupState>() : decodeGroups(snap.data)
        let position = snap?.position ?? 0
        let replayed = 0
        for (const r of events) {
          position = r.position
          if (!isGroupStream(r.stream)) continue
          const groupId = groupIdOfStream(r.stream)
          const group = evolve(groups.get(groupId), decodeEvent(r.data))
          // A deleted group leaves no trace: not in the snapshot, not rebuilt.
          if (group.state === "Dead") groups.delete(groupId)
          else groups.set(groupId, group)
          replayed++
        }
        return { groups, position, replayed, hadSnapshot: snap !== undefined }
      },
      catch: (cause) => new StorageError({ op: "recover", path: GROUPS_SNAPSHOT, cause })
    })
  })

/** Folds, saves the snapshot when anything changed, and prunes the group events behind it. */
export const snapshotGroups = (store: EventStore["Type"]): Effect.Effect<FoldedGroups, StorageError> =>
  Effect.gen(function*() {
    const folded = yield* foldGroups(store)
    if (folded.replayed === 0 && folded.hadSnapshot) return folded
    yield* store.saveSnapshot(GROUPS_SNAPSHOT, { position: folded.position, data: encodeGroups(folded.groups.values()) })
    yield* store.prune(DURABLE_EVENT_TYPES, folded.position)
    return folded
  })
