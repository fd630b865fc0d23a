/**
 * What a node held for a session while it was down, sent on to the node that holds the session
 * now. A node that restarts on its data restores its persistent sessions; one that resumed on
 * another node meanwhile (its client reconnected there, with the subscriptions of the session
 * directory but none of the messages this node had queued for it) is a remnant here: what it
 * still owes its client goes to the holder etcd names, in REMNANT frames of at most
 * REMNANT_CHUNK messages, each answered by a PUSHACK once the holder has merged and stored it
 * (or, holding no such session any more, dropped it). The session ends here only when every part
 * is acknowledged; until then it stays stored, out of this node's routes, so it collects nothing
 * more. A holder out of reach for HAND_ON_WITHIN_MS leaves it stored here, to be sent again at
 * the next start: unacknowledged messages are never dropped.
 */
import { Deferred, Effect, Runtime } from "effect"
import { decideMove } from "../../domain/session/decide.js"
import type { CoordinationService } from "../../services/Coordination.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import type { StorageError } from "../../services/errors.js"
import { mergeRemnant, type MovedMessage, remnantOf } from "../mqtt/engine/handOver.js"
import type { LiveSession } from "../mqtt/engine/LiveSession.js"
import { encodePushAck, encodeRemnant, type PushAck, type Remnant } from "./linkFrames.js"
import type { NodeLink } from "./NodeLink.js"
import { ownershipKey as sessionKey } from "./SessionDirectory.js"

/** At most this many messages, and about this many payload bytes, per REMNANT frame: well below the link's frame limit. */
export const REMNANT_CHUNK = 1000
export const REMNANT_CHUNK_BYTES = 16 * 1024 * 1024
/** How long a remnant waits for its holder (links come up after the join) before it stays here. */
const HAND_ON_WITHIN_MS = 30_000
/** How long one REMNANT waits for its PUSHACK, and the pause before it is sent again. */
const ACK_WAIT_MS = 5000
const RETRY_PAUSE_MS = 1000

/**
 * A worker sending remnants on behalf of a dead sibling, from the sibling's data directory
 * (GhostRemnants): the remnants are the sibling's (`self`), sent by this process (`sender`).
 */
export interface OnBehalf {
  /** The node this process is. */
  readonly sender: string
  /** Merges a remnant into a session held by this process (no link to itself). */
  readonly here: (remnant: Remnant) => Effect.Effect<boolean>
  /** True once the sibling has its data directory back: it sends what is left itself, so failures here are not errors. */
  readonly gone: () => boolean
}

export class Remnants {
  private readonly waiting = new Map<number, { readonly target: string; readonly acked: Deferred.Deferred<boolean> }>()

  constructor(
    /** The node whose sessions these are (whose id names their remnants). */
    private readonly self: string,
    private readonly coordination: CoordinationService,
    private readonly engine: Engine,
    private readonly link: NodeLink,
    /** Request ids shared with SessionOwnership's pushes: both are answered by PUSHACK. */
    private readonly nextId: () => number,
    private readonly runtime: Runtime.Runtime<never>,
    /** Whether a record of `node`'s log reaches this node's routes by the link: a catch-up replays it (LinkCatchUp). */
    private readonly willReplay: (node: string, tp: string, offset: number) => boolean,
    /** Whether a CONNECT is resuming this client's session here right now (claimed, not yet open). */
    private readonly claiming: (clientId: string) => boolean = () => false,
    private readonly onBehalf: OnBehalf | null = null
  ) {}

  /**
   * A restored session that `owner` holds now (its client resumed there): what it still owes
   * goes there in the background (handOn), or, owing nothing, it ends here at once (no will:
   * the session lives on elsewhere). It leaves this engine's routes first, so it collects
   * nothing more. Fails only if its backlog cannot be read: it then stays stored.
   */
  settle(session: LiveSession, owner: string): Effect.Effect<void, StorageError> {
    return Effect.gen(this, function*() {
      session.pendingWill = null
      // Read while its subscriptions are still there: the backlog past its cursor is found by them.
      const owed = yield* Effect.ensuring(remnantOf(this.engine, session), Effect.sync(() => this.engine.detach(session)))
      if (owed.length === 0) {
        yield* this.engine.endSession(session, decideMove(session.state)) ?? Effect.void
        return yield* Effect.logWarning(`cluster: session ${session.clientId} is held by ${owner} now (it resumed there while ${this.self} was down): it owed nothing on ${this.self}, ended on ${this.self}`)
      }
      yield* Effect.logWarning(`cluster: session ${session.clientId} is held by ${owner} now (it resumed there while ${this.self} was down): the ${owed.length} message(s) it still owed on ${this.self} go to its holder`)
      this.handOn(session, owed)
    })
  }

  /**
   * Sends `owed` (read from `session`, which another node holds now) to the holder, part by
   * part, then ends the session here. Runs in the background: the caller goes on at once.
   */
  handOn(session: LiveSession, owed: ReadonlyArray<MovedMessage>): void {
    const clientId = session.clientId
    // The same remnant read again after a crash of this node carries the same key: its parts merge once.
    const base = `${this.self}@${session.state.checkpoint?.at ?? 0}`
    const deadline = Date.now() + HAND_ON_WITHIN_MS
    const work = Effect.gen(this, function*() {
      let holder = ""
      const parts = remnantParts(owed)
      for (let part = 0; part < parts.length; part++) {
        const sent = yield* this.sendPart(session, `${base}#${part}`, parts[part]!, deadline)
        if (sent === "stop") return
        holder = sent
      }
      if (this.engine.sessions.get(clientId) !== session) return
      // Handed on: ending it must not pass any of it to a share group here (the holder has it).
      session.inflight = null
      session.queue = null
      session.cursor = null
      session.pendingWill = null
      yield* this.engine.endSession(session, decideMove(session.state)) ?? Effect.void
      const where = this.onBehalf === null ? "here" : `on ${this.self}`
      yield* Effect.logInfo(`cluster: session ${clientId}: the ${owed.length} message(s) it still owed ${where} went to ${holder}, which holds it now; ended ${where}`)
    }).pipe(Effect.catchAll((e) =>
      this.onBehalf?.gone() === true
        ? Effect.void
        : Effect.logError(`cluster: handing on what session ${clientId} owed failed; it stays stored on ${this.self}, and its next start sends it again`, e)
    ))
    Runtime.runFork(this.runtime)(work)
  }

  /** Sends one part until its holder acknowledges it; the holder's id, or "stop" (logged) when it stays or goes here. */
  private sendPart(session: LiveSession, key: string, owed: ReadonlyArray<MovedMessage>, deadline: number): Effect.Effect<string | "stop"> {
    const clientId = session.clientId
    return Effect.gen(this, function*() {
      let why = ""
      while (true) {
        if (this.engine.sessions.get(clientId) !== session) {
          yield* Effect.logWarning(`cluster: session ${clientId} was taken over or ended here while its remnant waited for its holder: ${owed.length} message(s) of it not sent on`)
          return "stop"
        }
        const owner = yield* this.coordination.ownerOf(sessionKey(clientId)).pipe(
          Effect.map((o) => (o === null ? null : o.owner)),
          Effect.catchAll((e) => Effect.as(Effect.sync(() => (why = `etcd: ${e.message}`)), undefined))
        )
        if (owner === null) {
          // Nobody holds it: it ended on its holder (expired or ended by its client) meanwhile.
          yield* Effect.logWarning(`cluster: session ${clientId} is held by no node now (it ended elsewhere): the ${owed.length} message(s) it still owed on ${this.self} are dropped`)
          session.pendingWill = null
          yield* this.engine.endSession(session, decideMove(session.state)) ?? Effect.void
          return "stop"
        }
        if (owner === this.self) {
          yield* Effect.logWarning(`cluster: session ${clientId} is held by ${this.self} again: its remnant is not sent on`)
          return "stop"
        }
        if (owner !== undefined) {
          const ok = yield* this.send(owner, { id: 0, key, clientId, owed })
          if (ok) return owner
          why = `${owner} did not store it`
        }
        if (Date.now() >= deadline) {
          yield* Effect.logError(`cluster: session ${clientId} owes ${owed.length} message(s) here that could not go to its holder within ${HAND_ON_WITHIN_MS / 1000} s (${why}): it stays stored on this node, and the next start sends them again`)
          return "stop"
        }
        yield* Effect.sleep(RETRY_PAUSE_MS)
      }
    }).pipe(Effect.catchAll((e) => Effect.as(Effect.logError(`cluster: session ${clientId}: its remnant could not be handled`, e), "stop" as const)))
  }

  /** One REMNANT frame to `target`: true once it answers that it stored (or dropped) it. */
  private send(target: string, remnant: Remnant): Effect.Effect<boolean> {
    if (this.onBehalf !== null && target === this.onBehalf.sender) return this.onBehalf.here(remnant)
    const id = this.nextId()
    const origin = this.onBehalf === null ? {} : { origin: this.self }
    return Effect.gen(this, function*() {
      const acked = yield* Deferred.make<boolean>()
      this.waiting.set(id, { target, acked })
      if (!this.link.sendControl(target, encodeRemnant({ ...remnant, id, ...origin }))) return false
      return yield* Deferred.await(acked).pipe(Effect.timeoutTo({ duration: ACK_WAIT_MS, onTimeout: () => false, onSuccess: (ok) => ok }))
    }).pipe(Effect.ensuring(Effect.sync(() => this.waiting.delete(id))))
  }

  /** A PUSHACK: true when it answered a REMNANT of this node's. */
  onAck(ack: PushAck): boolean {
    const waiting = this.waiting.get(ack.id)
    if (waiting === undefined) return false
    Deferred.unsafeDone(waiting.acked, Effect.succeed(ack.ok))
    return true
  }

  onLinkDown(node: string): void {
    for (const w of this.waiting.values()) if (w.target === node) Deferred.unsafeDone(w.acked, Effect.succeed(false))
  }

  /**
   * Another node sends what `remnant.clientId`'s session owed there (or, `origin` set, on a dead
   * sibling's behalf): merged and stored, then answered.
   */
  onRemnant(from: string, remnant: Remnant): void {
    const work = Effect.flatMap(this.receive(remnant.origin ?? from, remnant), (ok) =>
      Effect.sync(() => this.link.sendControl(from, encodePushAck({ id: remnant.id, ok }))))
    Runtime.runFork(this.runtime)(work)
  }

  /**
   * What `remnant.clientId`'s session owed on `origin`, merged into the session here (connected
   * or not) and stored, if etcd says this node holds it: true once stored (or dropped, the
   * session having ended here); false when the sender should ask the holder again.
   */
  receive(origin: string, remnant: Remnant): Effect.Effect<boolean> {
    const { clientId } = remnant
    return Effect.gen(this, function*() {
      const owner = yield* this.coordination.ownerOf(sessionKey(clientId)).pipe(Effect.retry({ times: 2 }))
      if (owner === null || owner.owner !== this.self) {
        yield* Effect.logWarning(`cluster: what session ${clientId} owed on ${origin} came here, but etcd says ${JSON.stringify(owner)}: not merged here (it asks the holder again)`)
        return false
      }
      const session = this.engine.sessions.get(clientId)
      if (session === undefined && this.claiming(clientId)) {
        // Claimed here, not open yet: a moment later it is (asked again after RETRY_PAUSE_MS).
        yield* Effect.logInfo(`cluster: what session ${clientId} owed on ${origin} came while it is being resumed here: asked again`)
        return false
      }
      if (session === undefined) {
        yield* Effect.logWarning(`cluster: ${remnant.owed.length} message(s) session ${clientId} owed on ${origin} came here, but it has ended here: dropped`)
        return true
      }
      // The origin's catch-up brings what it logged from where this node's progress stood: the
      // session here gets those through its routes, so only what was never sent is left out here.
      // Not what another node had forwarded it (relayed): its catch-up never sends those again.
      const replayed = (m: MovedMessage) => m.packetId === 0 && m.at !== null && !m.message.relayed && this.willReplay(origin, m.at[0], m.at[1])
      const merged = mergeRemnant(this.engine, session, origin, remnant.key, remnant.owed, replayed)
      if (merged === null) {
        yield* Effect.logInfo(`cluster: part ${remnant.key} of session ${clientId}'s remnant came again: merged before, not again`)
        return true
      }
      yield* merged.persist ?? Effect.void
      yield* Effect.logInfo(`cluster: session ${clientId}: merged ${merged.merged} message(s) it owed on ${origin}${merged.replayed > 0 ? `, left out ${merged.replayed} that ${origin}'s catch-up brings` : ""}${merged.dropped > 0 ? ` (${merged.dropped} expired or already released by its client, not merged)` : ""}`)
      return true
    }).pipe(Effect.catchAll((e) => Effect.as(Effect.logError(`cluster: merging what session ${clientId} owed on ${origin} failed; it is sent again`, e), false)))
  }
}

/** `owed` cut into REMNANT parts (the same cut for the same messages: a part's key names it). */
export const remnantParts = (owed: ReadonlyArray<MovedMessage>): Array<ReadonlyArray<MovedMessage>> => {
  const out: Array<ReadonlyArray<MovedMessage>> = []
  let start = 0
  let bytes = 0
  for (let i = 0; i < owed.length; i++) {
    const size = owed[i]!.message.payload.length + owed[i]!.message.topic.length
    if (i > start && (i - start >= REMNANT_CHUNK || bytes + size > REMNANT_CHUNK_BYTES)) {
      out.push(owed.slice(start, i))
      start = i
      bytes = 0
    }
    bytes += size
  }
  if (start < owed.length) out.push(owed.slice(start))
  return out
}
