/**
 * Closing with a reason, readably (issue 9 item 8): when the broker ends a connection with a
 * reason, the client still sending must read the DISCONNECT, not get a reset. As Paho's MQTT 5
 * interoperability test `test_flow_control2` does: Receive Maximum + 1 QoS 2 PUBLISHes at once,
 * answering each PUBREC with PUBREL while the broker decides to close.
 */
import * as net from "node:net"
import * as mqttPacket from "mqtt-packet"
import { describe, expect, it } from "vitest"
import { useBrokers } from "../support/lifecycle.js"

const { broker } = useBrokers()

/** A bare socket that records what it gets, including a reset, and answers PUBRECs like Paho does. */
const flowControlClient = (port: number) =>
  new Promise<{ packets: Array<mqttPacket.Packet>; errors: Array<string>; sawEnd: boolean }>((resolve) => {
    // allowHalfOpen: like a C or Python client, it keeps writing after the broker's FIN until it notices.
    const socket = net.connect({ port, host: "127.0.0.1", allowHalfOpen: true })
    const parser = mqttPacket.parser({ protocolVersion: 5 })
    const packets: Array<mqttPacket.Packet> = []
    const errors: Array<string> = []
    let sawEnd = false
    const send = (p: mqttPacket.Packet) => {
      if (!socket.destroyed) socket.write(mqttPacket.generate(p, { protocolVersion: 5 }))
    }
    let keepWriting: NodeJS.Timeout | undefined
    parser.on("packet", (p: mqttPacket.Packet) => {
      packets.push(p)
      if (p.cmd === "connack") {
        // Receive Maximum is 2: the third QoS 2 PUBLISH is one too many [MQTT-3.3.4-9].
        for (let id = 1; id <= 3; id++) send({ cmd: "publish", topic: "fc/x", payload: `m${id}`, qos: 2, messageId: id, retain: false, dup: false })
      }
      if (p.cmd === "pubrec") send({ cmd: "pubrel", messageId: p.messageId! })
      if (p.cmd === "disconnect") {
        // A client that has not noticed yet keeps writing for a while (PINGREQs every 10 ms).
        let n = 0
        keepWriting = setInterval(() => {
          if (++n > 30) {
            clearInterval(keepWriting)
            return void socket.end()
          }
          send({ cmd: "pingreq" })
        }, 10)
      }
    })
    socket.on("data", (d) => parser.parse(d))
    socket.on("end", () => {
      sawEnd = true
    })
    socket.on("error", (e: NodeJS.ErrnoException) => errors.push(e.code ?? e.message))
    socket.on("close", () => {
      clearInterval(keepWriting)
      resolve({ packets, errors, sawEnd })
    })
    socket.on("connect", () => send({ cmd: "connect", protocolVersion: 5, clientId: "flow-control-2", clean: true, keepalive: 0 }))
  })

describe("closing with a reason", () => {
  it("a client still writing reads DISCONNECT 0x93 and a clean end, never a reset (Paho test_flow_control2)", async () => {
    const b = await broker({ limits: { receiveMaximum: 2 } })
    const { packets, errors, sawEnd } = await flowControlClient(b.port)
    const disconnect = packets.find((p) => p.cmd === "disconnect") as mqttPacket.IDisconnectPacket | undefined
    expect(disconnect?.reasonCode).toBe(0x93)
    expect(errors).toEqual([]) // no ECONNRESET, no EPIPE
    expect(sawEnd).toBe(true) // the broker half-closed (FIN) after its DISCONNECT
  })
})
