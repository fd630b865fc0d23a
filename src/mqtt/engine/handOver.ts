/**
 * A session moving between nodes of a cluster (src/cluster/SessionOwnership.ts): the node that
 * held it exports its subscriptions, what it owes its client (in flight under the same packet
 * ids, queued, and the backlog its cursor kept in the log) and its inbound QoS 2 ids awaiting
 * PUBREL, then ends it (SessionEnded "moved"); the node taking it over imports that as a
 * disconnected persistent session, stored like one (its messages appended to this node's log),
 * which the CONNECT then resumes as usual. The messages go to this node's `__moved` partition.
 */
import { Effect } from "effect"
import { topicPartition } from "../../../domain/ids.js"
import { decideConnect, decideMove } from "../../../domain/session/decide.js"
import { SessionDisconnected, type SessionEvent, SubscriptionAdded } from "../../../domain/session/events.js"
import { emptySession, type QoS, type SubscriptionOptions } from "../../../domain/session/Session.js"
import type { StorageError } from "../../../services/errors.js"
import type { Engine } from "./Engine.js"
import { type Outlet, Outgoing } from "./LiveSession.js"
import type { Message } from "./Message.js"

/**
 * Where a moved session's messages are stored on the node that takes it: an internal partition,
 * so no other session's cursor and no Kafka reader sees them as new messages; its checkpoint
 * names them by position, and retention keeps them until it no longer does.
 */
export const MOVED_TP = topicPartition("__moved", 0)

/** The most messages a session takes along; beyond it the oldest stay behind (logged by the caller). */
export const MAX_MOVED_MESSAGES = 100_000

/** One message owed to the client, as it stood on the node that held it. */
export interface MovedMessage {
  readonly message: Message
  readonly qos: QoS
  readonly retain: boolean
  readonly subscriptionIds: ReadonlyArray<number> | null
  /** 0: never sent; else the packet id it went out under (resent with DUP). */
  readonly packetId: number
  readonly stage: 0 | 1
  /** `<group>/<filter>` of the share group it came through, or null. */
  readonly group: string | null
}

export interface MovedSession {
  readonly clientId: string
  readonly expiryInterval: number
  readonly subscriptions: ReadonlyArray<readonly [string, SubscriptionOptions]>
  readonly owed: ReadonlyArray<MovedMessage>
  readonly qos2Inbound: ReadonlyArray<number>
}

const moved = (o: Outgoing): MovedMessage => ({
  message: o.msg,
  qos: o.qos,
  retain: o.retainFlag,
  subscriptionIds: o.subscriptionIds,
  packetId: o.packetId,
  stage: o.stage,
  group: o.group?.key ?? null
})

/**
 * Ends the session here and returns its state for the node taking it over; null when there is
 * none, when it ends with its connection anyway (expiry 0), or when the new connection asked
 * for a Clean Start (`cleanStart`: nothing to carry). `kick` closes its connection
 * (DISCONNECT 0x8E Session taken over) first.
 */
export const exportSession = (engine: Engine, clientId: string, kick: (conn: Outlet) => void, cleanStart = false): Effect.Effect<MovedSession | null, StorageError> =>
  Effect.gen(function*() {
    const session = engine.sessions.get(clientId)
    if (session === undefined) return null
    const conn = session.conn
    if (conn !== null) {
      session.conn = null // its close then takes the "taken over" path: an undelayed will goes out
      kick(conn)
      session.park()
    }
    if (!session.persistent || cleanStart) {
      // The session ends: a delayed will goes out now, as on one node (§3.1.3.2.2).
      yield* engine.endSession(session, decideMove(session.state)) ?? Effect.void
      return null
    }
    yield* engine.backlog.drain(session, MAX_MOVED_MESSAGES)
    if (engine.sessions.get(clientId) !== session) return null // ended or taken meanwhile
    const owed = [...(session.inflight?.values() ?? []), ...(session.queue ?? [])].map(moved)
    const out: MovedSession = {
      clientId,
      expiryInterval: session.state.expiryInterval,
      subscriptions: [...session.subscriptions.values()].map((s) => [s.raw, s.options] as const),
      owed,
      qos2Inbound: [...(session.qos2Inbound?.keys() ?? [])]
    }
    // A delayed will of the old connection is cancelled by the reconnect elsewhere [MQTT-3.1.3-9].
    session.pendingWill = null
    yield* engine.endSession(session, decideMove(session.state)) ?? Effect.void
    return out
  })

/**
 * Makes `moved` a disconnected persistent session here (replacing any stale copy), stored with
 * its subscriptions and a checkpoint naming its messages, which are appended to MOVED_TP.
 * `installed` runs the moment it starts getting what this node routes (before it is stored).
 */
export const importSession = (engine: Engine, moved: MovedSession, installed?: () => void): Effect.Effect<void, StorageError> =>
  Effect.suspend(() => {
    const { clientId } = moved
    const stale = engine.sessions.get(clientId)
    if (stale !== undefined) stale.pendingWill = null
    const ending = stale === undefined || stale.conn !== null ? null : engine.endSession(stale, decideMove(stale.state))
    const session = engine.newSession(clientId, emptySession(clientId, moved.expiryInterval))
    engine.sessions.set(clientId, session)
    const events: Array<SessionEvent> = [...decideConnect(undefined, { clientId, cleanStart: true, expiryInterval: moved.expiryInterval, will: null }).events]
    for (const [raw, options] of moved.subscriptions) {
      engine.addSubscription(session, raw, options)
      events.push(new SubscriptionAdded({ clientId, filter: raw, ...options }))
    }
    for (const m of moved.owed) {
      const msg = m.message
      if (msg.qos > 0) {
        msg.tp = MOVED_TP
        msg.offset = engine.log.unsafeAppend(MOVED_TP, msg)
        msg.appended = true
      }
      const group = m.group === null ? null : session.subscriptions.get(`$share/${m.group}`)?.group ?? null
      const o = new Outgoing(msg, m.qos, m.retain, m.subscriptionIds, group)
      o.packetId = m.packetId
      o.stage = m.stage
      o.maybeSent = m.packetId !== 0
      session.restore(o)
    }
    if (moved.qos2Inbound.length > 0) session.qos2Inbound = new Map(moved.qos2Inbound.map((id) => [id, null]))
    events.push(new SessionDisconnected({ clientId, at: Date.now(), expiryInterval: moved.expiryInterval }))
    installed?.() // from here on, what this node routes reaches the session
    const commit = engine.commit(session, events, true)
    session.park()
    return Effect.zipRight(ending ?? Effect.void, commit ?? Effect.void)
  })
