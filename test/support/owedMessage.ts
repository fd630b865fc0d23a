/** A message a session owed its client, as a remnant carries it (REMNANT frame and part tests). */
import type { MovedMessage } from "../../src/mqtt/engine/handOver.js"
import { Message } from "../../src/mqtt/engine/Message.js"

/** QoS 1, never sent, from no share group; `at`: where it sits in the sending node's log, or null. */
export const owedMessage = (topic: string, payload: Buffer, at: readonly [string, number] | null): MovedMessage => ({
  message: new Message(topic, payload, 1, false, null, 0, "", 0),
  qos: 1,
  retain: false,
  subscriptionIds: null,
  packetId: 0,
  stage: 0,
  group: null,
  at
})
