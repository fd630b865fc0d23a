/**
 * The node-to-node link: one TCP connection from this node to each other node it sends to,
 * carrying batches of forwarded messages. A send queues the message for its peer; the queue is
 * written as one frame per event-loop turn (setImmediate), so a burst of publishes costs one
 * encode and one write per peer. Delivery across the link is at most once: while a peer is
 * unreachable, or its socket holds more than MAX_UNSENT_BYTES, messages for it are dropped and
 * counted (the receiving node's catch-up from this node's log is what makes QoS 1/2 whole).
 * With cluster.tls_* set the sockets are TLS (linkTls.ts), both ways; nothing else differs.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { Effect } from "effect"
import type { Message } from "../mqtt/engine/Message.js"
import {
  type CatchUp,
  type Coverage,
  decodeCatchUp,
  decodeHello,
  decodePublish,
  decodePushAck,
  decodeRemnant,
  decodeSession,
  decodeSessionCatchUp,
  decodeStored,
  decodeTakeOver,
  encodeHello,
  encodePublish,
  FrameSplitter,
  FrameType,
  type PublishBatch,
  type PushAck,
  type SessionCatchUpRequest,
  type Remnant,
  type SessionReply,
  type TakeOver
} from "./linkFrames.js"
import type { NodeInfo } from "./ClusterNode.js"
import { checkHello, helloMac } from "./linkSecret.js"
import { helloRefusal, isTlsRefusal, type LinkTls } from "./linkTls.js"

/** A peer's socket may hold this much unsent; beyond it, messages for that peer are dropped. */
const MAX_UNSENT_BYTES = 64 * 1024 * 1024
/** Messages held for a peer while its connection is being made; beyond it, dropped. */
const MAX_QUEUED_WHILE_CONNECTING = 10_000
/** At most one connection attempt per peer in this long. */
const RECONNECT_MS = 200
/** ...and in this long while its TLS handshakes are refused (a certificate to fix, not a blip). */
const REFUSED_RECONNECT_MS = 5000
/** A link up this long proves the certificates: a later refusal is logged again. */
const PROVEN_MS = 10_000
/** A TLS link closed this soon after its handshake was refused by the other side. */
const CLOSED_AT_ONCE_MS = 1000
/** A TLS HELLO from a node not (yet) a member here waits this long for etcd to tell this node of it. */
const HELLO_MEMBER_WAIT_MS = 3000
/** Refused TLS handshakes from one address are logged once in this long. */
const REFUSAL_LOG_MS = 10 * 60_000
/**
 * Why a TLS link to `peer` that closed was refused, and what to do, or null when it was not
 * refused: a certificate error (either side's), or a close right after the handshake: with TLS
 * 1.3 a dialler's handshake is done before the other side checks its certificate, and that side
 * then just closes (a link never answers), as it does for a wrong cluster.secret.
 */
const tlsRefusal = (peer: string, host: string, failure: Error | null, upAt: number, now: number): string | null => {
  if (failure !== null && isTlsRefusal(failure)) {
    return `TLS handshake failed (${(failure as NodeJS.ErrnoException).code}: ${failure.message.split("\n")[0]!.trim()}): both nodes need certificates signed by the same cluster.tls_ca_file, and ${peer}'s must name ${host} (subjectAltName DNS or IP)`
  }
  if (upAt > 0 && now - upAt < CLOSED_AT_ONCE_MS) return `closed by ${peer} right after the TLS handshake: it refused this node's certificate or its cluster.secret (its log says which)`
  // A plain-TCP node reads a ClientHello as a bad frame and closes.
  if (upAt === 0 && (failure as NodeJS.ErrnoException | null)?.code === "ECONNRESET") return `closed by ${peer} before the TLS handshake finished: is cluster.tls_* set on it?`
  return null
}

/** A dialler that has not finished its TLS handshake in this long is dropped. */
const HANDSHAKE_TIMEOUT_MS = 10_000
/** How long a broken link's lost ranges are kept for a SESSIONCATCHUP (a client may come back late). */
const LOST_KEEP_MS = 10 * 60 * 1000
/** What a crashed peer may have got and not stored: its group commit and socket buffers, with room. */
const LOST_MARGIN_MS = 1000
const COVERAGE_SNAPSHOT_MS = 200
const COVERAGE_SNAPSHOTS = 10

/** Where a peer whose link broke at `now` may have lost what it was sent: per partition. */
const lostFrom = (peer: Peer, now: number): ReadonlyMap<string, number> => {
  let chosen: ReadonlyMap<string, number> | undefined
  for (const s of peer.snapshots) if (chosen === undefined || s.at <= now - LOST_MARGIN_MS) chosen = s.covered
  // A partition first covered after that snapshot: from its first message to the peer.
  const from = new Map<string, number>()
  for (const tp of peer.covered.keys()) from.set(tp, chosen?.get(tp) ?? peer.firstCovered.get(tp) ?? 0)
  return from
}

/** The offset of the first of `messages` logged in `tp`, or `end` if none is. */
const firstOffset = (messages: ReadonlyArray<Message>, tp: string, end: number): number => {
  for (const m of messages) if (m.tp === tp) return m.offset
  return end
}

/** Per accepted connection: REMNANTs that came before its first PUBLISH wait for it, since it tells where the sender's catch-up starts, which their merge needs (Remnants.ts). */
interface Inbound {
  early: Array<Remnant> | null
}

/** How a frame after the HELLO is taken; a string: why it is refused (the link closes). */
interface FrameRoute {
  readonly name: string
  readonly take: (inbound: Inbound, from: string, body: Buffer) => string | null
}

/** A frame read by `decode` (null or a string: malformed) and handed to `take`. */
const route = <A extends object>(name: string, decode: (body: Buffer) => A | string | null, take: (inbound: Inbound, from: string, value: A) => void): FrameRoute => ({
  name,
  take: (inbound, from, body) => {
    const value = decode(body)
    if (value === null) return `a malformed ${name}`
    if (typeof value === "string") return value
    take(inbound, from, value)
    return null
  }
})

/** Messages per frame: large enough to amortise, small enough to keep frames far below the cap. */
const MAX_BATCH = 1024

export interface LinkStats {
  forwarded: number
  forwardedBytes: number
  received: number
  dropped: number
}

class Peer {
  socket: net.Socket | null = null
  connected = false
  lastAttempt = 0
  readonly messages: Array<Message> = []
  readonly groups: Array<ReadonlyArray<string>> = []
  /** Session hand-over frames, written before the messages queued with them. */
  readonly control: Array<Buffer> = []
  /** Per log partition of this node: the end offset up to which this peer has been told what it got. */
  readonly covered = new Map<string, number>()
  /** Per log partition: the offset of the first message this peer was sent of it (or the end then, if none). */
  readonly firstCovered = new Map<string, number>()
  /**
   * The coverage as it stood every COVERAGE_SNAPSHOT_MS, the latest last (a few): what a peer
   * that crashes may not have made durable starts about LOST_MARGIN_MS before the break.
   */
  readonly snapshots: Array<{ readonly at: number; readonly covered: ReadonlyMap<string, number> }> = []
  /** The route table revision when the first message queued now was routed (-1: none queued). */
  revision = -1
  /**
   * The next batch starts a run the peer cannot join to the last (a new connection, or messages
   * dropped): its coverage says `from` -1, and the peer asks for what it may have missed.
   */
  fresh = true
  scheduled = false
  /** Why its TLS links are refused, as last logged; null while they work. */
  refusal: string | null = null
  constructor(readonly id: string) {}
}

export interface NodeLinkOptions {
  readonly self: () => NodeInfo
  /** The current address of a member, or undefined once it has left. */
  readonly lookup: (id: string) => NodeInfo | undefined
  /** The etcd revision of this node's route table: batches say it (see RouteTable.reachedBy). */
  readonly routesRevision: () => number
  /** This node's log ends, per partition that carries MQTT messages: what batches say they cover. */
  readonly ends: () => ReadonlyMap<string, number>
  /** A batch another node forwarded (replay: the answer to a catch-up, no coverage). */
  readonly onForwarded: (from: string, batch: PublishBatch, replay: boolean) => void
  /** Another node missed messages of this node's partition and asks for them again. */
  readonly onCatchUp: (from: string, request: CatchUp) => void
  /** Another node took a session over and asks for its state. */
  readonly onTakeOver: (from: string, request: TakeOver) => void
  /** The state of a session this node asked for. */
  readonly onSession: (from: string, reply: SessionReply) => void
  /** A stopping node hands this one a session. */
  readonly onPush: (from: string, push: SessionReply) => void
  readonly onPushAck: (from: string, ack: PushAck) => void
  /** A node that was down sends on what a session held here now still owed there (answered with a PushAck). */
  readonly onRemnant: (from: string, remnant: Remnant) => void
  /** The connection to a peer closed (or could not be made): control frames queued for it are gone. */
  readonly onLinkDown: (to: string) => void
  /** Another node resumed a session a dead node held and asks for what was routed there (SessionCatchUp). */
  readonly onSessionCatchUp: (from: string, request: SessionCatchUpRequest) => void
  /** Part of the answer to a SESSIONCATCHUP this node sent. */
  readonly onSessionReplay: (from: string, batch: PublishBatch) => void
  readonly log: (line: string) => void
  /** cluster.secret: "" lets any node link. */
  readonly secret: string
  /** cluster.tls_*: null = plain TCP. */
  readonly tls: LinkTls | null
}

export class NodeLink {
  readonly stats: LinkStats = { forwarded: 0, forwardedBytes: 0, received: 0, dropped: 0 }
  private readonly peers = new Map<string, Peer>()
  private readonly inbound = new Set<net.Socket>()
  /** Per remote address and error code: when a refused TLS handshake was last logged. */
  private readonly refusalsLogged = new Map<string, number>()
  /** The remote address of each accepted TCP socket, for the log once its TLS socket is gone. */
  private readonly addresses = new WeakMap<net.Socket, string>()
  private closed = false
  /**
   * Per peer whose connection broke, per partition of this node's log: from where what was routed
   * to it may be lost to it (a crashed peer may not have read, or not yet stored, what it was
   * sent last: LOST_MARGIN_MS before the break). Kept until the peer links again, at most LOST_KEEP_MS.
   */
  private readonly lost = new Map<string, { readonly at: number; readonly from: ReadonlyMap<string, number> }>()
  /**
   * Per peer, per partition of this node's log: the peer's latest STORED (what it holds durably of
   * what it was sent), for the run of the peer that sent it (its `startedAt`).
   */
  private readonly stored = new Map<string, { readonly startedAt: number; positions: ReadonlyMap<string, number>; at: number }>()
  /** The server side: accepts other nodes' connections (TLS ones once their handshake is done). */
  readonly server: net.Server

  constructor(private readonly options: NodeLinkOptions) {
    this.routes = this.frameRoutes()
    const server = options.tls === null
      ? net.createServer((socket) => this.accept(socket))
      : tls.createServer({ ...options.tls.server, handshakeTimeout: HANDSHAKE_TIMEOUT_MS }, (socket) => this.accept(socket))
    // Every raw connection, handshake done or not, so close() can drop it.
    server.on("connection", (socket: net.Socket) => {
      if (this.closed) return void socket.destroy()
      this.inbound.add(socket)
      this.addresses.set(socket, socket.remoteAddress ?? "an unknown address")
      socket.on("close", () => this.inbound.delete(socket))
    })
    server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => this.refused(error, socket))
    this.server = server
  }

  /** The link's certificate files were read again (SIGHUP): the listener takes them for the handshakes to come; dials read them anew. */
  tlsReloaded(): void {
    if (this.options.tls !== null && this.server instanceof tls.Server) this.server.setSecureContext(this.options.tls.secure)
  }

  /** A dialler's TLS handshake failed: logged once per address and reason in REFUSAL_LOG_MS, never thrown. */
  private refused(error: Error, socket: tls.TLSSocket): void {
    // A destroyed TLS socket has no address any more: its TCP socket's, noted on "connection".
    const tcp = (socket as unknown as { _parent?: net.Socket })._parent
    const address = socket.remoteAddress ?? (tcp === undefined ? undefined : this.addresses.get(tcp)) ?? "an unknown address"
    // Refusing the dialler's certificate closes the socket: the reason is its authorizationError.
    const rejected = socket.authorizationError !== null && socket.authorizationError !== undefined
    const code = rejected ? String(socket.authorizationError) : (error as NodeJS.ErrnoException).code ?? "no code"
    if (!this.firstRefusal(`${address} ${code}`)) return
    const why = rejected
      ? `its certificate is refused (${code})`
      : code === "ECONNRESET"
      ? "it closed during the handshake (it may have refused this node's certificate)"
      : `${code}: ${error.message.split("\n")[0]!.trim()}`
    this.options.log(`cluster link from ${address}: TLS handshake refused: ${why}; a node linking here needs cluster.tls_* set, with a certificate signed by this node's cluster.tls_ca_file; the same refusal from ${address} is not logged again for 10 minutes`)
  }

  /** Whether a refusal under `key` (address and reason) is to be logged: not if it was within REFUSAL_LOG_MS. */
  private firstRefusal(key: string): boolean {
    const now = Date.now()
    const last = this.refusalsLogged.get(key)
    if (last !== undefined && now - last < REFUSAL_LOG_MS) return false
    if (this.refusalsLogged.size >= 1000) this.refusalsLogged.clear() // a scan from many addresses: bounded
    this.refusalsLogged.set(key, now)
    return true
  }

  /** A TLS dialler's HELLO names a node its certificate does not: logged once per address and reason in REFUSAL_LOG_MS, closed. */
  private refuseHello(socket: net.Socket, node: string, why: string): void {
    const address = socket.remoteAddress ?? "an unknown address"
    if (this.firstRefusal(`${address} HELLO ${node} ${why}`)) {
      this.options.log(`cluster link from ${address}: HELLO as ${node} refused: ${why}; the same refusal from ${address} is not logged again for 10 minutes`)
    }
    socket.destroy()
  }

  /** Every frame type after the HELLO: its name (for errors) and what taking it does. */
  private readonly routes: ReadonlyMap<number, FrameRoute>

  private frameRoutes(): Map<number, FrameRoute> {
    const o = this.options
    const forwarded = (replay: boolean) =>
      route(replay ? "REPLAY" : "PUBLISH", decodePublish, (c, from, batch: PublishBatch) => {
        this.stats.received += batch.messages.length
        o.onForwarded(from, batch, replay)
        if (!replay && c.early !== null) {
          for (const r of c.early) o.onRemnant(from, r)
          c.early = null
        }
      })
    return new Map<number, FrameRoute>([
      [FrameType.Publish, forwarded(false)],
      [FrameType.Replay, forwarded(true)],
      [FrameType.CatchUp, route("CATCHUP", decodeCatchUp, (_, from, request) => o.onCatchUp(from, request))],
      [FrameType.TakeOver, route("TAKEOVER", decodeTakeOver, (_, from, request) => o.onTakeOver(from, request))],
      [FrameType.Session, route("SESSION", decodeSession, (_, from, reply) => o.onSession(from, reply))],
      [FrameType.Push, route("PUSH", decodeSession, (_, from, push) => o.onPush(from, push))],
      [FrameType.Remnant, route("REMNANT", decodeRemnant, (c, from, remnant) => {
        if (c.early !== null) c.early.push(remnant)
        else o.onRemnant(from, remnant)
      })],
      [FrameType.SessionCatchUp, route("SESSIONCATCHUP", decodeSessionCatchUp, (_, from, request) => o.onSessionCatchUp(from, request))],
      [FrameType.SessionReplay, route("SESSIONREPLAY", decodePublish, (_, from, batch) => o.onSessionReplay(from, batch))],
      [FrameType.Stored, route("STORED", decodeStored, (_, from, positions) => {
        const entry = this.stored.get(from)
        if (entry !== undefined) {
          entry.positions = positions
          entry.at = Date.now()
        }
      })],
      [FrameType.PushAck, route("PUSHACK", decodePushAck, (_, from, ack) => o.onPushAck(from, ack))]
    ])
  }

  private accept(socket: net.Socket): void {
    if (this.closed) return void socket.destroy()
    socket.setNoDelay(true)
    let from: string | null = null
    let refused = false
    const inbound: Inbound = { early: [] }
    // The frames after a TLS HELLO whose node is not yet admitted: taken once it is.
    let held: Array<[number, Buffer]> | null = null
    const onFrame = (type: number, body: Buffer): void => {
      if (type === FrameType.Hello) {
        const hello = decodeHello(body)
        if (hello === null) return fail("a HELLO without a node id")
        const noSecret = checkHello(this.options.secret, hello, Date.now())
        if (noSecret !== null) return fail(`refused: ${noSecret}; every node needs the same cluster.secret`)
        const welcome = () => {
          from = hello.node
          if (this.stored.get(from)?.startedAt !== hello.startedAt) this.stored.set(from, { startedAt: hello.startedAt, positions: new Map(), at: Date.now() })
        }
        if (this.options.tls === null) return welcome()
        // Under TLS the node id must be one the dialler's certificate names (helloRefusal).
        held = []
        const since = Date.now()
        const admit = (): void => {
          if (refused || socket.destroyed) return
          const member = this.options.lookup(hello.node)
          const why = helloRefusal(hello.node, member?.host, (socket as tls.TLSSocket).getPeerCertificate())
          if (why === null) {
            welcome()
            const frames = held ?? []
            held = null
            for (const [t, b] of frames) if (!refused) onFrame(t, b)
            socket.resume()
          } else if (member === undefined && Date.now() - since < HELLO_MEMBER_WAIT_MS) {
            // A node that just joined: etcd has not told this one yet. Read nothing more meanwhile
            // (held keeps only the rest of the chunk the HELLO came in).
            socket.pause()
            setTimeout(admit, 100).unref()
          } else {
            refused = true
            this.refuseHello(socket, hello.node, why)
          }
        }
        return admit()
      }
      const route = this.routes.get(type)
      if (route === undefined) return // a frame type of a newer node: ignored
      if (from === null) return fail(`${route.name} before HELLO`)
      const error = route.take(inbound, from, body)
      if (error !== null) fail(error)
    }
    const splitter = new FrameSplitter((type, body) => {
      if (refused) return // the rest of what it sent before the close
      if (held !== null) return void held.push([type, Buffer.from(body)])
      onFrame(type, body)
    }, (reason) => fail(reason))
    const fail = (reason: string) => {
      refused = true
      this.options.log(`cluster link from ${from ?? socket.remoteAddress}: ${reason}; closing it`)
      socket.destroy()
    }
    let first = true
    socket.on("data", (chunk: Buffer) => {
      // A frame starts with its u32 length (at most 64 MiB): a first byte 0x16 is a TLS handshake record.
      if (first) {
        first = false
        if (this.options.tls === null && chunk[0] === 0x16) return fail("a TLS handshake: that node has cluster.tls_* set and this one has not; set the same on every node")
      }
      splitter.push(chunk)
    })
    socket.on("error", () => undefined)
  }

  /** Hot path: queues `msg` for node `to`, for its share groups `groups`; written on the next turn. */
  send(to: string, msg: Message, groups: ReadonlyArray<string>): void {
    let peer = this.peers.get(to)
    if (peer === undefined) {
      peer = new Peer(to)
      this.peers.set(to, peer)
    }
    if (!peer.connected) {
      this.connect(peer)
      if (peer.messages.length >= MAX_QUEUED_WHILE_CONNECTING) return this.drop(peer)
    } else if (peer.socket!.writableLength > MAX_UNSENT_BYTES) return this.drop(peer)
    if (peer.messages.length === 0) peer.revision = this.options.routesRevision()
    peer.messages.push(msg)
    peer.groups.push(groups)
    if (!peer.scheduled) {
      peer.scheduled = true
      setImmediate(() => this.flush(peer))
    }
  }

  /** A message for `peer` is dropped: the next batch tells it to catch up. */
  private drop(peer: Peer): void {
    this.stats.dropped++
    peer.fresh = true
  }

  /**
   * Every peer's next batch starts a new run (coverage from -1), as after a drop: each asks for
   * what it may lack of this node's log since its last coverage (a catch-up).
   */
  rewind(): void {
    for (const peer of this.peers.values()) peer.fresh = true
  }

  /** What the next batch to `peer` covers, and that it has been told so. */
  private coverage(peer: Peer): Array<Coverage> {
    const now = Date.now()
    const snapshots = peer.snapshots
    if (snapshots.length === 0 || now - snapshots[snapshots.length - 1]!.at >= COVERAGE_SNAPSHOT_MS) {
      if (snapshots.length === COVERAGE_SNAPSHOTS) snapshots.shift()
      snapshots.push({ at: now, covered: new Map(peer.covered) })
    }
    const out: Array<Coverage> = []
    for (const [tp, end] of this.options.ends()) {
      const before = peer.covered.get(tp)
      if (before === undefined) peer.firstCovered.set(tp, firstOffset(peer.messages, tp, end))
      if (!peer.fresh && before === end) continue
      out.push({ tp, from: peer.fresh ? -1 : before ?? 0, to: end })
      peer.covered.set(tp, end)
    }
    peer.fresh = false
    return out
  }

  /**
   * Every connected peer learns how far it is covered, batches or not (run about twice a
   * second), so a receiver notices a gap even when no message for it follows.
   */
  heartbeat(members: ReadonlyArray<string>): void {
    for (const id of members) {
      let peer = this.peers.get(id)
      if (peer === undefined) {
        peer = new Peer(id)
        this.peers.set(id, peer)
      }
      // A peer not linked yet is connected now: its first coverage tells it what it missed.
      if (!peer.connected || peer.socket === null) this.connect(peer)
      else if (!peer.scheduled) {
        const coverage = this.coverage(peer)
        if (coverage.length > 0) peer.socket.write(encodePublish([], [], coverage))
      }
    }
  }

  /** Bytes written to `to` and not yet sent: a replay waits while it is high. */
  unsent(to: string): number {
    const peer = this.peers.get(to)
    return peer?.socket?.writableLength ?? 0
  }

  /**
   * Writes `frame` to `to` now, ahead of anything queued, if the link is up (else it is dropped):
   * for STORED, which must leave before the deliveries its group commit allows.
   */
  sendNow(to: string, frame: Buffer): void {
    const peer = this.peers.get(to)
    if (peer !== undefined && peer.connected && peer.socket !== null) peer.socket.write(frame)
  }

  /** Queues a session hand-over frame for node `to`; false when it cannot be reached now. */
  sendControl(to: string, frame: Buffer): boolean {
    let peer = this.peers.get(to)
    if (peer === undefined) {
      peer = new Peer(to)
      this.peers.set(to, peer)
    }
    if (!peer.connected) {
      peer.lastAttempt = 0 // a hand-over does not wait out the reconnect pause
      this.connect(peer)
      if (peer.socket === null) return false
    }
    peer.control.push(frame)
    if (!peer.scheduled) {
      peer.scheduled = true
      setImmediate(() => this.flush(peer))
    }
    return true
  }

  private flush(peer: Peer): void {
    peer.scheduled = false
    if (!peer.connected || peer.socket === null) return // sent when the connection is up
    for (const frame of peer.control.splice(0)) peer.socket.write(frame)
    // Coverage goes with the first frame of a flush: it covers what the later ones carry too.
    let coverage = this.coverage(peer)
    while (peer.messages.length > 0) {
      const messages = peer.messages.splice(0, MAX_BATCH)
      const groups = peer.groups.splice(0, MAX_BATCH)
      const frame = encodePublish(messages, groups, coverage, FrameType.Publish, peer.revision)
      coverage = []
      this.stats.forwarded += messages.length
      this.stats.forwardedBytes += frame.byteLength
      peer.socket.write(frame)
    }
    if (coverage.length > 0) peer.socket.write(encodePublish([], [], coverage))
  }

  private connect(peer: Peer): void {
    if (peer.socket !== null || this.closed) return
    const now = Date.now()
    if (now - peer.lastAttempt < (peer.refusal === null ? RECONNECT_MS : REFUSED_RECONNECT_MS)) return
    const info = this.options.lookup(peer.id)
    if (info === undefined || info.linkPort <= 0) return
    peer.lastAttempt = now
    const secure = this.options.tls
    const socket = secure === null
      ? net.connect({ host: info.host, port: info.linkPort })
      // SNI only for a name (never an IP); the certificate is checked against info.host either way.
      : tls.connect({ ...secure.client, host: info.host, port: info.linkPort, ...(net.isIP(info.host) === 0 ? { servername: info.host } : {}) })
    peer.socket = socket
    socket.setNoDelay(true)
    let upAt = 0
    let failure: Error | null = null
    socket.on(secure === null ? "connect" : "secureConnect", () => {
      upAt = Date.now()
      const self = this.options.self()
      const at = Date.now()
      const secret = this.options.secret
      socket.write(encodeHello(secret === "" ? { node: self.id, startedAt: self.startedAt } : { node: self.id, startedAt: self.startedAt, at, mac: helloMac(secret, self.id, at) }))
      peer.connected = true
      this.lost.delete(peer.id)
      this.flush(peer)
    })
    socket.on("error", (error) => {
      failure = error
    })
    socket.on("close", () => {
      const now = Date.now()
      if (peer.connected && !this.lost.has(peer.id)) {
        for (const [id, lost] of this.lost) if (now - lost.at > LOST_KEEP_MS) this.lost.delete(id)
        this.lost.set(peer.id, { at: now, from: lostFrom(peer, now) })
      }
      const refusal = secure === null ? null : tlsRefusal(peer.id, info.host, failure, upAt, now)
      if (refusal !== null) {
        // Certificates to fix, not a blip: retried slowly, logged once per peer and reason.
        if (peer.refusal !== refusal) this.options.log(`cluster link to ${peer.id} (${info.host}:${info.linkPort}) refused: ${refusal}; retrying every ${REFUSED_RECONNECT_MS / 1000} s without logging this again`)
        peer.refusal = refusal
      } else {
        if (upAt > 0 && now - upAt >= PROVEN_MS) peer.refusal = null
        if (failure !== null && peer.connected) this.options.log(`cluster link to ${peer.id} (${info.host}:${info.linkPort}) failed: ${failure.message}; reconnecting`)
      }
      peer.connected = false
      peer.socket = null
      peer.fresh = true
      // What was queued for a link that never came up is dropped (counted), not held forever.
      this.stats.dropped += peer.messages.length
      peer.messages.length = 0
      peer.groups.length = 0
      peer.control.length = 0
      this.options.onLinkDown(peer.id) // the asking side carries on without an answer
    })
  }

  /**
   * Where, per partition of this node's log, what was routed to `node` may not have reached it
   * (its link broke and has not come back); undefined when nothing is known lost.
   */
  lostTo(node: string): ReadonlyMap<string, number> | undefined {
    const lost = this.lost.get(node)
    if (lost !== undefined && Date.now() - lost.at > LOST_KEEP_MS) this.lost.delete(node)
    return this.lost.get(node)?.from
  }

  /**
   * Per partition of this node's log: below what `node` said it had stored durably of what it was
   * sent (its last STORED), in its latest run; undefined before any.
   */
  storedBy(node: string): ReadonlyMap<string, number> | undefined {
    const positions = this.stored.get(node)?.positions
    return positions === undefined || positions.size === 0 ? undefined : positions
  }

  /**
   * Retention: the lowest offset of this node's partition `tp` that another node may still ask
   * for. A member that said what it stored (STORED) may ask for what lies past that (a catch-up
   * after a lost link); for a peer whose link broke, a session catch-up replays from where it may
   * have lost what it was sent, for LOST_KEEP_MS. Undefined: nobody holds `tp` back.
   */
  keepFrom(tp: string): number | undefined {
    let keep: number | undefined
    const lower = (offset: number | undefined) => {
      if (offset !== undefined && (keep === undefined || offset < keep)) keep = offset
    }
    const now = Date.now()
    for (const [node, entry] of this.stored) {
      // A member silent for that long (its log failing, say) does not hold this log forever.
      if (this.options.lookup(node) !== undefined && now - entry.at <= LOST_KEEP_MS) lower(entry.positions.get(tp))
    }
    for (const [node, lost] of this.lost) {
      if (now - lost.at > LOST_KEEP_MS) continue
      lower(lost.from.get(tp))
      lower(this.stored.get(node)?.positions.get(tp))
    }
    return keep
  }

  /** A member left: its connection and anything queued for it go. */
  forget(id: string): void {
    const peer = this.peers.get(id)
    if (peer === undefined) return
    this.peers.delete(id)
    peer.socket?.destroy()
  }

  close: Effect.Effect<void> = Effect.async<void>((resume) => {
    this.closed = true
    for (const peer of this.peers.values()) peer.socket?.end()
    for (const socket of this.inbound) socket.destroy()
    this.server.close(() => resume(Effect.void))
  })
}
