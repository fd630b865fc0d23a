/**
 * One Kafka client connection: cuts the byte stream into size-prefixed request frames, hands each
 * to the dispatcher, and writes the responses in request order (Kafka clients match responses
 * by correlation id but expect them in order; a long-polling Fetch holds back the answers to
 * requests behind it, as on a Kafka broker). A frame that cannot be read closes the connection:
 * the protocol has no way to answer a request whose header is unknown.
 *
 * It also carries the connection's SASL progress (handlers/sasl.ts): while a password is being
 * verified, reading stops, so no later request is looked at before the client is known.
 */
import type * as net from "node:net"
import type { Fiber } from "effect"
import { SaslState } from "./sasl/SaslState.js"

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

export class KafkaConnection {
  /** Chunks of the frame being received, their total size, and the size that completes it. */
  private pending: Array<Buffer> = []
  private pendingBytes = 0
  private needed = 0
  private readonly slots: Array<Slot> = []
  private head = 0
  /** Reading is paused for backpressure; frames already received wait in `pending`. */
  private readingPaused = false
  closed = false
  /** Set by `closeAfterResponses`: no more requests are read, the socket ends once answered. */
  private closing = false
  /** SASL progress; `user` is set once SASL/PLAIN succeeded. */
  sasl: SaslState = SaslState.Start
  user: string | null = null
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
  readonly remoteHost: string

  constructor(readonly socket: net.Socket, private readonly sink: RequestSink) {
    this.localHost = stripMapped(socket.localAddress ?? "127.0.0.1")
    this.remoteHost = stripMapped(socket.remoteAddress ?? "")
    socket.on("drain", () => this.resumeIfCaughtUp())
  }

  /**
   * Chunks of an incomplete frame are kept in a list and joined once the frame is whole: a
   * 1 MiB produce request arrives in ~16 socket reads, and joining on every read would copy
   * it 8 times over.
   */
  onData(chunk: Buffer): void {
    this.lastActive = Date.now()
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
    let pos = 0
    while (data.length - pos >= 4) {
      const size = data.readInt32BE(pos)
      if (size < 0 || size > MAX_REQUEST_BYTES) return this.close()
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
    this.socket.resume()
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
    this.closed = true
    const socket = this.socket
    socket.end(() => socket.destroy())
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.socket.destroy()
  }
}

const stripMapped = (address: string): string => (address.startsWith("::ffff:") ? address.slice(7) : address)
