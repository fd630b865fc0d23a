/**
 * `--workers`: while this worker holds a dead sibling's data directory (StoreAdoption), it also
 * serves what the sibling's persistent sessions still owed their clients, instead of leaving
 * that to the sibling's restart. It rebuilds the sibling's engine from the directory (a ghost:
 * no housekeeping, no listeners, no routes), and settles each restored session that the
 * coordination says a live node other than the sibling holds now (its client resumed there)
 * as the sibling would at its restart (Remnants.settle): what it owed goes to the holder in
 * REMNANT parts keyed by the sibling's id, then the session ends in the sibling's store, so the
 * restart finds nothing to send. A sibling back first fences the ghost's writes: it sends what
 * is left itself, and the holder merges each part once. Never touches this worker's own engine
 * but through the holder's merge.
 */
import { Effect } from "effect"
import type { BrokerConfigShape } from "../../../config/BrokerConfigShape.js"
import type { StreamMapping } from "../../../domain/topic/StreamMapping.js"
import type { CoordinationService } from "../../../services/Coordination.js"
import type { LiveSession } from "../../mqtt/engine/LiveSession.js"
import { makeEngine } from "../../mqtt/engine/MqttEngine.js"
import type { ClusterNodeService } from "../ClusterNode.js"
import { sessionOwners, type SessionOwnership } from "../SessionOwnership.js"
import type { WhileHeld } from "./StoreAdoption.js"

/** How often the ghost looks for sessions of its sibling resumed on other workers (only while a sibling is down). */
const CHECK_MS = 1000

export interface GhostOptions {
  readonly node: ClusterNodeService
  readonly coordination: CoordinationService
  readonly sessions: SessionOwnership
  readonly config: BrokerConfigShape
  readonly mapping: StreamMapping
}

/** What StoreAdoption runs for each sibling store it holds: the ghost of that sibling's sessions. */
export const ghostRemnants = (o: GhostOptions): WhileHeld => (home, store, gone) =>
  Effect.gen(function*() {
    const built = yield* Effect.either(makeEngine(o.config, store.log, store.events, o.mapping, null))
    if (built._tag === "Left") {
      if (!gone()) yield* Effect.logWarning(`workers: the sessions of ${home} could not be read from its data directory (${built.left.message}); what they owe reaches them when ${home} is back`)
      return
    }
    const engine = built.right
    if (engine.sessions.size === 0) return
    const wake = yield* Effect.makeLatch(false)
    const { remnants, remove } = o.sessions.onBehalfOf(home, engine, gone, () => wake.unsafeOpen())
    yield* Effect.addFinalizer(() => Effect.sync(remove))
    yield* Effect.log(`workers: ${engine.sessions.size} persistent session(s) of ${home} read from its data directory: what they owe goes to the node each resumes on`)
    const settled = new Set<LiveSession>()
    const settleResumed = Effect.gen(function*() {
      const waiting = [...engine.sessions.values()].filter((s) => !settled.has(s))
      // Only the owners of its own unsettled sessions, not every session's of the cluster.
      const owners = yield* sessionOwners(o.coordination, waiting.map((s) => s.clientId))
      for (const session of waiting) {
        if (settled.has(session) || gone()) continue
        const owner = owners.get(session.clientId)
        if (owner === undefined || owner === home || o.node.member(owner) === undefined) continue
        settled.add(session)
        yield* remnants.settle(session, owner).pipe(Effect.catchAll((e) =>
          gone() ? Effect.void : Effect.logError(`workers: reading what session ${session.clientId} owed on ${home} failed; ${home} sends it when it is back`, e)
        ))
      }
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`workers: cannot list who holds the sessions of ${home} now (${e.message}); trying again`)))
    yield* Effect.forkScoped(Effect.gen(function*() {
      // Until every session is settled (the rest reach their clients when the sibling is back) or the sibling is back.
      while (!gone() && [...engine.sessions.values()].some((s) => !settled.has(s))) {
        yield* settleResumed
        // A session resumed here wakes it at once; elsewhere, the next check finds it.
        yield* Effect.timeout(wake.await, CHECK_MS).pipe(Effect.ignore)
        wake.unsafeClose()
      }
    }))
  })
