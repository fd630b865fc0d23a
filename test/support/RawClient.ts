/**
 * A packet-level MQTT client over a real TCP socket, for byte-exact checks and malformed input
 * that no real client would send. Packets are built with mqtt-packet's `generate` (or given as
 * raw bytes) and every byte the broker sends is parsed by this client's own mqtt-packet parser.
 */
import * as net from "node:net"
import * as mqttPacket from "mqtt-packet"

export type Version = 3 | 4 | 5

export class RawClient {
  private readonly parser: mqttPacket.Parser
  private readonly packets: Array<mqttPacket.Packet> = []
  private waiter: ((p: mqttPacket.Packet | null) => void) | null = null
  private parseError: Error | null = null
  private closedFlag = false
  /** Every packet received so far, in order (also the ones already taken by `nextPacket`). */
  readonly received: Array<mqttPacket.Packet> = []
  /** Every byte received so far, as read from the socket (for byte-exact checks). */
  readonly chunks: Array<Buffer> = []
  /** Resolves when the broker (or we) closed the socket. */
  readonly closed: Promise<void>

  private constructor(
    readonly socket: net.Socket,
    readonly version: Version
  ) {
    this.parser = mqttPacket.parser({ protocolVersion: version })
    this.parser.on("packet", (p: mqttPacket.Packet) => {
      this.received.push(p)
      if (this.waiter !== null) {
        const w = this.waiter
        this.waiter = null
        w(p)
      } else this.packets.push(p)
    })
    this.parser.on("error", (e: unknown) => {
      this.parseError = e instanceof Error ? e : new Error(String(e))
    })
    socket.on("data", (chunk: Buffer) => {
      this.chunks.push(chunk)
      this.parser.parse(chunk)
    })
    socket.on("error", () => {})
    this.closed = new Promise((resolve) =>
      socket.once("close", () => {
        this.closedFlag = true
        if (this.waiter !== null) {
          const w = this.waiter
          this.waiter = null
          w(null)
        }
        resolve()
      })
    )
  }

  /**
   * Opens a TCP connection to the broker on 127.0.0.1, from `from` (127.0.0.2 is "another
   * address" on one machine). `version` selects how replies are parsed.
   */
  static connect(port: number, version: Version = 4, from = "127.0.0.1"): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: "127.0.0.1", noDelay: true, localAddress: from })
      socket.once("connect", () => {
        socket.off("error", reject)
        resolve(new RawClient(socket, version))
      })
      socket.once("error", reject)
    })
  }

  /** Connects and performs the CONNECT / CONNACK handshake; throws unless CONNACK is success. */
  static async handshake(
    port: number,
    version: Version,
    connect: Partial<mqttPacket.IConnectPacket> = {}
  ): Promise<{ client: RawClient; connack: mqttPacket.IConnackPacket }> {
    const client = await RawClient.connect(port, version)
    client.sendPacket({ cmd: "connect", clientId: "", clean: true, keepalive: 0, ...connect, protocolVersion: version, protocolId: version === 3 ? "MQIsdp" : "MQTT" } as mqttPacket.IConnectPacket)
    const connack = (await client.nextPacket()) as mqttPacket.IConnackPacket
    const code = version === 5 ? connack.reasonCode : connack.returnCode
    if (connack.cmd !== "connack" || code !== 0) throw new Error(`handshake refused: ${JSON.stringify(connack)}`)
    return { client, connack }
  }

  /** All bytes received so far. */
  get bytes(): Buffer {
    return Buffer.concat(this.chunks)
  }

  /** The bytes received so far, cut into whole MQTT frames (for byte-exact checks). */
  frames(): Array<Buffer> {
    const buf = this.bytes
    const out: Array<Buffer> = []
    let at = 0
    while (at < buf.length) {
      let len = 0
      let mul = 1
      let i = at + 1
      for (;;) {
        const b = buf[i++]!
        len += (b & 0x7f) * mul
        if ((b & 0x80) === 0) break
        mul *= 128
      }
      out.push(buf.subarray(at, i + len))
      at = i + len
    }
    return out
  }

  get isClosed(): boolean {
    return this.closedFlag
  }

  /** Raw bytes, as is. */
  send(buf: Buffer | Uint8Array | ReadonlyArray<number>): void {
    this.socket.write(Buffer.isBuffer(buf) ? buf : Buffer.from(buf as Uint8Array))
  }

  /** Encodes with mqtt-packet for `version` (this client's by default) and sends it. */
  sendPacket(packet: mqttPacket.Packet, version: Version = this.version): void {
    this.send(mqttPacket.generate(packet, { protocolVersion: version }))
  }

  /** The next packet from the broker; rejects after `timeoutMs` or if the socket closes first. */
  nextPacket(timeoutMs = 3000): Promise<mqttPacket.Packet> {
    if (this.parseError !== null) return Promise.reject(this.parseError)
    const queued = this.packets.shift()
    if (queued !== undefined) return Promise.resolve(queued)
    if (this.closedFlag) return Promise.reject(new Error("connection closed, no packet"))
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiter = null
        reject(new Error(`no packet within ${timeoutMs} ms`))
      }, timeoutMs)
      this.waiter = (p) => {
        clearTimeout(timer)
        if (p === null) reject(new Error("connection closed before a packet arrived"))
        else resolve(p)
      }
    })
  }

  /** The next packet, which must be of type `cmd`. */
  async expect<C extends mqttPacket.PacketCmd>(cmd: C, timeoutMs = 3000): Promise<Extract<mqttPacket.Packet, { cmd: C }>> {
    const p = await this.nextPacket(timeoutMs)
    if (p.cmd !== cmd) throw new Error(`expected ${cmd}, got ${JSON.stringify(p)}`)
    return p as Extract<mqttPacket.Packet, { cmd: C }>
  }

  /** Resolves once the socket is closed; rejects if it is still open after `timeoutMs`. */
  expectClosed(timeoutMs = 3000): Promise<void> {
    if (this.closedFlag) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`connection still open after ${timeoutMs} ms`)), timeoutMs)
      void this.closed.then(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }

  /** Packets received and not yet taken. */
  get pending(): ReadonlyArray<mqttPacket.Packet> {
    return this.packets
  }

  /** Closes the socket abruptly (no DISCONNECT): the broker sees an abnormal disconnect. */
  destroy(): Promise<void> {
    this.socket.destroy()
    return this.closed
  }

  /** Sends DISCONNECT (optionally a v5 reason code and properties) and closes. */
  async disconnect(reasonCode?: number, properties?: mqttPacket.IDisconnectPacket["properties"]): Promise<void> {
    if (!this.closedFlag) {
      this.sendPacket({ cmd: "disconnect", ...(reasonCode !== undefined ? { reasonCode } : {}), ...(properties ? { properties } : {}) })
      this.socket.end()
    }
    await this.expectClosed()
  }
}

/** A Remaining Length varint (§1.5.5). */
export const varint = (n: number): Array<number> => {
  const out: Array<number> = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return out
}

/** A UTF-8 string with its 2-byte length (§1.5.4). */
export const str = (s: string): Buffer => {
  const b = Buffer.from(s, "utf8")
  return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b])
}

/**
 * A hand-built CONNECT for the cases mqtt-packet refuses to generate: an unknown protocol level,
 * an empty client id without clean session, flag combinations the spec forbids. `properties` is
 * the v5 property block without its length; `rest` follows the client id (will, user, password).
 */
export const connectFrame = (o: {
  protocolName?: string
  level: number
  flags?: number
  keepalive?: number
  clientId: string
  properties?: ReadonlyArray<number>
  rest?: ReadonlyArray<Buffer>
}): Buffer => {
  const props = o.properties ?? []
  const body = Buffer.concat([
    str(o.protocolName ?? (o.level === 3 ? "MQIsdp" : "MQTT")),
    Buffer.from([o.level, o.flags ?? 0x02, (o.keepalive ?? 0) >> 8, (o.keepalive ?? 0) & 0xff]),
    o.level === 5 ? Buffer.from([...varint(props.length), ...props]) : Buffer.alloc(0),
    str(o.clientId),
    ...(o.rest ?? [])
  ])
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body])
}
