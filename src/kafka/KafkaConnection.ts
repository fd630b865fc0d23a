/**
 * One Kafka client connection: cuts the byte stream into size-prefixed request frames, hands each
 * to the dispatcher, and writes the responses in request order (Kafka clients match responses
 * by correlation id but expect them in order; a long-polling Fetch holds back the answers to
 * requests behind it, as on a Kafka broker). A frame that cannot be read closes the connection:
 * the protocol has no way to answer a request whose header is unknown.
 *
 * It also carries the connection's SASL progress (handlers/sasl.ts): while a password is being
 * verified, reading stops, so no later request is looked at before the client is known.
 *
 * Hostile input is bounded here: a declared size above MAX_REQUEST_BYTES closes the connection
 * before anything is buffered; an incomplete request reserves its declared size from the
 * listener's RequestBudget (or stops reading until it can) and is timed by `incompleteSince`
 * (the server's sweep closes slow senders); anything thrown while reading or dispatching closes
 * this connection only.
 */
import type * as net from "node:net"
import type { Fiber } from "effect"
import { inputFaults } from "../net/inputFaults.js"
import type { BudgetWaiter, RequestBudget } from "../net/RequestBudget.js"
import type { ConnectionAcl } from "./acl/ConnectionAcl.js"
import { SaslState } from "./sasl/SaslState.js"
import type { ScramExchange } from "./sasl/ScramExchange.js"

/** Kafka's default socket.request.max.bytes. */
export const MAX_REQUEST_BYTES = 100 * 1024 * 1024

/**
 * Backpressure: with this many response bytes queued for a client that does not read them, or
 * this many requests still waiting for their answers, the connection stops reading requests
 * until the client catches up (Kafka reads one request per connection at a time). Without it a
 * client that pipelines Fetches and never reads makes the broker buffer every answer.
 */
export const MAX_QUEUED_RESPONSE_BYTES = 16 * 1024 * 1024
export const MAX_WAITING_REQUESTS = 128

/** A response slot: filled when the handler finishes; null chunks = no response (acks=0). */
interface Slot {
  done: boolean
  chunks: ReadonlyArray<Buffer> | null
}

export interface RequestSink {
  /** Handles one frame; calls `respond` exactly once (with null when there is no response). */
  (conn: KafkaConnection, frame: Buffer, respond: (chunks: ReadonlyArray<Buffer> | null) => void): void
}

export class KafkaConnection implements BudgetWaiter {
  /** Chunks of the frame being received, their total size, and the size that completes it. */
  private pending: Array<Buffer> = []
  private pendingBytes = 0
  private needed = 0
  private readonly slots: Array<Slot> = []
  private head = 0
  /** Reading is paused for backpressure; frames already received wait in `pending`. */
  private readingPaused = false
  /** Bytes of the budget reserved for the incomplete request in `pending`. */
  private reserved = 0
  /** Reading is paused until the budget can hold the incomplete request. */
  private waitingForBudget = false
  /** When the incomplete request in `pending` began arriving (ms), 0 when none. */
  private partialSince = 0
  closed = false
  /** Set by `closeAfterResponses`: no more requests are read, the socket ends once answered. */
  private closing = false
  /** SASL progress; `user` is set once SASL succeeded. */
  sasl: SaslState = SaslState.Start
  user: string | null = null
  /** The client.id its first request named (log lines). */
  clientId: string | null = null
  /** The verified CN of the TLS client certificate (tls.cn_as_username): the principal without SASL. */
  certUser: string | null = null
  /** Kafka ACL view (KafkaServer.connectionAcl), made for `aclUser`; null for a superuser. */
  acl: ConnectionAcl | null = null
  aclUser: string | null = null
  aclMade = false
  /** The SCRAM exchange under way (SaslHandshake named SCRAM-SHA-256/512), else null. */
  scram: ScramExchange | null = null
  /** A password is being verified: later frames wait unread until its answer is queued. */
  holdReading = false
  /** Last time the client sent bytes (for the idle timeout, KafkaServer). */
  lastActive = Date.now()
  /**
   * Handlers still running for this connection's requests (long-polling Fetches, Produces
   * waiting for durability): interrupted when the connection or the server closes, so no
   * handler outlives its client or touches storage after shutdown.
   */
  readonly running = new Set<Fiber.RuntimeFiber<unknown, unknown>>()
  /** Host the client reached us on, for Metadata (IPv4-mapped IPv6 prefix stripped). */
  readonly localHost: string
  /**
   * Port the client reached us on: Metadata and FindCoordinator advertise it, so a client of
   * the TLS listener is sent back to the TLS port and one of the plain listener to the plain port.
   */
  readonly localPort: number
  /** It reached the TLS listener: Metadata sends it to the other nodes' TLS listeners too. */
  readonly overTls: boolean
  readonly remoteHost: string

  constructor(
    readonly socket: net.Socket,
    private readonly sink: RequestSink,
    private readonly budget: RequestBudget,
    /** Reading or dispatching threw (the connection is already closed): log it. */
    private readonly thrown: (conn: KafkaConnection, error: unknown) => void
  ) {
    this.localHost = stripMapped(socket.localAddress ?? "127.0.0.1")
    this.localPort = socket.localPort ?? 0
    this.overTls = (socket as { encrypted?: boolean }).encrypted === true
    this.remoteHost = stripMapped(socket.remoteAddress ?? "")
    socket.on("drain", () => this.resumeIfCaughtUp())
  }

  /**
   * Chunks of an incomplete frame are kept in a list and joined once the frame is whole: a
   * 1 MiB produce request arrives in ~16 socket reads, and joining on every read would copy
   * it 8 times over.
   */
  onData(chunk: Buffer): void {
    if (this.closed) return
    this.lastActive = Date.now()
    try {
      this.read(chunk)
    } catch (error) {
      inputFaults.kafkaHandlerThrew++
      this.close()
      this.thrown(this, error)
    }
  }

  /** When the request still being received began arriving (ms); 0 when none, or while we hold reading. */
  get incompleteSince(): number {
    return this.readingPaused || this.waitingForBudget || this.closed ? 0 : this.partialSince
  }

  private read(chunk: Buffer): void {
    let data: Buffer
    if (this.pending.length === 0 && !this.readingPaused) data = chunk
    else {
      this.pending.push(chunk)
      this.pendingBytes += chunk.length
      if (this.pendingBytes < this.needed || this.readingPaused) return
      data = Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
    }
    // A request whose length prefix itself came in pieces is still the same request: its clock runs on.
    const since = this.partialSince
    this.settlePartial()
    if (this.waitingForBudget) {
      // Bytes came in despite the pause and completed the request: it needs no budget now.
      this.waitingForBudget = false
      this.budget.cancel(this)
      this.socket.resume()
    }
    let pos = 0
    while (data.length - pos >= 4) {
      const size = data.readInt32BE(pos)
      if (size < 0 || size > MAX_REQUEST_BYTES) {
        inputFaults.kafkaOversizeFrames++
        return this.close()
      }
      if (data.length - pos - 4 < size) break
      const frame = data.subarray(pos + 4, pos + 4 + size)
      pos += 4 + size
      this.dispatch(frame)
      if (this.closed) return
      if (this.closing || this.overloaded()) {
        this.readingPaused = true
        this.socket.pause()
        break
      }
    }
    if (pos < data.length) {
      const rest = data.subarray(pos)
      this.pending = [rest]
      this.pendingBytes = rest.length
      this.needed = rest.length >= 4 ? 4 + rest.readInt32BE(0) : 4
      if (rest.length < this.needed && !this.readingPaused) this.beginPartial(pos === 0 && since > 0 ? since : this.lastActive)
    }
  }

  /**
   * `pending` now starts with an incomplete request: time it, and reserve its declared size (a
   * bare length prefix reserves nothing); without budget, stop reading until bytes are freed.
   */
  private beginPartial(since: number): void {
    this.partialSince = since
    if (this.needed <= 4) return
    if (this.budget.tryReserve(this.needed)) this.reserved = this.needed
    else {
      this.waitingForBudget = true
      this.socket.pause()
      this.budget.wait(this)
    }
  }

  /** The budget freed bytes: reserve for the waiting request and read on (RequestBudget). */
  retryReserve(): boolean {
    if (this.closed) return true
    if (!this.budget.tryReserve(this.needed)) return false
    this.reserved = this.needed
    this.waitingForBudget = false
    // The wait was the broker's doing, not the client's: the timeout starts again.
    this.partialSince = Date.now()
    if (!this.readingPaused && !this.closing) this.socket.resume()
    return true
  }

  /** The incomplete request became whole (or the connection ends): give its budget back. */
  private settlePartial(): void {
    this.partialSince = 0
    if (this.reserved > 0) {
      const bytes = this.reserved
      this.reserved = 0
      this.budget.release(bytes)
    }
  }

  private overloaded(): boolean {
    return this.holdReading || this.slots.length - this.head >= MAX_WAITING_REQUESTS || this.socket.writableLength >= MAX_QUEUED_RESPONSE_BYTES
  }

  /** After a response went out or the socket drained: reads on once the client caught up. */
  private resumeIfCaughtUp(): void {
    if (!this.readingPaused || this.closed || this.closing || this.overloaded()) return
    this.readingPaused = false
    if (this.pending.length > 0 && this.pendingBytes >= this.needed) {
      // Whole frames arrived while paused: handle them before reading more.
      const data = Buffer.concat(this.pending, this.pendingBytes)
      this.pending = []
      this.pendingBytes = 0
      this.onData(data)
      if (this.readingPaused || this.closed) return
    }
    if (!this.waitingForBudget) this.socket.resume()
  }

  private dispatch(frame: Buffer): void {
    const slot: Slot = { done: false, chunks: null }
    this.slots.push(slot)
    this.sink(this, frame, (chunks) => {
      slot.done = true
      slot.chunks = chunks
      this.drain()
    })
  }

  /** Writes every finished response at the head of the queue. */
  private drain(): void {
    const slots = this.slots
    let i = this.head
    if (!this.closed) this.socket.cork()
    while (i < slots.length && slots[i]!.done) {
      const chunks = slots[i]!.chunks
      if (chunks !== null && !this.closed) for (const c of chunks) this.socket.write(c)
      i++
    }
    if (!this.closed) this.socket.uncork()
    if (i === slots.length) {
      slots.length = 0
      this.head = 0
      if (this.closing) return this.endGracefully()
    } else this.head = i
    if (this.readingPaused) this.resumeIfCaughtUp()
  }

  /**
   * Answers what was already received, then ends the connection (Kafka after a failed
   * authentication): the client reads the error before the socket closes.
   */
  closeAfterResponses(): void {
    if (this.closing || this.closed) return
    this.closing = true
    if (this.head === this.slots.length) this.endGracefully()
  }

  private endGracefully(): void {
    if (this.closed) return
    this.released()
    const socket = this.socket
    socket.end(() => socket.destroy())
  }

  close(): void {
    if (this.closed) return
    this.released()
    this.socket.destroy()
  }

  /** The connection is over (closed by us or by the client): its budget goes back. */
  released(): void {
    this.closed = true
    this.pending = []
    this.pendingBytes = 0
    this.settlePartial()
    if (this.waitingForBudget) {
      this.waitingForBudget = false
      this.budget.cancel(this)
    }
  }
}

const stripMapped = (address: string): string => (address.startsWith("::ffff:") ? address.slice(7) : address)
