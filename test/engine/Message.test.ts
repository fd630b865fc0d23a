/** A message survives the trip through a log record (restart, session backlog, retained). */
import { describe, expect, it } from "@effect/vitest"
import { topicPartition } from "../../domain/ids.js"
import { decodeBatch, encodeBatch } from "../../domain/message/RecordBatch.js"
import { PublishProps } from "../../src/mqtt/codec/packets.js"
import { Message, messageFromRecord } from "../../src/mqtt/engine/Message.js"

const roundTrip = (m: Message): Message => {
  const records = decodeBatch(encodeBatch(7, [m]))
  if (typeof records === "string") throw new Error(records)
  return messageFromRecord(topicPartition("mqtt", 0), records[0]!)!
}

describe("Message as a log record", () => {
  it("keeps topic, payload, QoS, retain, origin, expiry and every MQTT 5 property", () => {
    const props = new PublishProps()
    props.contentType = "application/json"
    props.payloadFormatIndicator = 1
    props.responseTopic = "reply/here"
    props.correlationData = Buffer.from([0, 1, 2, 255])
    props.userProperties = [["a", "1"], ["a", "2"], ["b", ""]]
    const m = new Message("dev/1/temp", Buffer.from("{}"), 2, true, props, 1_900_000_000_000, "client-7", 1_800_000_000_000)
    const back = roundTrip(m)
    expect([back.topic, back.payload.toString(), back.qos, back.retain, back.origin, back.expiresAt, back.timestamp]).toEqual(
      ["dev/1/temp", "{}", 2, true, "client-7", 1_900_000_000_000, 1_800_000_000_000]
    )
    expect(back.offset).toBe(7)
    expect(back.properties).toEqual(props)
  })

  it("never mistakes a user property for a broker header, whatever its name", () => {
    const props = new PublishProps()
    props.userProperties = [["content-type", "not the content type"], ["mqtt.qos", "2"], ["mqtt.user.x", "y"], ["plain", "v"]]
    const back = roundTrip(new Message("t", Buffer.alloc(0), 1, false, props, 0, "", 1))
    expect(back.qos).toBe(1)
    expect(back.properties?.contentType).toBeUndefined()
    expect(back.properties?.userProperties).toEqual(props.userProperties)
  })
})
