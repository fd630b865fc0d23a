/**
 * A client id is unique in the cluster: `sessions/<clientId>` in etcd names the node that holds
 * its session and a fencing epoch. A CONNECT claims it (epoch + 1) before the session opens; if
 * another live node held it, that node is asked over the link to hand it over: it closes the
 * old connection (DISCONNECT 0x8E), exports the session and ends it there, and this node
 * imports it, so the CONNECT resumes it with its subscriptions and what was queued (a Clean
 * Start asks it to end the session instead, so a delayed will goes out there). A node hands
 * a session only to the owner etcd names at the epoch asked for: a stale or forged request gets
 * nothing. A dead holder (not a member) hands nothing: the session resumes here from the
 * session directory (subscriptions only), and what the dead node held for it follows once that
 * node is back on its data (Remnants.ts).
 */
import { Deferred, Effect, Runtime } from "effect"
import { type CoordinationService, type Ownership } from "../../services/Coordination.js"
import { ReasonCode } from "../../domain/ReasonCode.js"
import type { Connection } from "../mqtt/Connection.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import { exportSession, importSession, type MovedSession } from "../mqtt/engine/handOver.js"
import type { ClusterNodeService } from "./ClusterNode.js"
import { encodePushAck, encodeSession, encodeTakeOver, FrameType, type PushAck, type Remnant, type SessionReply, type TakeOver } from "./linkFrames.js"
import type { Arrived, MovedAddress, MovedRoutes } from "./MovedRoutes.js"
import type { NodeLink } from "./NodeLink.js"
import { Remnants } from "./Remnants.js"
import type { SessionCatchUp } from "./SessionCatchUp.js"
import { ownershipKey as sessionKey, SessionDirectory } from "./SessionDirectory.js"

/** How long a CONNECT waits for the old node's hand-over before it goes on without it. */
const HAND_OVER_WAIT_MS = 3000
/** After handing a session to a node that asked, how long its messages wait for word that it is stored (see MovedRoutes). */
const TAKEN_OVER_STORED_MS = 3000
/** How long a stopping node waits for a node to store a session it pushed. */
const PUSH_WAIT_MS = 5000
/** Past this many restored sessions, the start logs how long reading their owners took. */
const MANY_RESTORED = 10_000

export class SessionOwnership {
  private nextRequest = 1
  private readonly waiting = new Map<number, { readonly holder: string; readonly reply: Deferred.Deferred<MovedSession | null> }>()
  private readonly pushes = new Map<number, { readonly target: string; readonly stored: Deferred.Deferred<PushAck> }>()
  /** Sessions handed to a node that asked (TAKEOVER), by asker and request id, until it says stored. */
  private readonly handed = new Map<string, MovedAddress>()
  /** Handing everything off (a clean stop): new CONNECTs are sent elsewhere (0x88). */
  private stopping = false
  readonly directory: SessionDirectory
  /** Asks the other nodes for what they routed to a dead holder, for a session resumed from the directory. */
  sessionCatchUp: SessionCatchUp | null = null
  /** Waits (bounded) until this node's route changes are in etcd; null when none are pending. */
  routesVisible: () => Effect.Effect<void> | null = () => null
  /** What restored sessions held by other nodes now still owed here, on its way to them. */
  private readonly remnants: Remnants
  /** Remnants sent here on behalf of dead sibling workers (onBehalfOf). */
  private readonly ghosts = new Set<Remnants>()
  /** Wakes the remnants sent on behalf of a dead sibling (by its id) when one of its sessions resumed here. */
  private readonly ghostWakes = new Map<string, () => void>()
  /** Client ids a CONNECT is claiming here (their sessions not open yet), with how many CONNECTs. */
  private readonly claiming = new Map<string, number>()

  constructor(
    private readonly node: ClusterNodeService,
    private readonly coordination: CoordinationService,
    private readonly engine: Engine,
    private readonly link: NodeLink,
    private readonly moved: MovedRoutes,
    private readonly runtime: Runtime.Runtime<never>,
    /** Where this node stands in every node's log now (LinkCatchUp.arrived): told to a session's old holder. */
    private readonly arrived: () => Arrived,
    /** Whether a record of another node's log reaches this node by the link anyway (LinkCatchUp). */
    willReplay: (node: string, tp: string, offset: number) => boolean = () => false
  ) {
    this.directory = new SessionDirectory(node.id, coordination, engine, runtime)
    this.remnants = new Remnants(node.id, coordination, engine, link, () => this.nextRequest++, runtime, willReplay, (clientId) => this.claiming.has(clientId))
  }

  /**
   * Makes this node the holder of `clientId`'s session, bringing its state from the node that
   * held it (with `cleanStart`, the old node ends it instead: its delayed will goes out there).
   * False when etcd cannot say (the CONNECT is refused with 0x88: try again).
   */
  claim(clientId: string, cleanStart: boolean): Effect.Effect<boolean> {
    const self = this.node.id
    const key = sessionKey(clientId)
    return Effect.gen(this, function*() {
      this.claiming.set(clientId, (this.claiming.get(clientId) ?? 0) + 1)
      if (this.stopping) return false
      let before = yield* this.coordination.ownerOf(key)
      while (before?.owner === self && !this.directory.keepOwnership(clientId)) {
        // This node is deleting the owner key of the last session of this id: claim after it.
        yield* this.directory.released(clientId)
        before = yield* this.coordination.ownerOf(key)
      }
      if (before?.owner === self) {
        this.directory.owned.set(clientId, before)
        return true
      }
      let raced = false
      const mine = yield* this.coordination.claim(key, self, before?.epoch ?? 0).pipe(
        // Another CONNECT of the same id raced this one: go on from what it left.
        Effect.catchTag("OwnershipConflict", (e) => {
          raced = true
          return e.current?.owner === self ? Effect.succeed(e.current) : this.coordination.claim(key, self, e.current?.epoch ?? 0)
        })
      )
      this.directory.owned.set(clientId, mine)
      // No owner key: the last session was released with its subs/ (one txn), or never stored.
      if (before === null && !raced) this.directory.claimedFresh(clientId)
      const holder = before?.owner
      if (holder === undefined || holder === self) return true
      // A live holder hands the whole session over; a dead one's record in etcd brings its
      // subscriptions, as does a holder that cannot be reached (it died, and its lease has not
      // run out yet). A clean start wants none of it.
      const handed = this.node.member(holder) !== undefined ? yield* this.fetch(holder, clientId, mine, cleanStart) : null
      const moved = handed?.session ?? (cleanStart ? null : yield* this.directory.stored(clientId))
      this.moved.forget(clientId)
      let arrived: Arrived = {}
      // From the directory: its holder died (or cannot be reached), and what the others routed
      // to it meanwhile is only in their logs: asked for from the moment the session is here.
      const fromDirectory = handed?.session == null
      const installed = () => {
        arrived = this.arrived()
        if (fromDirectory && moved !== null) this.sessionCatchUp?.start(clientId, holder, moved.subscriptions, this.node.members().map((m) => m.id))
      }
      const stored = moved === null ? true : yield* importSession(this.engine, moved, installed).pipe(
        Effect.as(true),
        Effect.catchAll((e) => Effect.as(Effect.logError(`cluster: storing session ${clientId} from ${holder} failed`, e), false))
      )
      // The old holder passes on what this node did not get itself since: where it stands now.
      if (handed?.session != null) this.link.sendControl(holder, encodePushAck({ id: handed.id, ok: stored, takeover: true, arrived }))
      // A dead holder whose data directory this worker holds: what it owed the session can come now.
      if (fromDirectory) this.ghostWakes.get(holder)?.()
      return true
    }).pipe(
      Effect.catchAll((e) =>
        Effect.as(Effect.logWarning(`cluster: cannot claim session ${clientId} (${e._tag === "OwnershipConflict" ? "claimed elsewhere at the same time" : e.message}): CONNECT refused with 0x88`), false)
      ),
      Effect.ensuring(Effect.sync(() => {
        const n = this.claiming.get(clientId) ?? 1
        if (n <= 1) this.claiming.delete(clientId)
        else this.claiming.set(clientId, n - 1)
      }))
    )
  }

  /** Asks `holder` for the session (null: it has none or does not answer in time), with the request's id. */
  private fetch(holder: string, clientId: string, mine: Ownership, cleanStart: boolean): Effect.Effect<{ readonly id: number; readonly session: MovedSession | null }> {
    const id = this.nextRequest++
    return Effect.gen(this, function*() {
      const reply = yield* Deferred.make<MovedSession | null>()
      this.waiting.set(id, { holder, reply })
      if (!this.link.sendControl(holder, encodeTakeOver({ id, clientId, epoch: mine.epoch, cleanStart }))) return { id, session: null }
      const session = yield* Deferred.await(reply).pipe(
        Effect.timeoutTo({ duration: HAND_OVER_WAIT_MS, onTimeout: () => null, onSuccess: (s) => s })
      )
      return { id, session }
    }).pipe(Effect.ensuring(Effect.sync(() => this.waiting.delete(id))))
  }

  /** The link brought a hand-over request: answer it if etcd says the asker owns the session now. */
  onTakeOver(from: string, request: TakeOver): void {
    const work = Effect.gen(this, function*() {
      // Asked again while etcd elects a leader: a holder that cannot check keeps serving the
      // session the asker now owns, so it must not give up after one call.
      const owner = yield* this.coordination.ownerOf(sessionKey(request.clientId)).pipe(Effect.retry({ times: 2 }))
      const rightful = owner !== null && owner.owner === from && owner.epoch === request.epoch
      // Messages for it from the moment it is exported follow it (MovedRoutes): registered first,
      // since what arrives while the export runs may miss the exported state.
      const address = rightful ? this.forwardingAddress(request.clientId, from) : null
      const session = rightful ? yield* exportSession(this.engine, request.clientId, (conn) => (conn as Connection).takeOver(), request.cleanStart === true) : null
      // Its messages follow once the asker says stored (or, without word, after a while).
      if (address !== null) {
        if (session === null) this.moved.drop(address)
        else {
          const key = `${from}\u0000${request.id}`
          this.handed.set(key, address)
          setTimeout(() => {
            if (this.handed.get(key) !== address) return
            this.handed.delete(key)
            this.moved.ready(address, null)
          }, TAKEN_OVER_STORED_MS).unref()
        }
      }
      if (!rightful) yield* Effect.logWarning(`cluster: ${from} asked for session ${request.clientId} at epoch ${request.epoch}, but etcd says ${JSON.stringify(owner)}: not handed over`)
      this.link.sendControl(from, encodeSession({ id: request.id, session }))
    }).pipe(Effect.catchAll((e) =>
      Effect.zipRight(
        Effect.logError(`cluster: handing session ${request.clientId} over to ${from} failed`, e),
        Effect.sync(() => this.link.sendControl(from, encodeSession({ id: request.id, session: null })))
      )
    ))
    Runtime.runFork(this.runtime)(work)
  }

  /** The link brought the state of a session this node asked for. */
  onSession(_from: string, reply: SessionReply): void {
    const waiting = this.waiting.get(reply.id)
    if (waiting === undefined) {
      // Asked too long ago: the CONNECT went on without it, and the old node has let it go.
      if (reply.session !== null) {
        Runtime.runFork(this.runtime)(Effect.logWarning(`cluster: session ${reply.session.clientId} came from ${_from} after the CONNECT stopped waiting (${HAND_OVER_WAIT_MS} ms): its ${reply.session.owed.length} queued message(s) are dropped`))
      }
      return
    }
    this.waiting.delete(reply.id)
    Deferred.unsafeDone(waiting.reply, Effect.succeed(reply.session))
  }

  /**
   * A clean stop: every session still here goes to another member (round-robin), each claimed
   * for its new holder first, then exported (its client gets DISCONNECT 0x8B Server shutting
   * down and reconnects anywhere: the new holder has it, or hands it on). Returns how many moved.
   */
  handOffAll(): Effect.Effect<{ readonly moved: number; readonly failed: number }> {
    return Effect.gen(this, function*() {
      this.stopping = true
      this.moved.pin()
      const targets = this.node.members().flatMap((m) => (m.id === this.node.id ? [] : [m.id]))
      const clientIds = [...this.engine.sessions.keys()]
      if (targets.length === 0 || clientIds.length === 0) return { moved: 0, failed: 0 }
      // Clients whose sessions end here go first, at once: a publish of theirs accepted while a
      // session is being exported could miss the exported state.
      for (const session of this.engine.sessions.values()) {
        if (!session.persistent && session.conn !== null) (session.conn as Connection).close(ReasonCode.ServerShuttingDown)
      }
      let moved = 0
      let failed = 0
      yield* Effect.forEach(clientIds, (clientId, i) =>
        Effect.map(this.handOff(clientId, targets[i % targets.length]!), (ok) => {
          if (ok === true) moved++
          else if (ok === false) failed++
        }), { concurrency: 16, discard: true })
      return { moved, failed }
    })
  }

  /** True: stored by `target`; false: it failed (the session is lost here); null: nothing to move. */
  private handOff(clientId: string, target: string): Effect.Effect<boolean | null> {
    const key = sessionKey(clientId)
    const id = this.nextRequest++
    return Effect.gen(this, function*() {
      const session = this.engine.sessions.get(clientId)
      if (session === undefined) return null
      if (!session.persistent) {
        if (session.conn !== null) (session.conn as Connection).close(ReasonCode.ServerShuttingDown)
        return null
      }
      const mine = this.directory.owned.get(clientId) ?? (yield* this.coordination.ownerOf(key))
      if (mine === null || mine.owner !== this.node.id) return null // someone else's already
      yield* this.coordination.claim(key, target, mine.epoch)
      const address = this.forwardingAddress(clientId, target)
      const state = yield* exportSession(this.engine, clientId, (conn) => (conn as Connection).close(ReasonCode.ServerShuttingDown))
      this.directory.forget(clientId)
      if (state === null) {
        if (address !== null) this.moved.drop(address)
        return null
      }
      const stored = yield* Deferred.make<PushAck>()
      this.pushes.set(id, { target, stored })
      if (!this.link.sendControl(target, encodeSession({ id, session: state }, FrameType.Push))) return false
      const ack = yield* Deferred.await(stored).pipe(Effect.timeoutTo({ duration: PUSH_WAIT_MS, onTimeout: () => null, onSuccess: (a) => a }))
      const ok = ack?.ok === true
      const held = address?.held?.length ?? 0
      if (address !== null && ok) this.moved.ready(address, ack?.arrived ?? null)
      else if (address !== null) this.moved.drop(address)
      yield* Effect.logInfo(`cluster: session ${clientId} handed to ${target}: ${ok ? "stored" : "NOT stored"}, ${held} message(s) sent after it`)
      return ok
    }).pipe(
      Effect.ensuring(Effect.sync(() => this.pushes.delete(id))),
      Effect.catchAll((e) => Effect.as(Effect.logWarning(`cluster: handing session ${clientId} to ${target} failed (${e._tag === "OwnershipConflict" ? "claimed elsewhere meanwhile" : e.message})`), false))
    )
  }

  /** Messages for `clientId`'s filters go to `target` from now on, held until `moved.ready` (null: no session here). */
  private forwardingAddress(clientId: string, target: string): MovedAddress | null {
    const session = this.engine.sessions.get(clientId)
    return session === undefined ? null : this.moved.add(clientId, target, [...session.state.subscriptions.keys()])
  }

  /** A stopping node pushed a session here: stored if etcd says this node holds it now. */
  onPush(from: string, push: SessionReply): void {
    const state = push.session
    if (state === null) return
    const work = Effect.gen(this, function*() {
      const owner = yield* this.coordination.ownerOf(sessionKey(state.clientId))
      const ok = owner !== null && owner.owner === this.node.id
      let arrived: Arrived | undefined
      if (ok) {
        this.directory.owned.set(state.clientId, owner)
        this.moved.forget(state.clientId)
        yield* importSession(this.engine, state, () => void (arrived = this.arrived()))
        // The stopping node leaves (its routes vanish) once this says stored: this node's routes
        // for the session must be in etcd before, or a message published between reaches no one.
        yield* this.routesVisible() ?? Effect.void
      } else {
        yield* Effect.logWarning(`cluster: ${from} pushed session ${state.clientId}, but etcd says ${JSON.stringify(owner)}: not stored here`)
      }
      this.link.sendControl(from, encodePushAck({ id: push.id, ok, arrived }))
    }).pipe(Effect.catchAll((e) =>
      Effect.zipRight(
        Effect.logError(`cluster: storing session ${state.clientId} pushed by ${from} failed`, e),
        Effect.sync(() => this.link.sendControl(from, encodePushAck({ id: push.id, ok: false })))
      )
    ))
    Runtime.runFork(this.runtime)(work)
  }

  onPushAck(from: string, ack: PushAck): void {
    if (ack.takeover === true) {
      const key = `${from}\u0000${ack.id}`
      const address = this.handed.get(key)
      if (address === undefined) return
      this.handed.delete(key)
      if (ack.ok) this.moved.ready(address, ack.arrived ?? null)
      else this.moved.drop(address)
      return
    }
    const waiting = this.pushes.get(ack.id)
    if (waiting !== undefined && waiting.target === from) Deferred.unsafeDone(waiting.stored, Effect.succeed(ack))
    else if (!this.remnants.onAck(ack)) for (const g of this.ghosts) if (g.onAck(ack)) return
  }

  /**
   * Remnants sent on behalf of `home`, a dead sibling worker whose data directory this one holds
   * (GhostRemnants): keyed by `home`'s id, as `home` would send them, and sharing this node's
   * request ids and PUSHACKs. One for a session held here is merged here directly. `gone`: true
   * once `home` has its directory back; `wake`: called when a session `home` held resumes here.
   * Removed by the returned function.
   */
  onBehalfOf(home: string, engine: Engine, gone: () => boolean, wake: () => void): { readonly remnants: Remnants; readonly remove: () => void } {
    const remnants = new Remnants(home, this.coordination, engine, this.link, () => this.nextRequest++, this.runtime, () => false, () => false, {
      sender: this.node.id,
      here: (remnant) => this.remnants.receive(home, remnant),
      gone
    })
    this.ghosts.add(remnants)
    this.ghostWakes.set(home, wake)
    return {
      remnants,
      remove: () => {
        this.ghosts.delete(remnants)
        if (this.ghostWakes.get(home) === wake) this.ghostWakes.delete(home)
      }
    }
  }

  /** A node back from the dead sends what a session held here owed there. */
  onRemnant(from: string, remnant: Remnant): void {
    this.remnants.onRemnant(from, remnant)
  }

  /**
   * At start, after joining: the sessions this node restored from its storage (not connected
   * yet) that etcd says another node owns now (the client resumed there while this node was
   * down) are stale. Only their owner keys are read (`ownersOf`, in batches): the cost follows
   * this node's sessions, not the cluster's; a node that restored none asks nothing. They
   * leave this node's routes before those are published, so it collects nothing more for them.
   * One that owes its client nothing ends here at once (no will: the session lives on
   * elsewhere); what the others still owe goes to their holders in the background (Remnants),
   * and each ends here once its holder has stored it. Returns how many were stale.
   */
  dropStale(): Effect.Effect<number> {
    return Effect.gen(this, function*() {
      const restored = [...this.engine.sessions.values()].filter((s) => s.conn === null).map((s) => s.clientId)
      if (restored.length === 0) return 0
      const many = restored.length > MANY_RESTORED
      // Many: the start pauses here for seconds (100k: ~800 txns), and the log says why.
      if (many) yield* Effect.logInfo(`cluster: reading the owners of ${restored.length} restored session(s) from etcd`)
      const began = Date.now()
      const owners = yield* sessionOwners(this.coordination, restored)
      if (many) yield* Effect.logInfo(`cluster: owners of ${restored.length} restored session(s) read from etcd in ${Date.now() - began} ms`)
      let stale = 0
      for (const clientId of restored) {
        const session = this.engine.sessions.get(clientId)
        const owner = owners.get(clientId)
        if (session === undefined || owner === undefined || owner === this.node.id || session.conn !== null) continue
        stale++
        yield* this.remnants.settle(session, owner).pipe(Effect.catchAll((e) =>
          Effect.logError(`cluster: reading what session ${session.clientId} owed failed; it stays stored here, and the next start tries again`, e)
        ))
      }
      return stale
    }).pipe(Effect.catchAll((e) => Effect.as(Effect.logWarning(`cluster: checking restored sessions against etcd failed (${e.message}); they stay, and the next CONNECT for each decides`), 0)))
  }

  /**
   * The link to `node` closed (or never came up): what was asked of it will not be answered, so
   * nobody waits out the timeout (a CONNECT resumes from the session directory at once).
   */
  onLinkDown(node: string): void {
    for (const w of this.waiting.values()) if (w.holder === node) Deferred.unsafeDone(w.reply, Effect.succeed(null))
    for (const [id, p] of this.pushes) if (p.target === node) Deferred.unsafeDone(p.stored, Effect.succeed({ id, ok: false }))
    this.remnants.onLinkDown(node)
    for (const g of this.ghosts) g.onLinkDown(node)
  }
}

/**
 * Client id -> the node etcd says holds its session, for those of `clientIds` with an owner key:
 * read key by key in batches, so the cost follows `clientIds`, not the cluster's session count.
 */
export const sessionOwners = (coordination: CoordinationService, clientIds: ReadonlyArray<string>): Effect.Effect<Map<string, string>, Error> =>
  Effect.map(coordination.ownersOf(clientIds.map(sessionKey)), (read) => {
    const owners = new Map<string, string>()
    for (const clientId of clientIds) {
      const owner = read.get(sessionKey(clientId))?.owner
      if (owner !== undefined) owners.set(clientId, owner)
    }
    return owners
  })
