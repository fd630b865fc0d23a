/**
 * A packet-level MQTT client for byte-exact conformance checks (02/03/04/09 tests): a plain TCP
 * socket, mqtt-packet's generator for what we send and its parser for what the broker sends.
 * Nothing is acknowledged automatically: the test decides every packet.
 */
import * as net from "node:net"
import * as mqttPacket from "mqtt-packet"

export type Version = 4 | 5

export class Raw {
  readonly packets: Array<mqttPacket.Packet> = []
  /** The raw bytes of every frame received, in order (for byte-exact checks). */
  readonly frames: Array<Buffer> = []
  closed = false
  private pending = Buffer.alloc(0)
  private waiters: Array<() => void> = []

  private constructor(
    readonly socket: net.Socket,
    readonly version: Version
  ) {
    const parser = mqttPacket.parser({ protocolVersion: version })
    parser.on("packet", (p) => {
      this.packets.push(p)
      this.wake()
    })
    parser.on("error", (e) => {
      this.packets.push({ cmd: "error", message: String(e) } as never)
      this.wake()
    })
    socket.on("data", (chunk) => {
      this.pending = Buffer.concat([this.pending, chunk])
      for (;;) {
        const size = frameSize(this.pending)
        if (size === 0 || this.pending.length < size) break
        this.frames.push(this.pending.subarray(0, size))
        this.pending = this.pending.subarray(size)
      }
      parser.parse(chunk)
    })
    socket.on("close", () => {
      this.closed = true
      this.wake()
    })
    socket.on("error", () => {})
  }

  private wake(): void {
    const w = this.waiters
    this.waiters = []
    for (const f of w) f()
  }

  /** Opens a socket and completes CONNECT / CONNACK (accepted), returning the CONNACK too. */
  static async connect(
    port: number,
    version: Version,
    connect: Partial<mqttPacket.IConnectPacket> = {}
  ): Promise<{ raw: Raw; connack: mqttPacket.IConnackPacket }> {
    const socket = net.connect(port, "127.0.0.1")
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", resolve)
      socket.once("error", reject)
    })
    const raw = new Raw(socket, version)
    raw.send({ cmd: "connect", protocolId: "MQTT", protocolVersion: version, clean: true, clientId: "", keepalive: 0, ...connect } as mqttPacket.IConnectPacket)
    const connack = (await raw.next(2000)) as mqttPacket.IConnackPacket
    if (connack.cmd !== "connack") throw new Error(`expected connack, got ${connack.cmd}`)
    return { raw, connack }
  }

  send(packet: mqttPacket.Packet): void {
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.version }))
  }

  /** The next packet from the broker (rejects after `ms`, or if the socket closed first). */
  async next(ms = 2000): Promise<mqttPacket.Packet> {
    const deadline = Date.now() + ms
    while (this.packets.length === 0) {
      if (this.closed) throw new Error("socket closed while waiting for a packet")
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`no packet within ${ms} ms`)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left)
        this.waiters.push(() => {
          clearTimeout(t)
          resolve()
        })
      })
    }
    return this.packets.shift()!
  }

  /** The next packet, which must have command `cmd`. */
  async expect<C extends mqttPacket.Packet["cmd"]>(cmd: C, ms = 2000): Promise<Extract<mqttPacket.Packet, { cmd: C }>> {
    const p = await this.next(ms)
    if (p.cmd !== cmd) throw new Error(`expected ${cmd}, got ${JSON.stringify(p)}`)
    return p as Extract<mqttPacket.Packet, { cmd: C }>
  }

  /** Resolves once the broker closed the socket (rejects after `ms`). */
  async closedWithin(ms = 2000): Promise<void> {
    const deadline = Date.now() + ms
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`socket still open after ${ms} ms`)
      await new Promise((r) => setTimeout(r, 10))
    }
  }

  destroy(): void {
    this.socket.destroy()
  }
}

/** Whole size of the frame at the start of `buf`, or 0 if its header is incomplete. */
const frameSize = (buf: Buffer): number => {
  let len = 0
  let mul = 1
  for (let i = 1; i < 5; i++) {
    if (i >= buf.length) return 0
    const b = buf[i]!
    len += (b & 0x7f) * mul
    if ((b & 0x80) === 0) return i + 1 + len
    mul *= 128
  }
  return 0
}
