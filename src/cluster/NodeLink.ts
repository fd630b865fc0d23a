/**
 * The node-to-node link: one TCP connection from this node to each other node it sends to,
 * carrying batches of forwarded messages. A send queues the message for its peer; the queue is
 * written as one frame per event-loop turn (setImmediate), so a burst of publishes costs one
 * encode and one write per peer. Delivery across the link is at most once: while a peer is
 * unreachable, or its socket holds more than MAX_UNSENT_BYTES, messages for it are dropped and
 * counted (the receiving node's catch-up from this node's log is what makes QoS 1/2 whole).
 */
import * as net from "node:net"
import { Effect } from "effect"
import type { Message } from "../mqtt/engine/Message.js"
import {
  decodeHello,
  decodePublish,
  decodePushAck,
  decodeSession,
  decodeTakeOver,
  encodeHello,
  encodePublish,
  type Forwarded,
  FrameSplitter,
  FrameType,
  type PushAck,
  type SessionReply,
  type TakeOver
} from "./linkFrames.js"
import type { NodeInfo } from "./ClusterNode.js"

/** A peer's socket may hold this much unsent; beyond it, messages for that peer are dropped. */
const MAX_UNSENT_BYTES = 64 * 1024 * 1024
/** Messages held for a peer while its connection is being made; beyond it, dropped. */
const MAX_QUEUED_WHILE_CONNECTING = 10_000
/** At most one connection attempt per peer in this long. */
const RECONNECT_MS = 200
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
  scheduled = false
  constructor(readonly id: string) {}
}

export interface NodeLinkOptions {
  readonly self: () => NodeInfo
  /** The current address of a member, or undefined once it has left. */
  readonly lookup: (id: string) => NodeInfo | undefined
  /** A batch of messages another node forwarded. */
  readonly onForwarded: (from: string, messages: ReadonlyArray<Forwarded>) => void
  /** Another node took a session over and asks for its state. */
  readonly onTakeOver: (from: string, request: TakeOver) => void
  /** The state of a session this node asked for. */
  readonly onSession: (from: string, reply: SessionReply) => void
  /** A stopping node hands this one a session. */
  readonly onPush: (from: string, push: SessionReply) => void
  readonly onPushAck: (from: string, ack: PushAck) => void
  readonly log: (line: string) => void
}

export class NodeLink {
  readonly stats: LinkStats = { forwarded: 0, forwardedBytes: 0, received: 0, dropped: 0 }
  private readonly peers = new Map<string, Peer>()
  private readonly inbound = new Set<net.Socket>()
  private closed = false

  constructor(private readonly options: NodeLinkOptions) {}

  /** The server side: accepts other nodes' connections. */
  readonly server = net.createServer((socket) => this.accept(socket))

  private accept(socket: net.Socket): void {
    if (this.closed) return void socket.destroy()
    this.inbound.add(socket)
    socket.setNoDelay(true)
    let from: string | null = null
    const splitter = new FrameSplitter((type, body) => {
      if (type === FrameType.Hello) {
        from = decodeHello(body)?.node ?? null
        if (from === null) fail("a HELLO without a node id")
      } else if (type === FrameType.Publish) {
        if (from === null) return fail("PUBLISH before HELLO")
        const forwarded = decodePublish(body)
        if (typeof forwarded === "string") return fail(forwarded)
        this.stats.received += forwarded.length
        this.options.onForwarded(from, forwarded)
      } else if (type === FrameType.TakeOver) {
        if (from === null) return fail("TAKEOVER before HELLO")
        const request = decodeTakeOver(body)
        if (request === null) return fail("a malformed TAKEOVER")
        this.options.onTakeOver(from, request)
      } else if (type === FrameType.Session || type === FrameType.Push) {
        if (from === null) return fail("SESSION before HELLO")
        const reply = decodeSession(body)
        if (typeof reply === "string") return fail(reply)
        if (type === FrameType.Session) this.options.onSession(from, reply)
        else this.options.onPush(from, reply)
      } else if (type === FrameType.PushAck) {
        if (from === null) return fail("PUSHACK before HELLO")
        const ack = decodePushAck(body)
        if (ack === null) return fail("a malformed PUSHACK")
        this.options.onPushAck(from, ack)
      }
    }, (reason) => fail(reason))
    const fail = (reason: string) => {
      this.options.log(`cluster link from ${from ?? socket.remoteAddress}: ${reason}; closing it`)
      socket.destroy()
    }
    socket.on("data", (chunk: Buffer) => splitter.push(chunk))
    socket.on("error", () => undefined)
    socket.on("close", () => this.inbound.delete(socket))
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
      if (peer.messages.length >= MAX_QUEUED_WHILE_CONNECTING) return void this.stats.dropped++
    } else if (peer.socket!.writableLength > MAX_UNSENT_BYTES) return void this.stats.dropped++
    peer.messages.push(msg)
    peer.groups.push(groups)
    if (!peer.scheduled) {
      peer.scheduled = true
      setImmediate(() => this.flush(peer))
    }
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
    while (peer.messages.length > 0) {
      const messages = peer.messages.splice(0, MAX_BATCH)
      const groups = peer.groups.splice(0, MAX_BATCH)
      const frame = encodePublish(messages, groups)
      this.stats.forwarded += messages.length
      this.stats.forwardedBytes += frame.byteLength
      peer.socket.write(frame)
    }
  }

  private connect(peer: Peer): void {
    if (peer.socket !== null || this.closed) return
    const now = Date.now()
    if (now - peer.lastAttempt < RECONNECT_MS) return
    const info = this.options.lookup(peer.id)
    if (info === undefined || info.linkPort <= 0) return
    peer.lastAttempt = now
    const socket = net.connect({ host: info.host, port: info.linkPort })
    peer.socket = socket
    socket.setNoDelay(true)
    socket.on("connect", () => {
      const self = this.options.self()
      socket.write(encodeHello({ node: self.id, startedAt: self.startedAt }))
      peer.connected = true
      this.flush(peer)
    })
    socket.on("error", (error) => {
      if (peer.connected) this.options.log(`cluster link to ${peer.id} (${info.host}:${info.linkPort}) failed: ${error.message}; reconnecting`)
    })
    socket.on("close", () => {
      peer.connected = false
      peer.socket = null
      // What was queued for a link that never came up is dropped (counted), not held forever.
      this.stats.dropped += peer.messages.length
      peer.messages.length = 0
      peer.groups.length = 0
      peer.control.length = 0 // the asking side times out and carries on
    })
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
