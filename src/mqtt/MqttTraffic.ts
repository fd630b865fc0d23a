/**
 * What the MQTT listeners received and sent, and how CONNECTs authenticated, as plain numbers
 * the connections bump and the metrics endpoint reads at scrape time: one array increment per
 * packet, one addition per socket read and per socket write.
 */

/** Packet type names by MQTT control packet type (the fixed header's high nibble). */
export const PACKET_TYPES: ReadonlyArray<string> = [
  "reserved", "connect", "connack", "publish", "puback", "pubrec", "pubrel", "pubcomp",
  "subscribe", "suback", "unsubscribe", "unsuback", "pingreq", "pingresp", "disconnect", "auth"
]

/** How a CONNECT proved who it is: the `mechanism` label. */
export type AuthMechanism = "password" | "jwt" | "certificate" | "anonymous"

export class MqttTraffic {
  /** Packets received, by control packet type (index = type). */
  readonly packetsReceived = new Float64Array(16)
  /** Packets queued for writing, by control packet type. */
  readonly packetsSent = new Float64Array(16)
  bytesReceived = 0
  bytesSent = 0
  /** CONNECTs accepted by `[auth]`, by mechanism. */
  readonly authSuccesses: Record<AuthMechanism, number> = { password: 0, jwt: 0, certificate: 0, anonymous: 0 }
  /** CONNECTs refused for bad credentials or not authorized, by mechanism. */
  readonly authFailures: Record<AuthMechanism, number> = { password: 0, jwt: 0, certificate: 0, anonymous: 0 }
}
