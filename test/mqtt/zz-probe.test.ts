import { it } from "vitest"
import { RawClient, connectFrame, varint } from "../support/RawClient.js"
import { startBroker } from "../support/TestBroker.js"

const frame = (level: number, flags: number, payload: Buffer, props = Buffer.from([0])) => {
  const name = Buffer.from([0, 4, 0x4d, 0x51, 0x54, 0x54])
  const body = Buffer.concat([name, Buffer.from([level, flags, 0, 0]), level === 5 ? props : Buffer.alloc(0), payload])
  return Buffer.concat([Buffer.from([0x10, ...varint(body.length)]), body])
}
const s = (x: string) => Buffer.concat([Buffer.from([0, x.length]), Buffer.from(x)])
it("probe", async () => {
  const b = await startBroker({ limits: { maxSessionExpiry: 10 } })
  const cases: Array<[string, number, Buffer]> = [
    ["v4 will flag 0, will retain 1", 4, frame(4, 0x22, s("a"))],
    ["v4 will flag 0, will qos 1", 4, frame(4, 0x0a, s("a"))],
    ["v4 will qos 3", 4, frame(4, 0x1e, Buffer.concat([s("a"), s("t"), s("p")]))],
    ["v4 password without username", 4, frame(4, 0x42, Buffer.concat([s("a"), s("pw")]))],
    ["v4 reserved flag", 4, frame(4, 0x03, s("a"))],
    ["v5 max packet size 0", 5, frame(5, 0x02, s("a"), Buffer.from([5, 0x27, 0, 0, 0, 0]))],
    ["v5 receive max 0", 5, frame(5, 0x02, s("a"), Buffer.from([3, 0x21, 0, 0]))],
    ["v5 expiry 3600 > max 10", 5, frame(5, 0x02, s("a"), Buffer.from([5, 0x11, 0, 0, 0x0e, 0x10]))],
    ["v5 request response info", 5, frame(5, 0x02, s("a"), Buffer.from([2, 0x19, 1]))],
    ["v5 protocol name MQIsdp level 5", 5, Buffer.concat([Buffer.from([0x10, 13, 0, 6]), Buffer.from("MQIsdp"), Buffer.from([5, 2, 0, 0, 0]), s("a").subarray(0,2)])],
  ]
  for (const [name, v, f] of cases) {
    const r = await RawClient.connect(b.port, v as 4 | 5)
    r.send(f)
    await r.expectClosed(500).catch(() => {})
    console.log("PROBE", name, "closed:", r.isClosed, "bytes:", r.bytes.toString("hex"), JSON.stringify(r.received.map((p) => ({ ...p }))))
    r.socket.destroy()
  }
  // v3 persistent reconnect
  for (let i = 0; i < 2; i++) {
    const r = await RawClient.connect(b.port, 3)
    r.send(connectFrame({ level: 3, flags: 0, clientId: "v3p" }))
    await r.nextPacket()
    console.log("PROBE v3 persistent", i, r.bytes.toString("hex"))
    await r.disconnect()
  }
  for (let i = 0; i < 2; i++) {
    const r = await RawClient.connect(b.port, 4)
    r.send(connectFrame({ level: 4, flags: 0, clientId: "v4p" }))
    await r.nextPacket()
    console.log("PROBE v4 persistent", i, r.bytes.toString("hex"))
    await r.disconnect()
  }
  await b.stop(); b.cleanup()
})
