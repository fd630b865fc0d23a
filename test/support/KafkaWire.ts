/**
 * A raw Kafka wire-protocol client over one TCP socket, for what no real client sends: unknown
 * API keys, unsupported versions, garbage bodies, bad frame sizes, pipelined requests. Requests
 * are built and responses read with the codec's client direction (`encodeRequest`,
 * `decodeResponse`); `write` sends any bytes as they are. Every wait is bounded.
 */
import * as net from "node:net"
import * as tls from "node:tls"
import { afterEach } from "vitest"
import { type ApiKey, decodeResponse, encodeRequest, type RequestBodies, type ResponseBodies } from "../../src/kafka/protocol/index.js"

export interface WireOptions {
  /** Local address to connect from (127.0.0.2 is "another client address" on one machine). */
  readonly from?: string
  /** Connect with TLS (ca, servername, ...). */
  readonly tls?: tls.ConnectionOptions
}

export class KafkaWire {
  private chunks: Array<Buffer> = []
  private chunkBytes = 0
  private needed = 4
  private readonly frames: Array<Buffer> = []
  private wake: (() => void) | null = null
  private correlationIds = 1
  /** Set once the socket closed (either side). */
  isClosed = false
  /** Resolves when the socket closed (either side). */
  readonly closed: Promise<void>

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk))
    socket.on("error", () => {}) // 'close' follows
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.isClosed = true
        this.notify()
        resolve()
      })
    )
  }

  /**
   * Connects to 127.0.0.1:`port`, from `options.from` (a local address such as 127.0.0.2) and
   * over TLS with `options.tls`; rejects after `timeoutMs`.
   */
  static connect(port: number, timeoutMs = 2_000, options: WireOptions = {}): Promise<KafkaWire> {
    return new Promise((resolve, reject) => {
      const target = { host: "127.0.0.1", port, ...(options.from === undefined ? {} : { localAddress: options.from }) }
      const socket = options.tls === undefined ? net.connect(target) : tls.connect({ ...target, ...options.tls })
      const connected = options.tls === undefined ? "connect" : "secureConnect"
      const timer = setTimeout(() => {
        socket.destroy()
        reject(new Error(`connect to 127.0.0.1:${port} timed out`))
      }, timeoutMs)
      socket.once("error", (e) => {
        clearTimeout(timer)
        reject(e)
      })
      socket.once(connected, () => {
        clearTimeout(timer)
        socket.removeAllListeners("error")
        socket.setNoDelay(true)
        resolve(new KafkaWire(socket))
      })
    })
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk)
    this.chunkBytes += chunk.length
    // Joined only once a whole frame is there: large answers arrive in many reads.
    if (this.chunkBytes < this.needed) return
    let data = Buffer.concat(this.chunks, this.chunkBytes)
    while (data.length >= 4 && data.length - 4 >= data.readInt32BE(0)) {
      const size = data.readInt32BE(0)
      this.frames.push(data.subarray(4, 4 + size))
      data = data.subarray(4 + size)
    }
    this.chunks = data.length === 0 ? [] : [data]
    this.chunkBytes = data.length
    this.needed = data.length >= 4 ? 4 + data.readInt32BE(0) : 4
    this.notify()
  }

  private notify(): void {
    const w = this.wake
    this.wake = null
    w?.()
  }

  /** Writes bytes as they are (a whole frame, part of one, or several). */
  write(bytes: Buffer | ReadonlyArray<Buffer>): void {
    this.socket.write(Buffer.isBuffer(bytes) ? bytes : Buffer.concat([...bytes]))
  }

  /** Sends one request encoded by the codec; returns its correlation id. */
  send<K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K], clientId: string | null = "raw-test"): number {
    const correlationId = this.correlationIds++
    this.write(encodeRequest({ apiKey, apiVersion, correlationId, clientId }, body))
    return correlationId
  }

  /** The next response frame (after its size prefix); rejects when the socket closes first or after `timeoutMs`. */
  async nextFrame(timeoutMs = 5_000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs
    while (this.frames.length === 0) {
      if (this.isClosed) throw new Error("the broker closed the connection instead of answering")
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.wake = () => {
          clearTimeout(timer)
          resolve()
        }
      })
    }
    return this.frames.shift()!
  }

  /** Reads the next frame as the response to `correlationId` of `apiKey` v`apiVersion`. */
  async response<K extends ApiKey>(apiKey: K, apiVersion: number, correlationId: number, timeoutMs = 5_000): Promise<Required<ResponseBodies[K]>> {
    const frame = await this.nextFrame(timeoutMs)
    const decoded = decodeResponse(apiKey, apiVersion, frame)
    if (decoded._tag !== "Response") throw new Error(`malformed response to api ${apiKey} v${apiVersion}: ${decoded.reason}`)
    if (decoded.correlationId !== correlationId) {
      throw new Error(`response for correlation id ${decoded.correlationId}, expected ${correlationId}`)
    }
    return decoded.body
  }

  /** `send` then `response`. */
  request<K extends ApiKey>(apiKey: K, apiVersion: number, body: RequestBodies[K], timeoutMs = 5_000): Promise<Required<ResponseBodies[K]>> {
    return this.response(apiKey, apiVersion, this.send(apiKey, apiVersion, body), timeoutMs)
  }

  /** Stops reading from the socket (the broker's answers pile up), until `resumeReading`. */
  pauseReading(): void {
    this.socket.pause()
  }

  resumeReading(): void {
    this.socket.resume()
  }

  /** Whether the broker closed the socket within `timeoutMs` (without our closing it). */
  async closedWithin(timeoutMs = 2_000): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), timeoutMs)
    })
    return Promise.race([this.closed.then(() => true as const), timeout]).finally(() => clearTimeout(timer))
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Registers an afterEach that destroys every wire the test opened (call it in a describe). */
export const useKafkaWires = (): { readonly connect: (port: number) => Promise<KafkaWire> } => {
  const wires: Array<KafkaWire> = []
  afterEach(() => {
    for (const w of wires.splice(0)) w.destroy()
  })
  return {
    connect: async (port) => {
      const wire = await KafkaWire.connect(port)
      wires.push(wire)
      return wire
    }
  }
}
