/**
 * What other nodes routed to a node that died, for a session that resumes elsewhere. A holder
 * SIGKILLed under load leaves a window: each other node kept routing the session's messages to
 * it (its routes were still up) until it saw the new holder's routes, and what it sent then went
 * into a dead socket or was dropped. Those messages are in the senders' logs only, and the
 * dead node's catch-up (when it comes back) asks for its own filters, not the moved session's.
 *
 * So the node that resumes a session from the directory asks every other live node for them
 * (SESSIONCATCHUP): each answers from its log, over [where its link to the dead node broke
 * (the start of the last flush before the break, NodeLink.lostTo), its log end once it routes the
 * session's filters to the asker), with the session's plain filters, as SESSIONREPLAY frames.
 * The asker merges into that session only (durably, as a remnant: handOver.mergeRemnant) what
 * the session did not get live meanwhile: from the install on, every forwarded message from that
 * node matching the session's filters is noted (for QoS 2 exactly once), until the last part.
 * A message the dead node had read before it died, and sends on itself once it is back
 * (Remnants), can then arrive twice; share groups are left out, as in every catch-up.
 */
import { Effect, Runtime } from "effect"
import type { QoS, SubscriptionOptions } from "../../domain/session/Session.js"
import { SubscriptionTrie } from "../../domain/topic/SubscriptionTrie.js"
import { parseShared } from "../../domain/topic/TopicFilter.js"
import type { Engine } from "../mqtt/engine/Engine.js"
import { mergeRemnant, type MovedMessage } from "../mqtt/engine/handOver.js"
import type { Message } from "../mqtt/engine/Message.js"
import { replay } from "./CatchUpReplay.js"
import { encodePublish, encodeSessionCatchUp, type Forwarded, FrameType, type PublishBatch, type SessionCatchUpRequest } from "./linkFrames.js"
import type { NodeLink } from "./NodeLink.js"
import type { RouteTable } from "./RouteTable.js"

/** How long an asker waits for the last part before it stops noting live messages. */
const PENDING_MS = 30_000
/** How long an answering node waits to route the filters to the asker before it answers anyway. */
const ROUTES_WAIT_MS = 5000

interface Pending {
  readonly clientId: string
  /** The node asked. */
  readonly node: string
  /** The session's plain filters, with their granted QoS. */
  readonly trie: SubscriptionTrie<QoS>
  /** Per partition of the asked node's log: offsets the session got live since the install. */
  readonly live: Map<string, Set<number>>
  readonly timer: ReturnType<typeof setTimeout>
  parts: number
  merged: number
  /** QoS 2 messages left out: the dead holder had stored them (its remnant brings what it had not delivered). */
  held: number
}

export class SessionCatchUp {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()

  constructor(
    private readonly self: string,
    private readonly engine: Engine,
    private readonly link: NodeLink,
    private readonly routes: RouteTable,
    private readonly runtime: Runtime.Runtime<never>
  ) {}

  /** Hot path: whether forwarded messages must be noted. */
  get active(): boolean {
    return this.pending.size > 0
  }

  /**
   * `clientId`'s session was just installed here from the directory; `dead` held it. Asks the
   * other members for what they routed to `dead` for its filters.
   */
  start(clientId: string, dead: string, subscriptions: ReadonlyArray<readonly [string, SubscriptionOptions]>, members: ReadonlyArray<string>): void {
    const plain = subscriptions.filter(([raw]) => parseShared(raw) === null)
    if (plain.length === 0) return
    const trie = new SubscriptionTrie<QoS>({ cacheSize: 0 })
    for (const [raw, options] of plain) {
      try {
        trie.add(raw, raw, options.qos)
      } catch {
        // not a valid filter: it matches nothing
      }
    }
    const filters = plain.map(([raw]) => raw)
    for (const node of members) {
      if (node === this.self || node === dead) continue
      const id = this.nextId++
      const timer = setTimeout(() => {
        if (this.pending.delete(id)) this.log(Effect.logWarning(`cluster: session ${clientId}: ${node} did not finish its catch-up in ${PENDING_MS / 1000} s; what it did not send is not merged`))
      }, PENDING_MS)
      timer.unref()
      this.pending.set(id, { clientId, node, trie, live: new Map(), timer, parts: 0, merged: 0, held: 0 })
      if (!this.link.sendControl(node, encodeSessionCatchUp({ id, clientId, dead, filters }))) {
        clearTimeout(timer)
        this.pending.delete(id)
      }
    }
  }

  /** Hot path, while active: a message `from` forwarded here (live or replayed). */
  noteLive(from: string, f: Forwarded): void {
    if (f.tp === null) return
    for (const p of this.pending.values()) {
      if (p.node !== from || !p.trie.hasMatch(f.message.topic)) continue
      let offsets = p.live.get(f.tp)
      if (offsets === undefined) p.live.set(f.tp, (offsets = new Set()))
      offsets.add(f.offset)
    }
  }

  /** A part of the answer: merged into the session, less what it got live. */
  onSessionReplay(from: string, batch: PublishBatch): void {
    const id = batch.request
    const p = id === undefined ? undefined : this.pending.get(id)
    if (p === undefined || p.node !== from) return
    if (batch.done === true) {
      clearTimeout(p.timer)
      this.pending.delete(id!)
    }
    const owed: Array<MovedMessage> = []
    for (const f of batch.messages) {
      if (f.tp === null || p.live.get(f.tp)?.has(f.offset)) continue
      let granted = -1
      for (const qos of p.trie.match(f.message.topic)) if (qos > granted) granted = qos
      if (granted < 0) continue
      const qos = (granted < f.message.qos ? granted : f.message.qos) as QoS
      const held = batch.held?.get(f.tp)
      if (qos === 2 && held !== undefined && f.offset < held) {
        p.held++
        continue
      }
      owed.push({ message: f.message, qos, retain: false, subscriptionIds: null, packetId: 0, stage: 0, group: null, at: null })
    }
    const session = this.engine.sessions.get(p.clientId)
    if (session !== undefined && owed.length > 0) {
      const merged = mergeRemnant(this.engine, session, from, `catch-up/${from}/${id}/${p.parts++}`, owed)
      if (merged !== null) {
        p.merged += merged.merged
        if (merged.persist !== null) this.log(merged.persist.pipe(Effect.catchAll((e) => Effect.logError(`cluster: storing what ${from} sent session ${p.clientId} failed`, e))))
      }
    }
    if (batch.done === true && p.merged + p.held > 0) {
      const held = p.held === 0 ? "" : `; ${p.held} QoS 2 one(s) left to the dead holder, which had stored them (its remnant brings what it had not delivered)`
      this.log(Effect.logInfo(`cluster: session ${p.clientId}: ${p.merged} message(s) ${from} had routed to its dead holder merged here${held}`))
    }
  }

  /** Another node resumed a session `request.dead` held: what this node routed there, again. */
  onSessionCatchUp(from: string, request: SessionCatchUpRequest): void {
    const link = this.link
    const held = link.storedBy(request.dead)
    const frame = (done: boolean) => (messages: ReadonlyArray<Message>) =>
      encodePublish(messages, [], [], FrameType.SessionReplay, -1, { request: request.id, done, ...(held === undefined ? {} : { held }) })
    const work = Effect.gen(this, function*() {
      const lost = link.lostTo(request.dead)
      let sent = 0
      if (lost !== undefined) {
        // From the moment the asker's routes are here, live forwarding reaches the session.
        const deadline = Date.now() + ROUTES_WAIT_MS
        while (!this.routes.hasPlainRoutes(from, request.filters) && Date.now() < deadline) yield* Effect.sleep("20 millis")
        const ends = this.engine.backlog.ends()
        for (const [tp, guess] of lost) {
          // What it said it stored is certain; the guess may be past what it stored only in memory.
          const stored = held?.get(tp)
          const start = stored !== undefined && stored < guess ? stored : guess
          const end = ends.get(tp) ?? start
          if (end <= start) continue
          const r = yield* replay(this.engine.log, this.engine.mapping, link, from, { tp, from: start, to: end, filters: request.filters }, { frame: frame(false), retained: false })
          sent += r.sent
          if (!r.complete) return
        }
      }
      link.sendControl(from, frame(true)([]))
      if (sent > 0) yield* Effect.logInfo(`cluster: sent ${from} ${sent} message(s) for session ${request.clientId} that were routed to ${request.dead} after its link broke`)
    }).pipe(Effect.catchAll((error) => Effect.logWarning(`cluster: answering ${from}'s catch-up for session ${request.clientId} failed`, error)))
    this.log(work)
  }

  private log(effect: Effect.Effect<void>): void {
    Runtime.runFork(this.runtime)(effect)
  }
}
