#!/usr/bin/env node
// A subscriber that stops reading: connects (persistent session), subscribes to a filter at a
// QoS, then pauses its socket for good, as a hung device or a full network path would. For the
// overload benchmark (scripts/overload-bench.sh). Usage: stalled-subscriber.mjs PORT [FILTER] [QOS]
import * as net from "node:net"
import mqttPacket from "mqtt-packet"

const [port, filter = "b/#", qos = "1"] = process.argv.slice(2)
if (port === undefined) {
  console.error("usage: stalled-subscriber.mjs PORT [FILTER] [QOS]")
  process.exit(1)
}
const socket = net.connect({ host: "127.0.0.1", port: Number(port) })
const gen = (p) => mqttPacket.generate(p, { protocolVersion: 4 })
socket.on("connect", () => {
  socket.write(gen({ cmd: "connect", protocolId: "MQTT", protocolVersion: 4, clientId: `stalled-${process.pid}`, clean: false, keepalive: 0 }))
  socket.write(gen({ cmd: "subscribe", messageId: 1, subscriptions: [{ topic: filter, qos: Number(qos) }] }))
  setTimeout(() => {
    socket.pause()
    console.error(`stalled subscriber on ${filter} (QoS ${qos}): no longer reading`)
  }, 200)
})
socket.on("error", (e) => console.error(`stalled subscriber: ${e.message}`))
socket.on("close", () => {
  console.error("stalled subscriber: disconnected by the broker")
  process.exit(0)
})
